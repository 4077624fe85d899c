"""The relay's signature checks off the event loop: each envelope gets its own verdict."""

from __future__ import annotations

import asyncio
import threading

import pytest

import server.signatures
from protocol.envelope import verify_signature
from protocol.messages import Envelope
from server.signatures import SignatureChecker
from tests.server.helpers import Clock, new_room


def _forged(envelope: Envelope) -> Envelope:
    return type(envelope)(header=envelope.header, ciphertext=envelope.ciphertext, sig=bytes(64))


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that verified, in order."""
    seen: list[str] = []

    def recording(envelope: Envelope) -> bytes:
        seen.append(threading.current_thread().name)
        return verify_signature(envelope)

    monkeypatch.setattr(server.signatures, "verify_signature", recording)
    return seen


async def test_a_turns_envelopes_are_verified_together_off_the_loop(threads: list[str]) -> None:
    room = new_room(Clock())
    good = [room.send("owner", f"m{i}") for i in range(5)]
    envelopes = [*good[:2], _forged(good[2]), *good[3:]]
    checker = SignatureChecker()
    verdicts = await asyncio.gather(*(checker.check(e) for e in envelopes))
    assert [v.code if v else None for v in verdicts] == [
        None,
        None,
        "msg.bad_signature",
        None,
        None,
    ]
    assert len(threads) == 5
    assert all(name.startswith("hearth-verify") for name in threads), threads


async def test_a_lone_envelope_is_verified_on_the_loop(threads: list[str]) -> None:
    room = new_room(Clock())
    checker = SignatureChecker()
    assert await checker.check(room.send("owner", "alone")) is None
    verdict = await checker.check(_forged(room.send("owner", "forged")))
    assert verdict is not None
    assert verdict.code == "msg.bad_signature"
    assert threads == [threading.current_thread().name] * 2


async def test_a_sender_that_went_away_does_not_disturb_the_batch(threads: list[str]) -> None:
    room = new_room(Clock())
    checker = SignatureChecker()
    gone = asyncio.ensure_future(checker.check(room.send("owner", "gone")))
    stays = asyncio.ensure_future(checker.check(room.send("owner", "stays")))
    await asyncio.sleep(0)
    gone.cancel()
    async with asyncio.timeout(10):
        assert await stays is None
    assert gone.cancelled()
