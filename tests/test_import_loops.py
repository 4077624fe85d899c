"""No import loop in any package of the repository, lazy imports included.

``client_sdk`` and ``hearth_chat`` have their own shape tests; this pins the rule
for every package at once, so a package added later, or the relay and the
protocol core, cannot grow a loop either. Every import counts wherever it stands:
module level, inside a function, under ``if TYPE_CHECKING:`` (a lazy import only
hides a loop; the next move of code closes it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture import import_cycles, import_graph

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "server", "client_sdk", "hearth_chat", "hearth_cli")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_loop(package: str) -> None:
    graph = import_graph(ROOT / package)
    assert len(graph) == len(list((ROOT / package).rglob("*.py"))), "the scan saw every module"
    assert import_cycles(graph) == []
