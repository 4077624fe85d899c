"""What lengths leak: every stored ciphertext is a padding bucket plus the AEAD tag.

The relay may learn padded sizes and nothing finer (docs/security.md). This test runs
a session of messages of many plaintext sizes through the real relay, then reads the
SQLite file itself, not the relay's API, and checks every ciphertext it holds. The
nonce-uniqueness check over a million encryptions is in ``tests/stress``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter

from protocol import ManualClock, crypto
from protocol.encoding import from_msgpack
from protocol.messages import Envelope
from protocol.padding import BUCKETS
from server.config import Config
from tests.server.conftest import Relay
from tests.server.helpers import create, join, send

# Plaintext text lengths around every bucket edge, up to the largest bucket.
SIZES = sorted(
    {0, 1, 2, 100, 255, 300}
    | {edge + delta for edge in BUCKETS[:-1] for delta in (-120, -60, -1, 0, 1, 60)}
    | {BUCKETS[-1] - 200}
)


async def test_every_stored_ciphertext_length_is_a_bucket_plus_tag(
    relay: Relay, config: Config, clock: ManualClock
) -> None:
    room, owner = await create(relay, clock)
    peer = await join(relay, room, owner, "peer")
    for i, size in enumerate(SIZES):
        name, token = ("owner", owner) if i % 2 else ("peer", peer)
        await send(relay, room, name, token, "x" * size)
    with contextlib.closing(sqlite3.connect(config.database)) as db:
        rows = db.execute("SELECT data FROM events WHERE kind = 'msg'").fetchall()
    assert len(rows) == len(SIZES)
    lengths = Counter(len(from_msgpack(data, Envelope).ciphertext) for (data,) in rows)
    allowed = {b + crypto.AEAD_TAG_BYTES for b in BUCKETS}
    assert set(lengths) <= allowed, lengths
    # The session really spread over the buckets (not one size padded many times).
    assert len(lengths) == len(BUCKETS), lengths
