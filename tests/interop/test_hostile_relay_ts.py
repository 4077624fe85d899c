"""The hostile relay of ``tests/security`` played against the TypeScript SDK.

The same man in the middle (:class:`tests.security.proxy.HostileProxy` in front of
a real ``hearth serve``), the same lies, the same checks: only the victim changes.
Bob is a person using the TypeScript SDK (``tests/interop/conftest.py``'s peer,
without a live stream unless the scenario is about the stream, so every exchange
is a sync the test orders); Alice and Carol use the Python SDK through the same
proxy. Each time Bob's SDK must refuse exactly as the Python SDK does in
``tests/security/test_hostile_relay.py`` and ``test_trust_genesis.py``: the same
alarm kind, the same error code, nothing the relay made up shown, the room
refusing to send, and no secret sealed to a key the relay chose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import msgspec
import pytest

from client_sdk import HearthClient, Identity
from client_sdk._invite_links import parse_invite
from protocol import CryptoError, RoomKeys, RootSeed
from protocol.api import LogEvent, LogPage, MessageEvent, RoomEvent
from protocol.crypto import unseal
from protocol.encoding import from_json, to_json
from protocol.ids import RoomId
from protocol.ops import InviteCreateOp
from server.storage.sqlite import SqliteStorage
from tests.client_sdk.conftest import RelayProcess
from tests.interop.conftest import PeerError, TsPeer, TsPeerFactory
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_hostile_relay import (
    _drop_one_in_a_hundred,
    _forged_add,
    _now_ms,
    _serve_sync,
    _stored_log,
    _substitute_box_key,
    _swap_last_two_ops,
    _with_seq,
)
from tests.security.test_trust_genesis import _counterfeit, _Recorder

__all__ = ["proxied"]

World = tuple[RelayProcess, HostileProxy, dict[str, HearthClient], TsPeer]


@pytest.fixture
async def world(
    proxied: tuple[RelayProcess, HostileProxy], ts_peer: TsPeerFactory, tmp_path: Path
) -> AsyncIterator[World]:
    relay, proxy = proxied
    async with AsyncExitStack() as stack:
        people = {}
        for name in ("alice", "carol"):
            client = HearthClient(
                proxy.url, Identity.generate(), store_path=tmp_path / f"{name}.db", live=False
            )
            people[name] = await stack.enter_async_context(client)
        bob = await ts_peer(proxy.url, name="bob", live=False)
        yield relay, proxy, people, bob


async def kinds(bob: TsPeer, room: RoomId) -> set[str]:
    return {alarm["kind"] for alarm in await bob.call("alarms", room=room)}


async def refused(bob: TsPeer, op: str, **args: Any) -> str:
    """The error code of a command Bob's SDK must refuse."""
    with pytest.raises(PeerError) as info:
        await bob.call(op, **args)
    return info.value.code


async def group(people: dict[str, HearthClient], bob: TsPeer, *, carol: bool = True) -> RoomId:
    """Alice's group with Bob (TypeScript) and Carol in it; nobody raised an alarm."""
    room = await people["alice"].create_group("Hostile relay scenario")
    link = await room.create_invite(max_uses=5)
    room_id = RoomId(await bob.call("join", link=link))
    assert room_id == room.id
    if carol:
        await people["carol"].join(link)
    for client in people.values():
        await client.sync()
    await bob.call("sync")
    assert await bob.call("alarms", room=room_id) == []  # the control: an honest relay
    return room_id


def bob_keys(bob: TsPeer, room: RoomId) -> RoomKeys:
    return Identity.from_recovery_phrase(bob.phrase).room_keys(room)


async def audit(
    relay: RelayProcess, room: RoomId, genuine: list[RoomKeys], hostile: list[RoomKeys]
) -> int:
    """Every share of every stored commit: a genuine member, its real key, not the attacker's."""
    real = {k.member: k for k in genuine}
    stored, _ = await _stored_log(relay, room)
    shares = 0
    for op in stored.ops:
        commit = getattr(op.content.body, "commit", None)
        if commit is None:
            continue
        for share in commit.shares:
            assert share.member in real, "a share names someone who is not one of us"
            unseal(real[share.member].box, share.sealed)
            for keys in hostile:
                with pytest.raises(CryptoError):
                    unseal(keys.box, share.sealed)
            shares += 1
    return shares


@pytest.mark.parametrize("author", ["outsider", "member_without_authority"])
async def test_injected_member_is_refused(world: World, author: str) -> None:
    relay, proxy, people, bob = world
    room_id = await group(people, bob)
    log, last = await _stored_log(relay, room_id)
    intruder = RootSeed.generate().room_keys(room_id)
    carol = people["carol"].identity.room_keys(room_id)
    signer = intruder if author == "outsider" else carol
    forged = _forged_add(log, signer, intruder)
    event = LogEvent(seq=last + 1, ts=_now_ms(), op=forged)
    _serve_sync(proxy, lambda room, events: [*events, event] if room == room_id else events)

    await bob.call("sync")
    assert "log_invalid" in await kinds(bob, room_id)
    assert intruder.member not in await bob.call("members", room=room_id)
    assert await refused(bob, "send", room=room_id, text="to whom?") == "room.blocked"

    proxy.reset()
    await people["alice"].room(room_id).rotate()  # an honest commit after the attack
    genuine = [people[n].identity.room_keys(room_id) for n in people] + [bob_keys(bob, room_id)]
    assert await audit(relay, room_id, genuine, [intruder]) >= 5


