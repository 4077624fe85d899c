"""The relay's shape, pinned by reading its source (AST), not by running it.

- Websocket close codes come only from the error table (``server/errors.py``).
- Nothing outside ``server/relay.py`` reaches through a :class:`~server.relay.Relay`
  to one of its collaborators (``relay.storage.x()``): Relay offers the operation, or
  the collaborator is injected where it is needed.
- No module of ``server/`` touches another class's ``_private`` members: ``x._name``
  only where ``x`` is ``self`` or ``cls``, or where the module defines ``_name``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.errors import closing_code
from tests.architecture import foreign_private_access

SERVER = Path(__file__).resolve().parents[2] / "server"
ERROR_TABLE = SERVER / "errors.py"

_STANDARD_CLOSES = range(1000, 1016)
"""RFC 6455 close codes; as plain numbers they are often something else (ms, caps)."""
_CLOSE_WORDS = ("close", "closing", "fail", "disconnect")


def _modules() -> list[Path]:
    return sorted(SERVER.rglob("*.py"))


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_close_context(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether a number 1000-1015 stands where a close code would."""
    parent = parents.get(node)
    if isinstance(parent, ast.keyword):
        if parent.arg in ("code", "close"):
            return True
        parent = parents.get(parent)
    if isinstance(parent, ast.Call):
        name = _callee(parent).lower()
        if any(word in name for word in _CLOSE_WORDS):
            return True
        # ``message.get("code", 1000)``: a default for an ASGI close code
        if any(isinstance(a, ast.Constant) and a.value == "code" for a in parent.args):
            return True
    if isinstance(parent, ast.Tuple):
        # ``(1011, "internal")``: a close code with its reason
        return any(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in parent.elts)
    if isinstance(parent, ast.Assign | ast.AnnAssign):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        return any(isinstance(t, ast.Name) and "CLOSE" in t.id.upper() for t in targets)
    return False


def literal_close_codes(source: str) -> Iterator[tuple[int, int]]:
    """(line, value) of every literal websocket close code in ``source``."""
    tree = ast.parse(source)
    parents = _parents(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or type(node.value) is not int:
            continue
        value = node.value
        if 4000 <= value <= 4999 or (
            value in _STANDARD_CLOSES and _is_close_context(node, parents)
        ):
            yield node.lineno, value


def test_the_scan_sees_close_codes() -> None:
    source = (
        "raise _Closing('x', 'y', 4401)\n"
        "close = (1011, 'internal')\n"
        "code = message.get('code', 1000)\n"
        "FRAME_TIMEOUT_CLOSE = 1008\n"
        "socket.close(code=1000)\n"
        "limit = 1000\n"
        "ms = now + ttl * 1000\n"
    )
    assert sorted(line for line, _ in literal_close_codes(source)) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SERVER)))
def test_close_codes_only_from_the_error_table(path: Path) -> None:
    if path == ERROR_TABLE:
        return
    found = list(literal_close_codes(path.read_text()))
    assert not found, f"{path.name}: literal close codes {found}; use server.errors"


# -- Relay does not hand out its collaborators ------------------------------------

_RELAY_DATA = frozenset({"config"})
"""Attributes of Relay that are settings, not collaborators (read, never called through)."""


def reaches_through_relay(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each ``relay.<attribute>.<method>`` in ``source``.

    ``relay`` is any name or attribute called ``relay`` (``self.relay`` too).
    """
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Attribute):
            continue
        inner = node.value
        owner = inner.value
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if owner_name == "relay" and inner.attr not in _RELAY_DATA:
            yield node.lineno, f"relay.{inner.attr}.{node.attr}"


def test_the_relay_scan_sees_a_reach_through() -> None:
    source = "relay.storage.ping()\nself.relay.hub.subscribe(r, s)\nrelay.config.link_ttl\n"
    assert sorted(line for line, _ in reaches_through_relay(source)) == [1, 2]


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if p.name != "relay.py"],
    ids=lambda p: str(p.relative_to(SERVER)),
)
def test_nothing_reaches_through_the_relay(path: Path) -> None:
    found = list(reaches_through_relay(path.read_text()))
    assert not found, f"{path.name}: {found}; give Relay the method or inject the collaborator"


# -- no private members across modules ------------------------------------------


def test_the_private_scan_sees_a_foreign_member() -> None:
    source = (
        "class A:\n"
        "    def __init__(self): self._mine = 1\n"
        "    def f(self, other): return other._mine, other._theirs, self._x, cls.__dict__\n"
    )
    assert [text for _, text in foreign_private_access(source)] == ["other._theirs"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SERVER)))
def test_no_private_members_across_modules(path: Path) -> None:
    found = list(foreign_private_access(path.read_text()))
    assert not found, f"{path.name}: another module's private members {found}"


def test_closing_code_falls_back_to_the_named_code() -> None:
    assert closing_code("stream.behind", otherwise="stream.behind") == 4409
    assert closing_code("auth.forbidden", otherwise="auth.invalid") == 4401  # no close of its own
    assert closing_code("rate.limited", otherwise="auth.invalid") == 4429  # its own wins
    with pytest.raises(ValueError, match="closes no stream"):
        closing_code("auth.forbidden", otherwise="room.not_found")
