"""The TypeScript workspace's own tests, run by ``make test`` and so by CI: the SDK's
(``js/sdk/test``) and the web app's (``js/web/test``: its build, and its screens in
headless Chromium against the relay serving a fresh build; those skip inside vitest,
saying so, where Chromium is not installed).

They need Node.js 20 or later; without it this test is skipped and says so (``-ra``
prints the reason). Dependencies come from ``js/package-lock.json`` only: ``npm ci``
runs when ``js/node_modules`` is missing or older than the lockfile. vitest then
runs in ``js/sdk`` with this venv's ``hearth`` and ``python`` (the relay and the
Python side of the cross-language tests, ``tests/js/peer.py``), and a failure shows
vitest's own report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"
LOCK = JS / "package-lock.json"
STAMP = JS / "node_modules" / ".package-lock.json"
"""What ``npm ci`` writes last: its age is the age of ``js/node_modules``."""

NODE_MAJOR = 20


def _node_major(node: str) -> int | None:
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        return int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def _tail(text: str, limit: int = 12_000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _install(npm: str) -> None:
    """``npm ci`` if ``js/node_modules`` is missing or older than the lockfile."""
    if STAMP.exists() and STAMP.stat().st_mtime >= LOCK.stat().st_mtime:
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, "npm ci in js/ failed:\n" + _tail(done.stdout + done.stderr)
    STAMP.touch()


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("package", ["sdk", "web"])
def test_the_typescript_package_passes_its_tests(package: str) -> None:
    node = shutil.which("node")
    major = _node_major(node) if node else None
    if node is None or major is None:
        pytest.skip("TypeScript SDK tests skipped: Node.js 20+ is not installed (no `node`)")
    if major < NODE_MAJOR:
        pytest.skip(f"TypeScript SDK tests skipped: Node.js {major} found, 20+ needed")
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("TypeScript SDK tests skipped: Node.js is installed without npm")
    _install(npm)
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "HEARTH_PYTHON": sys.executable,
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    }
    if (venv_bin / "hearth").exists():
        env["HEARTH_BIN"] = str(venv_bin / "hearth")
    vitest = JS / "node_modules" / ".bin" / "vitest"
    done = subprocess.run(
        [str(vitest), "run"],
        cwd=JS / package,
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    assert done.returncode == 0, f"vitest failed in js/{package}:\n" + _tail(
        done.stdout + done.stderr
    )
