"""The SDK's shape, pinned by reading its source (AST), not by running it.

- No import loop among the modules of ``client_sdk/``, counting every import
  wherever it stands: module level, inside a function, under ``TYPE_CHECKING``.
  A lazy import only hides a loop; the next move of code closes it.
- No module of ``client_sdk/`` touches another class's ``_private`` members:
  ``x._name`` only where ``x`` is ``self`` or ``cls``, or where the module defines
  ``_name``. :class:`~client_sdk.room.Room` and ``_programs`` reach the client
  through ``_host.RoomHost``; the drivers through their own ``...Host`` protocols.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.architecture import (
    foreign_private_access,
    import_cycles,
    import_graph,
    module_name,
)

SDK = Path(__file__).resolve().parents[2] / "client_sdk"


def _modules() -> list[Path]:
    return sorted(SDK.rglob("*.py"))


def test_the_import_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import A\n")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.b import B\nclass A: ...\n"
    )
    (package / "b.py").write_text("def f():\n    from . import c\n    return c\n")
    (package / "c.py").write_text("import pkg.a\nfrom pkg import A\n")
    (package / "d.py").write_text("from pkg import a, b\n")
    graph = import_graph(package)
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg", "pkg.a"},
        "pkg.d": {"pkg.a", "pkg.b"},
    }
    assert import_cycles(graph) == [["pkg", "pkg.a", "pkg.b", "pkg.c"]]


def test_no_import_loop_in_the_sdk() -> None:
    graph = import_graph(SDK)
    assert "client_sdk.room" in graph, "the scan found the SDK's modules"
    assert import_cycles(graph) == []


def test_room_and_programs_do_not_import_the_client() -> None:
    graph = import_graph(SDK)
    for module in ("client_sdk.room", "client_sdk._programs", "client_sdk._host"):
        assert "client_sdk.client" not in graph[module], module
    assert "client_sdk._host" in graph["client_sdk.room"]
    assert "client_sdk._host" in graph["client_sdk._programs"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SDK)))
def test_no_private_members_across_modules(path: Path) -> None:
    found = list(foreign_private_access(path.read_text("utf-8")))
    assert not found, f"{path.name}: another module's private members {found}"


_IO = ("asyncio", "socket", "ssl", "selectors", "sqlite3", "aiosqlite", "httpx", "websockets")


def _foreign_imports(path: Path) -> set[str]:
    """The top-level names of the absolute imports of one module (outside the package too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_pure_room_core_reaches_no_io() -> None:
    """``client_sdk._core`` and every SDK module it imports, however indirectly, import
    no event loop, socket, sqlite, httpx or websockets (``protocol`` has its own test)."""
    graph = import_graph(SDK)
    core = {m for m in graph if m.startswith("client_sdk._core")}
    assert "client_sdk._core.state" in core, "the scan found the core's modules"
    reached, todo = set(core), list(core)
    while todo:
        for target in graph[todo.pop()] - reached:
            reached.add(target)
            todo.append(target)
    assert "client_sdk.client" not in reached
    paths = {module_name(SDK, path): path for path in _modules()}
    offenders = {module: sorted(_foreign_imports(paths[module]) & set(_IO)) for module in reached}
    assert {m: found for m, found in offenders.items() if found} == {}
