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


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quick_start_runs_twice_against_a_real_relay(relay: RelayProcess, tmp_path: Path) -> None:
    """The quick start, run as a reader would: and then again, in the same folder.

    The second run finds the first one's keystore and stores (same relay): it must
    load them and carry on, not fail on a store that belongs to another identity.
    """
    script = tmp_path / "quick_start.py"
    script.write_text(python_blocks()[0])
    outputs = [_run([str(script)], tmp_path, {"HEARTH_RELAY": relay.url}) for _ in range(2)]
    for out in outputs:
        assert "Bob read: Welcome, Bob!" in out
        assert "Thanks. Rough week. exam stress" in out
        assert "same safety number: True" in out
    assert "Alice's recovery phrase:" in outputs[0]
    assert "Alice's recovery phrase:" not in outputs[1]  # shown once, when it was made
    assert (tmp_path / "alice.key").exists()
    assert (tmp_path / "alice.db").exists()


def test_two_people_example_runs_twice_through_a_local_relay(
    relay: RelayProcess, tmp_path: Path
) -> None:
    """examples/two_people.py, twice with the same --dir and relay: the second run reuses both."""
    args = [str(ROOT / "examples" / "two_people.py"), "--relay", relay.url]
    args += ["--dir", str(tmp_path / "stores")]
    for _ in range(2):
        out = _run(args, tmp_path, {})
        assert "ana read ben: Yes please. Thank you for being here." in out
        assert "Room name as Ben sees it: Ana & Ben" in out
        assert "Both see the same safety number: True" in out
        assert "#<secret>" in out  # the example never prints the invite's secret


def test_the_module_table_lists_every_module_with_its_size() -> None:
    """docs/sdk.md's module table names every module of client_sdk and its size in lines.

    A size passes within 15 % or 20 lines of the file's, whichever is wider: small
    edits do not break the test, a module that grew or shrank by a real step does,
    and so does a module that was added, removed or renamed without the table.
    """
    section = DOC.read_text().split("## How it is built", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w/]+\.py)` \| (\d+) \|", section, flags=re.MULTILINE)
    listed = {name: int(lines) for name, lines in rows}
    assert len(listed) == len(rows), "a module is listed twice"
    package = ROOT / "client_sdk"
    # A subpackage's modules are listed by their path in the package (``_core/state.py``).
    actual = {
        path.relative_to(package).as_posix(): len(path.read_text("utf-8").splitlines())
        for path in package.rglob("*.py")
    }
    assert sorted(listed) == sorted(actual)
    wrong = {
        name: (listed[name], lines)
        for name, lines in actual.items()
        if abs(listed[name] - lines) > max(20, lines * 0.15)
    }
    assert wrong == {}, "table size vs. file size"
