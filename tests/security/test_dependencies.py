"""The locked dependencies: PyNaCl at 1.6.2 or later, installed and pinned.

pyproject.toml requires PyNaCl 1.6.2 or later for the security fixes in the
libsodium it bundles; every signature and seal in Hearth goes through it. ``make audit`` runs
pip-audit over ``requirements.lock`` where PyPI's vulnerability data is reachable.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
PYPROJECT = LOCK.with_name("pyproject.toml")
MINIMUM = (1, 6, 2)


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_installed_pynacl_is_at_least_1_6_2() -> None:
    assert _release(version("pynacl")) >= MINIMUM


def test_lock_pins_pynacl_at_least_1_6_2() -> None:
    pins = dict(
        line.split("==", 1)
        for line in LOCK.read_text().splitlines()
        if line and not line.startswith("#")
    )
    pinned = {name.lower(): value for name, value in pins.items()}
    assert _release(pinned["pynacl"]) >= MINIMUM


def test_pyproject_requires_pynacl_at_least_1_6_2() -> None:
    assert re.search(r'"pynacl>=1\.6\.2"', PYPROJECT.read_text(), re.IGNORECASE)
