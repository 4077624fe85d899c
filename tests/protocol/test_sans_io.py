"""protocol/ must stay sans-I/O: importing it pulls in no networking, storage or loop."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import protocol

FORBIDDEN = {
    "asyncio",
    "socket",
    "ssl",
    "selectors",
    "sqlite3",
    "aiosqlite",
    "httpx",
    "websockets",
    "litestar",
    "uvicorn",
    "server",
    "client_sdk",
}

PACKAGE = pathlib.Path(protocol.__file__).parent


def test_no_module_imports_io() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [(path.name, n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_protocol_loads_no_io_module() -> None:
    # A fresh interpreter, so modules pytest itself loaded do not count.
    code = (
        "import sys, protocol;"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r});"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
