"""The relay fixtures of ``tests/server`` (real app, real SQLite file), shared here."""

from tests.server.conftest import clock, config, live, make_relay, relay

__all__ = ["clock", "config", "live", "make_relay", "relay"]
