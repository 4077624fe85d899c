"""A hostile relay: a man in the middle in front of the real relay lies to the clients.

Each scenario runs SDK clients (public API, ``live=False`` so every exchange is
an HTTP call the test orders) through :class:`tests.security.proxy.HostileProxy`
in front of a real ``hearth serve``. The proxy rewrites what the relay serves:
it injects a member, substitutes a member's X25519 key, rewrites a sender,
replays a message, reorders log operations, drops one message in a hundred, and
shows two members different histories (a fork, signed with an owner key the
test holds as if it were stolen). Each time the client refuses: a typed
:class:`client_sdk.SecurityAlarm` of the matching kind, the room refuses to
send (``RoomBlocked``), or a refused join; and nothing the relay made up reaches
the app.

After each scenario, :func:`_audit_commits` reads every operation the relay
stored and checks that every epoch secret was sealed only to genuine members:
each share names a member of the verified log after that operation, opens with
that member's real key, and does not open with the injected or substituted key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack
from pathlib import Path

import msgspec
import pytest

from client_sdk import HearthClient, Identity, RoomBlocked, SecurityAlarm
from protocol import CryptoError, LogError, RoomKeys, RoomLog, RootSeed, sign_op
from protocol.api import LogEvent, LogPage, MessageEvent, RoomEvent, SyncResponse
from protocol.crypto import unseal
from protocol.encoding import from_json, to_json
from protocol.epochs import make_commit
from protocol.ids import RoomId
from protocol.ops import AddOp, SignedOp
from server.storage.sqlite import SqliteStorage
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied

__all__ = ["proxied"]

Rewrite = Callable[[RoomId, list[RoomEvent]], list[RoomEvent]]


@pytest.fixture
async def world(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> AsyncIterator[tuple[RelayProcess, HostileProxy, dict[str, HearthClient]]]:
    relay, proxy = proxied
    async with AsyncExitStack() as stack:
        people = {}
        for name in ("alice", "bob", "carol"):
            client = HearthClient(
                proxy.url, Identity.generate(), store_path=tmp_path / f"{name}.db", live=False
            )
            people[name] = await stack.enter_async_context(client)
        yield relay, proxy, people


def _serve_sync(proxy: HostileProxy, rewrite: Rewrite) -> None:
    """Rewrite every room's events in the relay's sync answers."""

    async def hook(method: str, path: str, status: int, body: bytes) -> bytes:
        if method != "POST" or path != "/v1/sync" or status != 200:
            return body
        answer = from_json(body, SyncResponse)
        rooms = []
        for page in answer.rooms:
            events = rewrite(page.room, list(page.events))
            last = max([page.last_seq, *(e.seq for e in events)])
            rooms.append(msgspec.structs.replace(page, events=events, last_seq=last))
        return to_json(msgspec.structs.replace(answer, rooms=rooms))

    proxy.on_response = hook


async def _stored_log(relay: RelayProcess, room: RoomId) -> tuple[RoomLog, int]:
    storage = SqliteStorage(relay.data_dir / "hearth.db")
    await storage.open()
    try:
        ops = await storage.load_ops(room)
        info = await storage.room_info(room)
        events = await storage.events_after(room, 0, 100_000)
    finally:
        await storage.close()
    assert info is not None
    return RoomLog.from_ops(ops), max(e.seq for e in events)


def _with_seq(event: RoomEvent, seq: int) -> RoomEvent:
    return msgspec.structs.replace(event, seq=seq)


def _substitute_box_key(op: SignedOp, box_key: bytes) -> SignedOp:
    body = msgspec.structs.replace(op.content.body, box_key=box_key)  # type: ignore[type-var]
    return msgspec.structs.replace(op, content=msgspec.structs.replace(op.content, body=body))


def _forged_add(log: RoomLog, author: RoomKeys, newcomer: RoomKeys) -> SignedOp:
    """A well-formed add at the log's next index, signed by ``author``."""
    recipients = {m: member.box_key for m, member in log.members.items()}
    recipients[newcomer.member] = newcomer.box_public
    commit, _ = make_commit(
        room=log.room, epoch=log.epoch + 1, prev=log.head, recipients=recipients
    )
    body = AddOp(
        member=newcomer.member,
        box_key=newcomer.box_public,
        binding=newcomer.binding(),
        role="member",
        commit=commit,
    )
    return sign_op(author, index=log.index + 1, prev=log.head, at=_now_ms(), body=body)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _audit_commits(
    relay: RelayProcess,
    room: RoomId,
    people: Iterable[HearthClient],
    hostile: Iterable[RoomKeys],
) -> int:
    """Every share of every stored commit: a genuine member, its real key, not the attacker's."""
    real = {c.identity.room_keys(room).member: c.identity.room_keys(room) for c in people}
    hostile = list(hostile)
    stored, _ = await _stored_log(relay, room)
    replay = RoomLog()
    shares = 0
    for op in stored.ops:
        replay.append(op)
        commit = getattr(op.content.body, "commit", None)
        if commit is None:
            continue
        assert {s.member for s in commit.shares} == set(replay.members)
        for share in commit.shares:
            assert share.member in real, "a share names someone who is not one of us"
            assert replay.members[share.member].box_key == real[share.member].box_public
            unseal(real[share.member].box, share.sealed)  # opens with the real key
            for keys in hostile:
                with pytest.raises(CryptoError):
                    unseal(keys.box, share.sealed)
            shares += 1
    return shares


