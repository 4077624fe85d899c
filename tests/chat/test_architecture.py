"""The chat app's shape, pinned by reading its source (AST), not by running it.

- No import loop among the modules of ``hearth_chat/``, counting every import
  wherever it stands: module level, inside a function, under ``TYPE_CHECKING``.
  The screens reach the app through ``_session.ChatSession``; only the package's
  ``__init__`` and the command line import the app.
- The app is built on the SDK alone: outside the standard library it imports
  Textual, ``client_sdk`` and, from ``protocol``, only the error root
  ``HearthError`` (which ``client_sdk`` does not re-export). Never ``server``,
  Litestar, the SDK's transports or a ``protocol`` module. Which names of
  ``client_sdk`` are public is ``test_imports.py``'s walk.
- No module of ``hearth_chat/`` touches another class's ``_private`` members.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.architecture import foreign_private_access, import_cycles, import_graph

CHAT = Path(__file__).resolve().parents[2] / "hearth_chat"

ALLOWED_OUTSIDE = {"client_sdk", "protocol", "textual"}
"""Every top-level package outside the standard library the app imports, exactly."""
PROTOCOL_NAMES = {"HearthError"}
"""Every name the app takes from ``protocol`` itself rather than from ``client_sdk``."""


def _modules() -> list[Path]:
    return sorted(CHAT.rglob("*.py"))


def outside_imports(source: str) -> list[tuple[str, list[str]]]:
    """(module, names) of each import of something outside the app and the stdlib."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.module or "", [alias.name for alias in node.names]))
    return [
        (module, names)
        for module, names in found
        if (top := module.partition(".")[0]) != "hearth_chat" and top not in sys.stdlib_module_names
    ]


def test_the_outside_scan_sees_every_kind_of_import() -> None:
    source = (
        "import os\nimport litestar\nfrom hearth_chat.texts import short_id\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from server.app import create_app\n"
        "def f():\n    from protocol.errors import LinkError\n    import httpx\n"
    )
    assert outside_imports(source) == [
        ("litestar", []),
        ("server.app", ["create_app"]),
        ("protocol.errors", ["LinkError"]),
        ("httpx", []),
    ]


def test_no_import_loop_in_the_app() -> None:
    graph = import_graph(CHAT)
    assert "hearth_chat.rooms" in graph, "the scan found the app's modules"
    assert import_cycles(graph) == []


def test_only_the_entry_points_import_the_app() -> None:
    graph = import_graph(CHAT)
    importers = {module for module, edges in graph.items() if "hearth_chat.app" in edges}
    assert importers == {"hearth_chat", "hearth_chat.cli"}
    for screen in ("crisis", "dialogs", "onboarding", "rooms"):
        assert "hearth_chat._session" in graph[f"hearth_chat.{screen}"], screen


def test_the_app_imports_the_sdk_and_textual_only() -> None:
    tops: set[str] = set()
    problems: list[str] = []
    for path in _modules():
        for module, names in outside_imports(path.read_text("utf-8")):
            tops.add(module.partition(".")[0])
            if module.startswith("protocol") and (
                module != "protocol" or not set(names) <= PROTOCOL_NAMES
            ):
                problems.append(f"{path.name}: from {module} import {names}")
    assert problems == []
    assert tops == ALLOWED_OUTSIDE


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CHAT)))
def test_no_private_members_across_modules(path: Path) -> None:
    found = list(foreign_private_access(path.read_text("utf-8")))
    assert not found, f"{path.name}: another module's private members {found}"
