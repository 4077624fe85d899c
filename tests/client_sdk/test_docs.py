"""docs/sdk.md and examples/ run: the quick start and the example script, against a real relay."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.client_sdk.conftest import RelayProcess

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sdk.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_every_python_block_in_the_guide_compiles() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        # Snippets use top-level await, as in an async app or an asyncio REPL.
        compile(block, str(DOC), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_quick_start_runs_against_a_real_relay(relay: RelayProcess, tmp_path: Path) -> None:
    quick_start = python_blocks()[0]
    script = tmp_path / "quick_start.py"
    script.write_text(quick_start)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "HEARTH_RELAY": relay.url, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Bob read: Welcome, Bob!" in out
    assert "Thanks. Rough week. exam stress" in out
    assert "same safety number: True" in out
    assert (tmp_path / "alice.key").exists()
    assert (tmp_path / "alice.db").exists()


def test_two_people_example_talks_through_a_local_relay(
    relay: RelayProcess, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "two_people.py"),
            "--relay",
            relay.url,
            "--dir",
            str(tmp_path / "stores"),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "ana read ben: Yes please. Thank you for being here." in out
    assert "Room name as Ben sees it: Ana & Ben" in out
    assert "Both see the same safety number: True" in out
    assert "#<secret>" in out  # the example never prints the invite's secret
