"""The full crash-durability run: 20 rounds of 1,000 messages, the relay killed in each.

Same test as ``tests/security/test_crash_durability.py`` (which runs 3 rounds in
every ``make test``); about three and a half minutes on the 2-core CI machine.
"""

from __future__ import annotations

import pytest

from tests.client_sdk.conftest import RelayProcess
from tests.security.test_crash_durability import crash_relay, crash_relay_rounds

__all__ = ["crash_relay"]


@pytest.mark.stress
async def test_relay_killed_20_times_under_load(crash_relay: RelayProcess) -> None:
    await crash_relay_rounds(crash_relay, 20, seed=20)
