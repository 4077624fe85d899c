"""The storage contract, method by method, on every backend (``BACKENDS``).

``test_storage.py`` covers what concerns several instances (races, migrations, errors
of a backend); here each public method of :class:`~server.storage.Storage` does what
its docstring says, on SQLite and on PostgreSQL alike, and a last test checks that
every one of them is called by some test that runs on both.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol.api import ErasedEvent, LogEvent, MessageEvent, RemovedEvent, TombstoneEvent
from protocol.messages import DeleteRequest
from protocol.ops import Policy
from protocol.signing import sign_delete, sign_erase
from server.errors import RelayError, StorageError
from server.storage import MessageRecord, PersonalRecord, PushTarget, Storage
from tests.protocol.builders import Room
from tests.server.backends import BACKENDS
from tests.server.helpers import digest
from tests.server.storage_kit import Opener, members, new_room, storages

DAY = 86_400_000


@pytest.fixture(params=BACKENDS)
async def open_storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    async with storages(request.param, tmp_path) as opener:
        yield opener


def _delete(room: Room, author: str, event: MessageEvent, at: int = 5000) -> DeleteRequest:
    header = event.envelope.header
    return sign_delete(
        room.keys(author),
        target=header.id,
        sender=header.sender,
        device=hashlib.blake2b(b"owner", digest_size=16).digest(),
        counter=1,
        at=at,
    )


async def test_rooms_and_logs(open_storage: Opener) -> None:
    storage = await open_storage()
    room = Room()
    created = await storage.create_room(
        room.log.ops[0], ts=1000, retention_days=None, members=members(room.log)
    )
    assert created == LogEvent(seq=1, ts=1000, op=room.log.ops[0])
    assert await storage.load_ops(room.room) == list(room.log.ops)
    room.add("owner", "bob")
    op = room.log.ops[-1]
    policy = Policy(retention_days=3)  # as a room.retention operation would leave it
    event = await storage.append_op(room.room, op, ts=900, members=members(room.log), policy=policy)
    assert isinstance(event, LogEvent)
    assert (event.seq, event.ts) == (2, 1000)  # never before the room's last event
    assert await storage.op_seqs(room.room, [0, 1, 7]) == {0: 1, 1: 2}
    assert await storage.op_seqs(room.room, []) == {}
    info = await storage.room_info(room.room)
    assert info is not None
    assert (info.last_seq, info.low_water, info.retention_days) == (2, 0, 3)
    assert await storage.room_info(Room().room) is None
    assert await storage.load_ops(Room().room) == []
    assert await storage.rooms_of(room.member("bob")) == [room.room]
    assert await storage.retention_rooms() == [(room.room, 3)]
    kept = Room(policy=Policy(retention_days=9))
    await storage.create_room(kept.log.ops[0], ts=1000, retention_days=9, members=members(kept.log))
    assert sorted(await storage.retention_rooms()) == sorted([(room.room, 3), (kept.room, 9)])


async def test_a_message_to_no_room_is_refused(open_storage: Opener) -> None:
    storage = await open_storage()
    room = Room()
    envelope = room.send("owner", "nowhere")
    with pytest.raises(RelayError) as caught:
        await storage.add_message(envelope, ts=1, digest=digest(envelope))
    assert caught.value.code == "room.not_found"


async def test_a_frozen_room_refuses_new_messages_and_operations(open_storage: Opener) -> None:
    storage = await open_storage()
    room = await new_room(storage)
    old = room.send("owner", "stored before")
    stored = await storage.add_message(old, ts=1, digest=digest(old))
    assert await storage.set_frozen(room.room, 5000)
    assert not await storage.set_frozen(Room().room, 5000)
    fresh = room.send("owner", "during")
    with pytest.raises(RelayError) as caught:
        await storage.add_message(fresh, ts=2, digest=digest(fresh))
    assert caught.value.code == "room.frozen"
    other = await new_room(storage)  # a batch spanning a frozen room and another
    elsewhere = other.send("owner", "elsewhere")
    batch = [(e, digest(e), None) for e in (old, fresh, elsewhere, fresh)]
    results = await storage.add_messages(batch, ts=3)
    assert isinstance(results[0], MessageRecord)  # a retry is still answered
    assert results[0].seq == stored.seq
    assert [getattr(r, "code", None) for r in (results[1], results[3])] == ["room.frozen"] * 2
    assert isinstance(results[2], MessageEvent)
    room.add("owner", "bob")
    with pytest.raises(RelayError) as caught:
        await storage.append_op(room.room, room.log.ops[-1], ts=4, members=members(room.log))
    assert caught.value.code == "room.frozen"
    info = await storage.room_info(room.room)
    assert info is not None
    assert info.last_seq == stored.seq  # nothing refused took a sequence number
    tombstone = await storage.delete_message(room.room, _delete(room, "owner", stored), ts=5)
    assert tombstone.seq == stored.seq + 1  # removing still goes through
    assert await storage.set_frozen(room.room, None)
    event = await storage.add_message(fresh, ts=6, digest=digest(fresh))
    assert event.seq == tombstone.seq + 1


async def test_messages_events_and_pages(open_storage: Opener) -> None:
    storage = await open_storage()
    room = await new_room(storage)
    envelopes = [room.send("owner", f"m{i}") for i in range(5)]
    for i, envelope in enumerate(envelopes):
        await storage.add_message(envelope, ts=2000 + i, digest=digest(envelope), log_index=0)
    after = await storage.events_after(room.room, 1, 3)
    assert [e.seq for e in after] == [2, 3, 4]
    before = await storage.events_before(room.room, 6, 2)
    assert [e.seq for e in before] == [4, 5]
    assert all(isinstance(e, MessageEvent) for e in after + before)
    found = await storage.find_message(room.room, envelopes[0].header.id)
    assert found == MessageRecord(
        seq=2, ts=2000, sender=room.member("owner"), digest=digest(envelopes[0]), removed_by=None
    )
    assert await storage.message_rooms(room.member("owner")) == [room.room]


async def test_a_batch_answers_each_envelope(open_storage: Opener) -> None:
    storage = await open_storage()
    room = await new_room(storage)
    old = room.send("owner", "stored before")
    stored = await storage.add_message(old, ts=1, digest=digest(old))
    fresh = room.send("owner", "new")
    stale = room.send("owner", "against an old log")
    results = await storage.add_messages(
        [(old, digest(old), None), (fresh, digest(fresh), 0), (stale, digest(stale), 5)], ts=10
    )
    assert isinstance(results[0], MessageRecord)
    assert results[0].seq == stored.seq
    assert isinstance(results[1], MessageEvent)
    assert results[1].seq == 3
    assert isinstance(results[2], RelayError)
    assert results[2].code == "log.conflict"


async def test_a_deletion_leaves_a_tombstone(open_storage: Opener) -> None:
    storage = await open_storage()
    room = await new_room(storage)
    envelope = room.send("owner", "regretted")
    sent = await storage.add_message(envelope, ts=2000, digest=digest(envelope))
    request = _delete(room, "owner", sent)
    tomb = await storage.delete_message(room.room, request, ts=3000, log_index=0)
    assert isinstance(tomb, TombstoneEvent)
    assert (tomb.seq, tomb.target) == (3, envelope.header.id)
    assert await storage.tombstone_at(room.room, tomb.seq) == tomb
    assert await storage.tombstone_at(room.room, sent.seq) is None
    removed = (await storage.events_after(room.room, 1, 1))[0]
    assert removed == RemovedEvent(
        seq=2, ts=2000, id=envelope.header.id, sender=room.member("owner"), by=3
    )
    record = await storage.find_message(room.room, envelope.header.id)
    assert record is not None
    assert record.removed_by == 3
    with pytest.raises(RelayError) as caught:
        await storage.delete_message(room.room, request, ts=3001)
    assert caught.value.code == "msg.not_found"
    other = room.send("owner", "verified against a log that moved on")
    kept = await storage.add_message(other, ts=4000, digest=digest(other))
    with pytest.raises(RelayError) as conflict:
        await storage.delete_message(room.room, _delete(room, "owner", kept), ts=4001, log_index=4)
    assert conflict.value.code == "log.conflict"
    assert await storage.find_message(room.room, other.header.id) == MessageRecord(
        seq=4, ts=4000, sender=room.member("owner"), digest=digest(other), removed_by=None
    )


async def test_an_erasure_covers_what_the_member_still_holds(open_storage: Opener) -> None:
    storage = await open_storage()
    room = await new_room(storage)
    room.add("owner", "bob")
    await storage.append_op(room.room, room.log.ops[-1], ts=1000, members=members(room.log))
    bob = room.member("bob")
    assert await storage.erase_member(room.room, bob, ts=2000) is None  # nothing to erase
    for i in range(3):
        envelope = room.send("bob", f"b{i}")
        await storage.add_message(envelope, ts=2000 + i, digest=digest(envelope))
    request = sign_erase(room.keys("bob"), index=room.log.index, at=3000)
    result = await storage.erase_member(room.room, bob, ts=3000, request=request)
    assert result is not None
    erased, count = result
    assert count == 3
    assert erased == ErasedEvent(seq=6, ts=3000, member=bob, through=5, request=request)
    assert await storage.message_rooms(bob) == []
    events = await storage.events_after(room.room, 2, 10)
    assert [type(e) for e in events] == [RemovedEvent] * 3 + [ErasedEvent]
    assert await storage.erase_member(room.room, bob, ts=4000) is None


async def test_a_purge_drops_an_old_prefix_and_keeps_the_log(open_storage: Opener) -> None:
    storage = await open_storage()
    room = await new_room(storage)
    for i, ts in enumerate((1000, 1000, 5000, 1000)):
        envelope = room.send("owner", f"m{i}")
        await storage.add_message(envelope, ts=ts, digest=digest(envelope))
    # seq 2 and 3 are older than 2000; seq 4 is not (and seq 5 is stored at 5000 too).
    assert await storage.purge(room.room, before_ts=2000) == 3
    assert [e.seq for e in await storage.events_after(room.room, 0, 10)] == [1, 4, 5]
    assert await storage.purge(room.room, before_ts=2000) == 3  # nothing more to drop
    assert await storage.purge(room.room, before_ts=10_000) == 5
    assert [e.seq for e in await storage.events_after(room.room, 0, 10)] == [1]
    info = await storage.room_info(room.room)
    assert info is not None
    assert info.low_water == 5
    assert await storage.purge(Room().room, before_ts=10_000) == 0


async def test_token_secret_and_revocations(open_storage: Opener) -> None:
    storage = await open_storage()
    assert await storage.token_secret(b"a" * 32) == b"a" * 32
    assert await storage.token_secret(b"b" * 32) == b"a" * 32  # the first writer wins
    # The VAPID key is a secret of its own, kept the same way.
    assert await storage.vapid_secret(b"v" * 32) == b"v" * 32
    assert await storage.vapid_secret(b"w" * 32) == b"v" * 32
    assert await storage.token_secret(b"c" * 32) == b"a" * 32
    member = Room().member("owner")
    assert await storage.revoked_until(member) is None
    await storage.revoke_tokens(member, until=3 * DAY)
    await storage.revoke_tokens(member, until=2 * DAY)  # never shortened
    assert await storage.revoked_until(member) == 3 * DAY
    assert await storage.purge_sessions(now=2 * DAY) == 0
    assert await storage.purge_sessions(now=4 * DAY) == 1
    assert await storage.revoked_until(member) is None


async def test_writes_report_their_outcome_and_a_probe_writes(open_storage: Opener) -> None:
    storage = await open_storage()
    seen: list[StorageError | None] = []
    storage.write_observer = seen.append
    await storage.probe_write()
    await storage.probe_write()  # again: the row exists now
    await storage.token_secret(b"a" * 32)
    assert seen == [None, None, None]
    await storage.ping()
    assert storage.location.startswith(("SQLite /", "PostgreSQL "))
    assert "@" not in storage.location  # no user or password


async def test_blobs(open_storage: Opener) -> None:
    storage = await open_storage()
    room = await new_room(storage)
    owner = room.member("owner")
    await storage.put_blob(room.room, "b" * 22, owner=owner, data=b"cipher", ts=1000)
    await storage.put_blob(room.room, "c" * 22, owner=owner, data=b"newer", ts=3000)
    assert await storage.get_blob(room.room, "b" * 22) == b"cipher"
    assert await storage.get_blob(room.room, "x" * 22) is None
    assert await storage.purge_blobs(room.room, before_ts=2000) == 1
    assert await storage.get_blob(room.room, "b" * 22) is None
    assert await storage.forget_member(owner) == 1
    assert await storage.get_blob(room.room, "c" * 22) is None


async def test_link_offers(open_storage: Opener) -> None:
    storage = await open_storage()
    owner = Room().member("owner")

    async def offer(link: str, now: int = 1000, expires_at: int = 2000) -> None:
        await storage.put_link(
            link, owner=owner, data=b"box", now=now, expires_at=expires_at, max_pending=2
        )

    await offer("a" * 22)
    with pytest.raises(RelayError) as taken:
        await offer("a" * 22)
    assert taken.value.code == "link.exists"
    await offer("b" * 22)
    with pytest.raises(RelayError) as many:
        await offer("c" * 22)
    assert many.value.code == "link.too_many"
    assert await storage.claim_link("a" * 22, now=1500) == b"box"
    for link, now, code in (
        ("a" * 22, 1500, "link.used"),
        ("z" * 22, 1500, "link.not_found"),
        ("b" * 22, 2500, "link.expired"),
        ("b" * 22, 1500, "link.expired"),  # its ciphertext was dropped on the way
    ):
        with pytest.raises(RelayError) as caught:
            await storage.claim_link(link, now=now)
        assert caught.value.code == code
    await offer("c" * 22, now=2500, expires_at=3000)  # expired offers no longer count
    assert await storage.purge_links(now=2500, keep_ms=100) == 2
    assert await storage.purge_links(now=3000, keep_ms=0) == 1


async def test_personal_stores(open_storage: Opener) -> None:
    storage = await open_storage()
    owner = Room().member("owner")
    limits = {"max_docs": 2, "max_bytes": 10}
    assert (
        await storage.put_personal(owner, "d1", expected=0, data=b"12345", now=DAY + 5, **limits)
        == 1
    )
    assert await storage.put_personal(owner, "d1", expected=1, data=b"123", now=DAY, **limits) == 2
    with pytest.raises(RelayError) as conflict:
        await storage.put_personal(owner, "d1", expected=1, data=b"x", now=DAY, **limits)
    assert (conflict.value.code, conflict.value.detail) == ("personal.conflict", {"version": 2})
    with pytest.raises(RelayError) as big:
        await storage.put_personal(owner, "d2", expected=0, data=b"x" * 8, now=DAY, **limits)
    assert big.value.code == "personal.quota"
    await storage.put_personal(owner, "d2", expected=0, data=b"x", now=DAY, **limits)
    with pytest.raises(RelayError) as many:
        await storage.put_personal(owner, "d3", expected=0, data=b"x", now=DAY, **limits)
    assert many.value.code == "personal.quota"
    assert await storage.personal_index(owner) == [
        PersonalRecord(doc="d1", version=2, size=3),
        PersonalRecord(doc="d2", version=1, size=1),
    ]
    assert await storage.get_personal(owner, "d1") == PersonalRecord(
        doc="d1", version=2, size=3, data=b"123"
    )
    assert await storage.get_personal(owner, "d9") is None
    await storage.forget_member(owner)
    assert await storage.personal_index(owner) == []


async def test_push_registrations(open_storage: Opener) -> None:
    storage = await open_storage()
    room = Room()
    room.add("owner", "bob")
    alice, bob = room.member("owner"), room.member("bob")
    await storage.put_push(alice, "phone", "https://a/1", ts=1, limit=2)
    await storage.put_push(alice, "tablet", "https://a/2", ts=1, limit=2)
    await storage.put_push(alice, "phone", "https://a/3", ts=1, limit=2)  # a replacement
    with pytest.raises(RelayError) as many:
        await storage.put_push(alice, "laptop", "https://a/4", ts=1, limit=2)
    assert (many.value.code, many.value.detail) == ("push.too_many", {"limit": 2})
    await storage.put_push(bob, "phone", "https://b/1", ts=1, limit=2, web_push=True)
    targets = await storage.push_targets([alice, bob, alice])
    assert sorted((t.member, t.device, t.endpoint, t.web_push) for t in targets) == sorted(
        [
            (alice, "phone", "https://a/3", False),
            (alice, "tablet", "https://a/2", False),
            (bob, "phone", "https://b/1", True),
        ]
    )
    # A replacement replaces the kind too.
    await storage.put_push(bob, "phone", "https://b/2", ts=1, limit=2)
    assert [t.web_push for t in await storage.push_targets([bob])] == [False]
    # Only registrations that still name the endpoint go.
    assert await storage.drop_push("https://a/1", [PushTarget(alice, "phone", "https://a/1")]) == 0
    assert await storage.drop_push("https://a/3", [PushTarget(alice, "phone", "https://a/3")]) == 1
    await storage.delete_push(alice, "tablet")
    await storage.delete_push(alice, "none")  # nothing to remove is fine
    assert await storage.push_targets([alice]) == []


async def test_presence(open_storage: Opener) -> None:
    storage = await open_storage()
    room = Room()
    room.add("owner", "bob")
    alice, bob = room.member("owner"), room.member("bob")
    await storage.set_presence("one", [alice, bob], expires_at=2000)
    await storage.set_presence("two", [alice], expires_at=5000)
    assert await storage.present([alice, bob], now=1000) == {alice, bob}
    assert await storage.present([alice, bob], now=3000) == {alice}
    await storage.clear_presence("two", [alice])
    assert await storage.present([alice, bob], now=1000) == {alice, bob}
    await storage.clear_presence("one", [alice, bob])
    assert await storage.present([alice, bob], now=1000) == set()


# -- every public method is pinned ------------------------------------------------


def _called_on_both_backends() -> set[str]:
    """Method names called in tests that take the ``open_storage`` fixture (so run on
    every backend), in this module and in ``test_storage.py``."""
    names: set[str] = set()
    for module in (Path(__file__), Path(__file__).with_name("test_storage.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, ast.AsyncFunctionDef) or not node.name.startswith("test_"):
                continue
            if "open_storage" not in {a.arg for a in node.args.args}:
                continue
            names.update(
                n.func.attr
                for n in ast.walk(node)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            )
    return names


def test_every_public_method_of_storage_is_in_a_contract_test() -> None:
    public = {
        name
        for name, member in inspect.getmembers(Storage, inspect.isfunction)
        if not name.startswith("_")
    }
    assert Storage.__abstractmethods__ <= public
    assert public - _called_on_both_backends() == set()