def _swap_last_two_ops(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
    """Serve the last two log operations of a page in each other's place."""
    logs = [i for i, e in enumerate(events) if isinstance(e, LogEvent)]
    if len(logs) >= 2:
        a, b = logs[-2], logs[-1]
        first, second = events[a], events[b]
        assert isinstance(first, LogEvent)
        assert isinstance(second, LogEvent)
        events[a] = msgspec.structs.replace(first, op=second.op)
        events[b] = msgspec.structs.replace(second, op=first.op)
    return events


def _drop_one_in_a_hundred(dropped: list[int]) -> Rewrite:
    """Leave out the 50th, 150th ... message served; note each one's ``seq`` in ``dropped``."""
    seen = 0

    def drop(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        nonlocal seen
        out: list[RoomEvent] = []
        for event in events:
            if isinstance(event, MessageEvent):
                seen += 1
                if seen % 100 == 50:
                    dropped.append(event.seq)
                    continue
            out.append(event)
        return out

    return drop


def _alarm_kinds(room: object) -> set[str]:
    return {a.kind for a in room.alarms}  # type: ignore[attr-defined]


async def _group(people: dict[str, HearthClient], *joiners: str) -> RoomId:
    room = await people["alice"].create_group("Hostile relay scenario")
    link = await room.create_invite(max_uses=5)
    for name in joiners:
        await people[name].join(link)
    for client in people.values():
        await client.sync()
    for name in ("alice", *joiners):  # the control: an honest relay raises nothing
        assert people[name].room(room.id).alarms == ()
    return room.id


# -- the scenarios ---------------------------------------------------------------------


@pytest.mark.parametrize("author", ["outsider", "member_without_authority"])
async def test_injected_member_is_refused(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]], author: str
) -> None:
    relay, proxy, people = world
    room_id = await _group(people, "bob", "carol")
    log, last = await _stored_log(relay, room_id)
    intruder = RootSeed.generate().room_keys(room_id)
    signer = intruder if author == "outsider" else people["bob"].identity.room_keys(room_id)
    forged = _forged_add(log, signer, intruder)
    template = LogEvent(seq=last + 1, ts=_now_ms(), op=forged)
    _serve_sync(proxy, lambda room, events: [*events, template] if room == room_id else events)

    carol = people["carol"].room(room_id)
    await people["carol"].sync()
    assert "log_invalid" in _alarm_kinds(carol)
    assert intruder.member not in carol.members
    with pytest.raises(RoomBlocked):
        await carol.send("to whom?")

    proxy.reset()
    await people["alice"].room(room_id).rotate()  # an honest commit after the attack
    assert await _audit_commits(relay, room_id, people.values(), [intruder]) >= 6


