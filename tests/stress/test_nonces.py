"""One million encryptions through ``seal_message``: no nonce repeats.

XChaCha20-Poly1305 under one epoch key fails completely if a nonce repeats, and
every message of an epoch shares that key. The nonce is 24 random bytes per message;
this checks that the path a client really uses draws a fresh one each time (no
cached RNG state, no counter reset), over a volume no single room reaches.

About 60 s on one core of the 2-core CI machine, so it is marked ``stress`` and
run by ``.ci/run`` in its own step rather than by every ``make test``.
"""

from __future__ import annotations

import time

import pytest

from protocol import seal_message
from protocol.messages import Plaintext, TextBody
from tests.protocol.builders import Room

ENCRYPTIONS = 1_000_000


@pytest.mark.stress
def test_a_million_encryptions_never_repeat_a_nonce() -> None:
    room = Room()
    keys = room.keys("owner")
    secret = room.secrets[room.log.epoch]
    plaintext = Plaintext(device=bytes(16), counter=1, sent_at=1, body=TextBody(text="same"))
    seen: set[bytes] = set()
    started = time.perf_counter()
    for _ in range(ENCRYPTIONS):
        envelope = seal_message(
            keys,
            plaintext,
            epoch=room.log.epoch,
            epoch_secret=secret,
            head_index=room.log.index,
            head=room.log.head,
        )
        seen.add(envelope.header.nonce)
    elapsed = time.perf_counter() - started
    print(f"{ENCRYPTIONS} encryptions in {elapsed:.1f} s")
    assert len(seen) == ENCRYPTIONS
