"""A stolen local store names none of the person's rooms, keys, logs or words.

The thief copies Alice's store files (the SQLite file, its write-ahead log and
shared memory, both while the app runs and after it closed) after a realistic
session against a real relay: two groups and a buddy chat, members added and
one removed (several epochs), messages, a reply, an edit, a reaction, a rules
acceptance, and a message still waiting in the outbox because the relay went
down. Without the recovery phrase or the keystore's passphrase, the thief reads
every value of every table with ``sqlite3`` and scans every byte of every file,
for every room id, every member id (as text and as key bytes) of everyone in
those rooms, every message id, every epoch secret Alice held, every log
operation (its canonical bytes and its signature), every message's text and
the outbox envelope: nothing is there. With the passphrase the store opens and
shows the rooms and messages.

A store of the previous format (room ids, ids and log operations in clear) is
refused with ``store.version`` naming format 1, never read as the new format.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client_sdk import HearthClient, Identity, StoreError
from client_sdk._store import Store
from protocol.encoding import canonical
from tests.client_sdk.conftest import RelayProcess

WORDS = (
    "my sponsor Marguerite picked up at 3am",
    "the clinic on Rue Oberkampf",
    "forty-one days without a drink",
    "I told my manager Dieter about the panic attacks",
    "Buddy chat about the Tuesday relapse",
    "Recovery circle rules: no names outside",
    "edited: sixty days now",
    "queued while the relay was down: Hollowbrook",
)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data)
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _forms(value: str | bytes) -> list[bytes]:
    """The ways a thief would look for a value: its bytes, UTF-16, hex, base64 forms."""
    if isinstance(value, str):
        forms = [value.encode(), value.encode("utf-16-le"), value.encode("utf-16-be")]
        try:
            raw = _b64(value)
        except ValueError:
            raw = b""
        if len(raw) >= 12:
            forms.append(raw)  # an id is base64url of its bytes
        return forms
    return [value, value.hex().encode(), base64.b64encode(value), base64.urlsafe_b64encode(value)]


def _copy(store: Path, into: Path) -> list[Path]:
    into.mkdir()
    copies = []
    for f in store.parent.glob(store.name + "*"):
        copies.append(Path(shutil.copy(f, into / f.name)))
    return copies


def _loot(files: list[Path]) -> bytes:
    """Every byte of every file, and every value sqlite3 reads from every table."""
    raw = b"".join(f.read_bytes() for f in files)
    main = next(f for f in files if f.suffix == ".db")
    values = []
    with sqlite3.connect(main) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"rooms", "ops", "secrets", "messages", "outbox", "meta"} <= set(tables)
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                for v in row:
                    values.append(v if isinstance(v, bytes) else str(v).encode())
    return raw + b"\x00".join(values)


async def test_a_stolen_store_names_no_room_key_log_or_word(
    relay: RelayProcess, tmp_path: Path
) -> None:
    alice_id, passphrase = Identity.generate(), "correct horse battery staple"
    alice_id.save(tmp_path / "alice.key", passphrase, strength="interactive")
    store = tmp_path / "alice" / "alice.db"
    store.parent.mkdir()
    secrets: list[bytes] = []
    ids: list[str] = []
    ops: list[bytes] = []
    async with (
        HearthClient(relay.url, alice_id, store_path=store, live=False) as alice,
        HearthClient(
            relay.url, Identity.generate(), store_path=tmp_path / "b.db", live=False
        ) as bob,
        HearthClient(
            relay.url, Identity.generate(), store_path=tmp_path / "c.db", live=False
        ) as carol,
    ):
        recovery = await alice.create_group("Recovery circle", rules=WORDS[5])
        anxiety = await alice.create_group("Anxiety circle")
        buddy = await bob.create_buddy_chat(WORDS[4])
        b_rec = await bob.join(await recovery.create_invite())
        c_rec = await carol.join(await recovery.create_invite())
        await carol.join(await anxiety.create_invite())
        a_buddy = await alice.join(await buddy.create_invite())
        await alice.sync()
        await b_rec.accept_rules()
        first = await recovery.send(WORDS[0])
        await bob.sync()
        await b_rec.send(WORDS[1], reply_to=first)
        await anxiety.send(WORDS[3])
        await a_buddy.send(WORDS[2])
        await recovery.remove(c_rec.me)
        late = await recovery.send("forty days")
        await recovery.edit(late, WORDS[6])
        await bob.sync()
        await b_rec.react(late, "\U0001faf6")
        await alice.sync()
        for room in (recovery, anxiety, a_buddy):
            state = room._state
            secrets += state.secrets.values()
            ids += [room.id, *state.log.members, c_rec.me]
            ops += [canonical(op) for op in state.log.ops] + [op.sig for op in state.log.ops]
            ids += [m.id for m in await room.messages(limit=100)]
        # The relay goes down; one message waits in the outbox, sealed.
        await asyncio.to_thread(relay.stop)
        queued = await anxiety.send(WORDS[7])
        assert await alice.flush() == 1
        ids.append(queued)
        envelope = (await alice._store.outbox())[0].envelope  # type: ignore[union-attr]
        assert envelope
        while_open = _copy(store, tmp_path / "stolen-open")
    after_close = _copy(store, tmp_path / "stolen-closed")

    assert len(set(ids)) > 12
    assert len(secrets) >= 6
    for files in (while_open, after_close):
        loot = _loot(files)
        assert len(loot) > 20_000
        found = [v for v in ids if any(f in loot for f in _forms(v))]
        found += [w for w in WORDS if any(f in loot for f in _forms(w))]
        found += [s.hex() for s in secrets if any(f in loot for f in _forms(s))]
        found += [o[:16].hex() for o in ops if o in loot]
        found += ["outbox envelope"] if envelope in loot else []
        assert found == [], found

    # The person, with the passphrase, gets everything back.
    await asyncio.to_thread(relay.start)
    again = Identity.load(tmp_path / "alice.key", passphrase)
    async with HearthClient(relay.url, again, store_path=store, live=False) as alice:
        assert {r.id for r in alice.rooms} == {recovery.id, anxiety.id, a_buddy.id}
        texts = [m.text for m in await alice.room(recovery.id).messages(limit=100)]
        assert WORDS[0] in texts
        assert WORDS[6] in texts
        assert await alice.flush() == 0  # the queued message went out


async def test_a_store_of_the_old_format_is_refused_naming_its_version(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # what format 1 wrote: room ids and ops in clear
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
            CREATE TABLE rooms (
                room TEXT PRIMARY KEY, created INTEGER NOT NULL, snapshot BLOB NOT NULL);
            INSERT INTO meta VALUES ('check', x'00'), ('device', x'00112233');
            INSERT INTO rooms VALUES ('DGKwp4ptnQlyM8vyTe6teg', 0, x'00');
            """
        )
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        await Store.open(path, Identity.generate().store_key())
    assert info.value.code == "store.version"
    assert "format 1" in info.value.message
    assert path.read_bytes() == before  # nothing written to it
