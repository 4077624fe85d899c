"""Rules on a package's shape, read from its source (AST), shared by the packages' tests.

- :func:`foreign_private_access`: ``x._name`` where ``x`` is not ``self``/``cls``
  and the module does not define ``_name`` (another class's private member).
- :func:`import_graph` and :func:`import_cycles`: which modules of a package import
  which, counting every import statement wherever it stands (module level, inside a
  function, under ``if TYPE_CHECKING:``), and the loops in that graph.
- :func:`clock_reads`: where a module reads the time itself (``time.time``,
  ``time.time_ns``, ``time.monotonic``, ``datetime.now``) instead of through a
  ``protocol.clock.Clock``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def _defined_names(tree: ast.AST) -> set[str]:
    """Every ``_name`` a module defines: functions, classes, attributes it assigns."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def foreign_private_access(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each ``x._name`` where ``x`` is not ``self``/``cls`` and this
    module does not define ``_name`` (dunders and a module's own privates are fine)."""
    tree = ast.parse(source)
    own = _defined_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        if name in own:
            continue
        yield node.lineno, f"{ast.unparse(node.value)}.{name}"


def module_name(package: Path, path: Path) -> str:
    """``client_sdk/_host.py`` -> ``client_sdk._host``; a package's ``__init__`` -> its name."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The dotted names an import statement may load (modules, or names in one)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        anchor = here[: len(here) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(package: Path) -> dict[str, set[str]]:
    """For each module of ``package``, the modules of the same package it imports.

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
    ``pkg`` itself (its ``__init__`` runs). Every import statement counts, wherever it
    stands: a function-level or ``TYPE_CHECKING`` import is a loop waiting to close.
    """
    paths = {module_name(package, p): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        edges: set[str] = set()
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = list(_imported(module, is_package, node))
            submodules = (
                [n for n in names[1:] if n in paths] if isinstance(node, ast.ImportFrom) else []
            )
            if submodules:
                edges.update(submodules)
                if len(submodules) == len(names) - 1:
                    continue  # only submodules named: the package's __init__ has run already
            target = names[0]
            while target and target not in paths:  # ``import pkg.a.b`` -> the nearest module
                target = target.rpartition(".")[0]
            if target:
                edges.add(target)
        edges.discard(module)
        graph[module] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules, each sorted (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


_CLOCK_READS = {
    "time": {"time", "time_ns", "monotonic", "monotonic_ns"},
    "datetime": {"now", "utcnow", "today"},
}
"""Module or class -> the functions of it that read the machine's clock."""


def clock_reads(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each direct read of the machine's clock.

    A call or a mere reference (``clock=time.monotonic``) both count, through the
    module (``time.time()``, ``datetime.datetime.now``), the class
    (``datetime.now(UTC)``) or a name imported from them (``from time import
    monotonic``), whatever the import's alias.
    """
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> "time", "datetime" or "time.monotonic" ...
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in _CLOCK_READS:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in _CLOCK_READS and not node.level:
            for alias in node.names:
                if alias.name == "datetime" and node.module == "datetime":
                    aliases[alias.asname or alias.name] = "datetime"
                elif alias.name in _CLOCK_READS[node.module]:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and "." in aliases.get(node.id, ""):
            yield node.lineno, aliases[node.id]
        elif isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Attribute) and owner.attr == "datetime":
                base = "datetime"  # datetime.datetime.now
            elif isinstance(owner, ast.Name):
                base = aliases.get(owner.id, "")
            else:
                continue
            if node.attr in _CLOCK_READS.get(base, set()):
                yield node.lineno, f"{base}.{node.attr}"
