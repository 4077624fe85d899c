"""The chat app is built only on the SDK's public API: a walk over its imports.

Allowed: the standard library, Textual (and Rich, which Textual renders with),
the app's own modules, the names ``client_sdk`` exports in ``__all__``, and names
``protocol`` re-exports at its top level (and either's ``__version__``, which by
convention is public without being in ``__all__``). Refused: any ``client_sdk`` private or
non-public module, any ``protocol`` submodule, anything from ``server``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import client_sdk
import protocol

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hearth_chat", "hearth_cli")
THIRD_PARTY = {"textual", "rich"}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every import statement in a file."""
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            found.append((node.module or "", [a.name for a in node.names], node.lineno))
    return found


def _problem(package: str, module: str, names: list[str]) -> str | None:
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top in THIRD_PARTY or top == package:
        return None
    if package == "hearth_cli" and module in {"hearth_chat.cli", "server.cli"}:
        return None  # the dispatcher routes to exactly these two entry points
    if module == "hearth_chat" or module.startswith("hearth_chat."):
        return None if package == "hearth_chat" else "hearth_chat"
    if module == "client_sdk":
        private = [n for n in names if n not in {*client_sdk.__all__, "__version__"}]
        return f"non-public client_sdk names {private}" if private or not names else None
    if module == "protocol":
        private = [n for n in names if n not in {*protocol.__all__, "__version__"}]
        return f"names protocol does not export {private}" if private or not names else None
    return f"module {module}"


def test_the_app_imports_only_public_sdk_names() -> None:
    problems = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for module, names, line in _imports(path):
                problem = _problem(package, module, names)
                if problem is not None:
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {problem}")
    assert problems == []


def test_the_walk_catches_what_it_must() -> None:
    assert _problem("hearth_chat", "client_sdk._store", ["Store"]) is not None
    assert _problem("hearth_chat", "client_sdk", ["HearthClient", "_Host"]) is not None
    assert _problem("hearth_chat", "client_sdk.room", ["Room"]) is not None
    assert _problem("hearth_chat", "protocol.messages", ["ScheduleBody"]) is not None
    assert _problem("hearth_chat", "protocol", ["ScheduleBody"]) is not None
    assert _problem("hearth_chat", "server.app", ["create_app"]) is not None
    assert _problem("hearth_chat", "server.cli", ["main"]) is not None
    assert _problem("hearth_chat", "httpx", []) is not None
    assert _problem("hearth_chat", "client_sdk", ["HearthClient", "Room"]) is None
    assert _problem("hearth_chat", "protocol", ["HearthError"]) is None


def test_server_and_sdk_never_import_the_app() -> None:
    for package in ("server", "client_sdk", "protocol"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for module, _, line in _imports(path):
                top = module.split(".")[0]
                assert top not in PACKAGES, f"{path.relative_to(ROOT)}:{line} imports {module}"