async def test_substituted_key_in_a_served_op_is_refused(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]],
) -> None:
    relay, proxy, people = world
    room_id = await _group(people, "bob")
    await people["carol"].join(await people["alice"].room(room_id).create_invite())
    carol_id = people["carol"].room(room_id).me
    attacker = RootSeed.generate().room_keys(room_id)

    def substitute(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for event in events:
            if isinstance(event, LogEvent) and event.op.content.author == carol_id:
                op = _substitute_box_key(event.op, attacker.box_public)
                out.append(msgspec.structs.replace(event, op=op))
            else:
                out.append(event)
        return out

    _serve_sync(proxy, substitute)
    bob = people["bob"].room(room_id)
    await people["bob"].sync()
    assert "log_invalid" in _alarm_kinds(bob)
    with pytest.raises(RoomBlocked):
        await bob.rotate()  # Bob will not commit a secret to anyone while in doubt
    proxy.reset()
    await people["alice"].room(room_id).rotate()
    assert await _audit_commits(relay, room_id, people.values(), [attacker]) >= 5


async def test_substituted_key_in_the_invite_log_stops_the_join(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]],
) -> None:
    relay, proxy, people = world
    room_id = await _group(people, "bob")
    link = await people["alice"].room(room_id).create_invite()
    bob_id = people["bob"].room(room_id).me
    attacker = RootSeed.generate().room_keys(room_id)
    before, _ = await _stored_log(relay, room_id)

    async def hook(method: str, path: str, status: int, body: bytes) -> bytes:
        if path.endswith("/invite-log") and status == 200:
            page = from_json(body, LogPage)
            ops = [
                _substitute_box_key(op, attacker.box_public) if op.content.author == bob_id else op
                for op in page.ops
            ]
            return to_json(msgspec.structs.replace(page, ops=ops))
        return body

    proxy.on_response = hook
    with pytest.raises(LogError):
        await people["carol"].join(link)
    after, _ = await _stored_log(relay, room_id)
    assert after.ops == before.ops, "Carol committed nothing to a log she could not verify"
    assert await _audit_commits(relay, room_id, people.values(), [attacker]) >= 3


async def test_rewritten_sender_is_refused(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]],
) -> None:
    _relay, proxy, people = world
    room_id = await _group(people, "bob", "carol")
    carol_id = people["carol"].room(room_id).me

    def reattribute(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for event in events:
            if isinstance(event, MessageEvent) and event.envelope.header.sender != carol_id:
                header = msgspec.structs.replace(event.envelope.header, sender=carol_id)
                envelope = msgspec.structs.replace(event.envelope, header=header)
                out.append(msgspec.structs.replace(event, envelope=envelope))
            else:
                out.append(event)
        return out

    await people["alice"].room(room_id).send("I said this, not Carol")
    _serve_sync(proxy, reattribute)
    bob = people["bob"].room(room_id)
    await people["bob"].sync()
    assert "bad_message" in _alarm_kinds(bob)
    shown = [m for m in await bob.messages(limit=100) if m.text == "I said this, not Carol"]
    assert shown == []
    with pytest.raises(RoomBlocked):
        await bob.send("hello?")


async def test_replayed_message_is_shown_once(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]],
) -> None:
    relay, proxy, people = world
    room_id = await _group(people, "bob")
    alice = people["alice"].room(room_id)
    await alice.send("only once")
    bob = people["bob"].room(room_id)
    await people["bob"].sync()
    storage = SqliteStorage(relay.data_dir / "hearth.db")
    await storage.open()
    try:
        events = await storage.events_after(room_id, 0, 1000)
    finally:
        await storage.close()
    original = next(e for e in events if isinstance(e, MessageEvent))
    await alice.send("after that")
    _, last = await _stored_log(relay, room_id)
    replay = _with_seq(original, last + 1)
    _serve_sync(proxy, lambda room, events: [*events, replay] if room == room_id else events)
    await people["bob"].sync()
    texts = [m.text for m in await bob.messages(limit=100)]
    assert texts.count("only once") == 1
    assert texts.count("after that") == 1
    assert "bad_message" in _alarm_kinds(bob)


async def test_reordered_log_operations_are_refused(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]],
) -> None:
    relay, proxy, people = world
    room_id = await _group(people, "bob")
    alice = people["alice"].room(room_id)
    await alice.create_invite()
    await alice.rotate()
    await alice.create_invite()

    _serve_sync(proxy, _swap_last_two_ops)
    bob = people["bob"].room(room_id)
    await people["bob"].sync()
    real, _ = await _stored_log(relay, room_id)
    assert "log_invalid" in _alarm_kinds(bob)
    assert bob.epoch < real.epoch  # frozen before the reordered operations
    with pytest.raises(RoomBlocked):
        await bob.send("hello?")


async def test_one_message_in_a_hundred_dropped_is_reported(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]],
) -> None:
    _relay, proxy, people = world
    room_id = await _group(people, "bob")
    alice = people["alice"].room(room_id)
    for i in range(200):
        await alice.send(f"message {i}")
    dropped: list[int] = []
    _serve_sync(proxy, _drop_one_in_a_hundred(dropped))
    bob = people["bob"].room(room_id)
    await people["bob"].sync()
    assert len(dropped) == 2
    alarms = [a for a in bob.alarms if a.kind == "withheld"]
    assert alarms, "a withheld message must be reported"
    texts = [m.text for m in await bob.messages(limit=500)]
    assert len(texts) == len(set(texts)) == 198