async def test_substituted_key_in_a_served_op_is_refused(world: World) -> None:
    relay, proxy, people, bob = world
    room_id = await group(people, bob, carol=False)
    await people["carol"].join(await people["alice"].room(room_id).create_invite())
    carol_id = people["carol"].room(room_id).me
    attacker = RootSeed.generate().room_keys(room_id)

    def substitute(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        return [
            msgspec.structs.replace(e, op=_substitute_box_key(e.op, attacker.box_public))
            if isinstance(e, LogEvent) and e.op.content.author == carol_id
            else e
            for e in events
        ]

    _serve_sync(proxy, substitute)
    await bob.call("sync")  # Carol's join, with a key of the relay's in place of hers
    assert "log_invalid" in await kinds(bob, room_id)
    # Bob will not commit a secret to anyone while in doubt.
    assert await refused(bob, "rotate", room=room_id) == "room.blocked"
    proxy.reset()
    await people["alice"].room(room_id).rotate()
    genuine = [people[n].identity.room_keys(room_id) for n in people] + [bob_keys(bob, room_id)]
    assert await audit(relay, room_id, genuine, [attacker]) >= 5


async def test_substituted_key_in_the_invite_log_stops_the_join(world: World) -> None:
    relay, proxy, people, bob = world
    room = await people["alice"].create_group("Hostile relay scenario")
    await people["carol"].join(await room.create_invite())
    carol_id = people["carol"].room(room.id).me
    link = await room.create_invite()
    attacker = RootSeed.generate().room_keys(room.id)
    before, _ = await _stored_log(relay, room.id)

    async def hook(method: str, path: str, status: int, body: bytes) -> bytes:
        if path.endswith("/invite-log") and status == 200:
            page = from_json(body, LogPage)
            ops = [
                _substitute_box_key(op, attacker.box_public)
                if op.content.author == carol_id
                else op
                for op in page.ops
            ]
            return to_json(msgspec.structs.replace(page, ops=ops))
        return body

    proxy.on_response = hook
    assert (await refused(bob, "join", link=link)).startswith("log.")
    after, _ = await _stored_log(relay, room.id)
    assert after.ops == before.ops, "Bob committed nothing to a log he could not verify"


async def test_rewritten_sender_is_refused(world: World) -> None:
    _relay, proxy, people, bob = world
    room_id = await group(people, bob)
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
    await bob.call("sync")
    assert "bad_message" in await kinds(bob, room_id)
    texts = [m["text"] for m in await bob.call("messages", room=room_id)]
    assert "I said this, not Carol" not in texts
    assert await refused(bob, "send", room=room_id, text="hello?") == "room.blocked"


async def test_replayed_message_is_shown_once(world: World) -> None:
    relay, proxy, people, bob = world
    room_id = await group(people, bob, carol=False)
    alice = people["alice"].room(room_id)
    await alice.send("only once")
    await bob.call("sync")
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
    await bob.call("sync")
    texts = [m["text"] for m in await bob.call("messages", room=room_id)]
    assert texts.count("only once") == 1
    assert texts.count("after that") == 1
    assert "bad_message" in await kinds(bob, room_id)


async def test_reordered_log_operations_are_refused(world: World) -> None:
    relay, proxy, people, bob = world
    room_id = await group(people, bob, carol=False)
    alice = people["alice"].room(room_id)
    await alice.create_invite()
    await alice.rotate()
    await alice.create_invite()

    _serve_sync(proxy, _swap_last_two_ops)
    await bob.call("sync")
    real, _ = await _stored_log(relay, room_id)
    assert "log_invalid" in await kinds(bob, room_id)
    assert await bob.call("epoch", room=room_id) < real.epoch  # frozen before the swap
    assert await refused(bob, "send", room=room_id, text="hello?") == "room.blocked"


async def test_one_message_in_a_hundred_dropped_is_reported(world: World) -> None:
    _relay, proxy, people, bob = world
    room_id = await group(people, bob, carol=False)
    alice = people["alice"].room(room_id)
    for i in range(200):
        await alice.send(f"message {i}")
    dropped: list[int] = []
    _serve_sync(proxy, _drop_one_in_a_hundred(dropped))
    await bob.call("sync")
    assert len(dropped) == 2
    assert "withheld" in await kinds(bob, room_id), "a withheld message must be reported"
    texts = [m["text"] for m in await bob.call("messages", room=room_id, limit=500)]
    assert len(texts) == len(set(texts)) == 198


async def test_two_histories_raise_a_fork_alarm(world: World) -> None:
    """The relay holds the owner's stolen room key and shows Bob a history Carol never saw."""
    relay, proxy, people, bob = world
    room_id = await group(people, bob)
    before, _ = await _stored_log(relay, room_id)
    await people["alice"].room(room_id).rotate()  # the real operation at the next index
    real, _ = await _stored_log(relay, room_id)
    stolen = people["alice"].identity.room_keys(room_id)
    intruder = RootSeed.generate().room_keys(room_id)
    forged = _forged_add(before, stolen, intruder)
    assert forged.content.index == real.index

    def fork(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        return [
            msgspec.structs.replace(e, op=forged)
            if isinstance(e, LogEvent) and e.op.content.index == forged.content.index
            else e
            for e in events
        ]

    _serve_sync(proxy, fork)
    await bob.call("sync")  # Bob's view: the forged add, which verifies
    proxy.reset()
    await people["carol"].sync()
    await people["carol"].room(room_id).send("Carol on the real history")
    _serve_sync(proxy, fork)
    await bob.call("sync")
    assert "fork" in await kinds(bob, room_id)
    texts = [m["text"] for m in await bob.call("messages", room=room_id)]
    assert "Carol on the real history" not in texts
    assert await refused(bob, "send", room=room_id, text="hello?") == "room.blocked"


@pytest.mark.parametrize("stolen_genesis", [False, True], ids=["own-genesis", "stolen-genesis"])
async def test_a_joiner_refuses_a_counterfeit_room_before_sealing_anything(
    world: World, stolen_genesis: bool
) -> None:
    relay, proxy, people, bob = world
    room = await people["alice"].create_group("Evening group")
    link = await room.create_invite(max_uses=1)
    real, _ = await _stored_log(relay, room.id)
    relay_root = RootSeed.generate()
    fake = _counterfeit(list(real.ops), relay_root, stolen_genesis=stolen_genesis, add=None)
    _, invite = parse_invite(link)
    assert any(
        isinstance(op.content.body, InviteCreateOp) and op.content.body.invite_key == invite.public
        for op in fake
    )
    recorder = _Recorder(proxy, room.id, fake)
    assert await refused(bob, "join", link=link) == "log.bad_genesis"
    assert recorder.served.is_set()
    assert recorder.writes_to_room() == []
    assert room.id not in await bob.call("rooms")
    stored, _ = await _stored_log(relay, room.id)
    assert bob_keys(bob, room.id).member not in stored.members


# -- the same lies on the live stream --------------------------------------------------


async def test_rewritten_sender_on_the_stream_raises_an_alarm(
    proxied: tuple[RelayProcess, HostileProxy], ts_peer: TsPeerFactory, tmp_path: Path
) -> None:
    _relay, proxy = proxied
    async with (
        HearthClient(proxy.url, Identity.generate(), store_path=tmp_path / "a.db", live=False) as a,
        HearthClient(proxy.url, Identity.generate(), store_path=tmp_path / "c.db", live=False) as c,
    ):
        room = await a.create_group("Live")
        link = await room.create_invite(max_uses=5)
        await c.join(link)
        carol_id = c.room(room.id).me
        bob = await ts_peer(proxy.url, name="bob", live=True)
        await bob.call("join", link=link)
        await bob.call("send", room=room.id, text="Bob is here")  # the stream is up after this

        async def reattribute(frame: str) -> list[str]:
            data = msgspec.json.decode(frame)
            event = data.get("event") if data.get("type") == "event" else None
            if event and event.get("type") == "msg":
                event["envelope"]["header"]["sender"] = carol_id
            return [msgspec.json.encode(data).decode()]

        proxy.on_frame = reattribute
        await room.send("live, and not from Carol")
        alarm = await bob.call("wait_alarm", room=room.id, kind="bad_message")
        assert alarm["kind"] == "bad_message"
        texts = [m["text"] for m in await bob.call("messages", room=room.id)]
        assert "live, and not from Carol" not in texts
        assert await refused(bob, "send", room=room.id, text="hello?") == "room.blocked"


async def test_replayed_frame_on_the_stream_is_shown_once(
    proxied: tuple[RelayProcess, HostileProxy], ts_peer: TsPeerFactory, tmp_path: Path
) -> None:
    _relay, proxy = proxied
    async with HearthClient(
        proxy.url, Identity.generate(), store_path=tmp_path / "a.db", live=False
    ) as a:
        room = await a.create_group("Live")
        link = await room.create_invite(max_uses=5)
        bob = await ts_peer(proxy.url, name="bob", live=True)
        await bob.call("join", link=link)
        await bob.call("send", room=room.id, text="Bob is here")

        async def twice(frame: str) -> list[str]:
            data = msgspec.json.decode(frame)
            event = data.get("event") if data.get("type") == "event" else None
            if event and event.get("type") == "msg":
                again = msgspec.json.decode(frame)
                again["event"]["seq"] = event["seq"] + 1_000
                return [frame, msgspec.json.encode(again).decode()]
            return [frame]

        proxy.on_frame = twice
        await room.send("said once, heard once")
        alarm = await bob.call("wait_alarm", room=room.id, kind="bad_message")
        assert alarm["code"] == "msg.replay"
        await bob.call("wait_text", room=room.id, text="said once, heard once")
        texts = [m["text"] for m in await bob.call("messages", room=room.id)]
        assert texts.count("said once, heard once") == 1
