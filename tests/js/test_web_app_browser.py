"""The web app's browser tests (``js/web/test``), run by ``make test`` and so by CI.

Each drives headless Chromium against the real relay from this venv serving a fresh
build of the app at ``/`` (docs/front-ends.md, "The web app", lists what each
proves); without Chromium they skip and say so, and without Node.js 20+ this test is
skipped, saying so; ``js/`` is installed from its lockfile first. They take minutes,
hence their own test and time limit, apart from the build's reproducibility tests
(``tests/test_web_check.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import install_js, require_node

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "js" / "web"


@pytest.mark.timeout(1800)
def test_the_web_app_passes_its_browser_tests() -> None:
    require_node()
    install_js()
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
    done = subprocess.run(
        [str(ROOT / "js" / "node_modules" / ".bin" / "vitest"), "run"],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    assert done.returncode == 0, "vitest failed in js/web:\n" + (done.stdout + done.stderr)[-8000:]