async def test_two_histories_raise_a_fork_alarm(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]],
) -> None:
    """The relay holds the owner's stolen room key and shows Bob a history Carol never saw."""
    relay, proxy, people = world
    room_id = await _group(people, "bob", "carol")
    before, _ = await _stored_log(relay, room_id)
    await people["alice"].room(room_id).rotate()  # the real operation at the next index
    real, _ = await _stored_log(relay, room_id)
    stolen = people["alice"].identity.room_keys(room_id)
    intruder = RootSeed.generate().room_keys(room_id)
    forged = _forged_add(before, stolen, intruder)  # valid, at the same index
    assert forged.content.index == real.index

    def fork(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        return [
            msgspec.structs.replace(e, op=forged)
            if isinstance(e, LogEvent) and e.op.content.index == forged.content.index
            else e
            for e in events
        ]

    _serve_sync(proxy, fork)
    await people["bob"].sync()  # Bob's view: the forged add, which verifies
    proxy.reset()
    await people["carol"].sync()  # Carol's view: the real rotation
    await people["carol"].room(room_id).send("Carol on the real history")
    _serve_sync(proxy, fork)
    bob = people["bob"].room(room_id)
    await people["bob"].sync()
    assert "fork" in _alarm_kinds(bob)
    assert "Carol on the real history" not in [m.text for m in await bob.messages(limit=100)]
    with pytest.raises(RoomBlocked):
        await bob.send("hello?")


def test_alarm_is_a_typed_public_event() -> None:
    assert SecurityAlarm.__module__ == "client_sdk.events"


# -- the same lies told on the live stream ------------------------------------------------


async def _live_bob(
    proxy: HostileProxy, tmp_path: Path, identity: Identity
) -> AsyncIterator[HearthClient]:
    async with HearthClient(
        proxy.url, identity, store_path=tmp_path / "bob.db", live=True
    ) as client:
        async with asyncio.timeout(15):
            while not client.online:
                await asyncio.sleep(0.02)
        yield client


async def _next_alarm(client: HearthClient, kind: str) -> SecurityAlarm:
    async with asyncio.timeout(15):
        async for event in client.events():
            if isinstance(event, SecurityAlarm) and event.kind == kind:
                return event
    raise AssertionError("the client closed before the alarm")


async def test_rewritten_sender_on_the_stream_raises_an_alarm(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]], tmp_path: Path
) -> None:
    _relay, proxy, people = world
    room_id = await _group(people, "bob", "carol")
    carol_id = people["carol"].room(room_id).me
    await people["bob"].close()  # Bob now follows the room live, on his store

    async def reattribute(frame: str) -> list[str]:
        data = msgspec.json.decode(frame)
        event = data.get("event") if data.get("type") == "event" else None
        if event and event.get("type") == "msg":
            event["envelope"]["header"]["sender"] = carol_id
        return [msgspec.json.encode(data).decode()]

    async for bob in _live_bob(proxy, tmp_path, people["bob"].identity):
        proxy.on_frame = reattribute
        await people["alice"].room(room_id).send("live, and not from Carol")
        alarm = await _next_alarm(bob, "bad_message")
        assert alarm.room_id == room_id
        texts = [m.text for m in await bob.room(room_id).messages(limit=100)]
        assert "live, and not from Carol" not in texts
        with pytest.raises(RoomBlocked):
            await bob.room(room_id).send("hello?")


async def test_replayed_frame_on_the_stream_is_shown_once(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]], tmp_path: Path
) -> None:
    _relay, proxy, people = world
    room_id = await _group(people, "bob")
    await people["bob"].close()

    async def twice(frame: str) -> list[str]:
        data = msgspec.json.decode(frame)
        event = data.get("event") if data.get("type") == "event" else None
        if event and event.get("type") == "msg":
            again = msgspec.json.decode(frame)
            again["event"]["seq"] = event["seq"] + 1_000  # and again, later in the stream
            return [frame, msgspec.json.encode(again).decode()]
        return [frame]

    async for bob in _live_bob(proxy, tmp_path, people["bob"].identity):
        proxy.on_frame = twice
        await people["alice"].room(room_id).send("said once, heard once")
        alarm = await _next_alarm(bob, "bad_message")
        assert alarm.code == "msg.replay"
        await asyncio.sleep(0.5)  # let anything else the stream carried be processed
        texts = [m.text for m in await bob.room(room_id).messages(limit=100)]
        assert texts.count("said once, heard once") == 1
