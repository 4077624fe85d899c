"""The relay fixtures of ``tests/server`` (real app, real SQLite file), shared here.

The security tests run on SQLite only: some read the database file itself, and
the properties they check live above the storage interface.
"""

from typing import Any

import pytest

from tests.server.conftest import clock, config, live, make_relay, relay

__all__ = ["backend", "clock", "config", "live", "make_relay", "relay"]


@pytest.fixture
def backend() -> dict[str, Any]:
    """SQLite: no settings beyond the defaults."""
    return {}
