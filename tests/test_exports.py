"""Each package's public surface is explicit, sorted and importable."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["protocol", "server", "client_sdk", "hearth_chat"])
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), s))
    for symbol in exported:
        assert hasattr(module, symbol), symbol
