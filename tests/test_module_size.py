"""Every module over about 600 lines says at its top why it must be one piece.

A long module is a smell the conventions (CONTRIBUTING.md) ask to justify where
it stands: the module docstring carries a sentence beginning "One piece past 600
lines because". The scan covers every package of the repository.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "server", "client_sdk", "hearth_chat", "hearth_cli")
LIMIT = 600
MARK = "One piece past 600 lines because"


def _long_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if len(path.read_text("utf-8").splitlines()) > LIMIT
    )


def test_the_scan_finds_the_long_modules() -> None:
    assert _long_modules(), "no module over the limit: the check below would check nothing"


@pytest.mark.parametrize("path", _long_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_long_module_says_why_it_is_one_piece(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
    lines = len(path.read_text("utf-8").splitlines())
    assert MARK in " ".join(docstring.split()), (
        f"{path.relative_to(ROOT)} has {lines} lines: split it, or say at its top "
        f"why it must be one piece ({MARK!r} ...)"
    )
