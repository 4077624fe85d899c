"""The trust work's attacks (issue 17) played against the TypeScript SDK.

As ``tests/interop/test_hostile_relay_ts.py``: the same proxy in front of a real
``hearth serve`` and the same forged operations as ``tests/security``, with Bob on
the TypeScript SDK as the member the relay lies to. He must refuse:

- a withholding the relay excuses with statements it made up (a deletion
  placeholder nothing signed backs, an erasure nobody signed, a low-water mark in a
  room that keeps everything): the ``withheld`` alarm, code ``msg.withheld``, while
  a genuine signed deletion raises nothing;
- a stale invite: a join with a moderator's invite after that moderator was
  removed (``log.bad_invite``), and a banned key's join (``log.banned``), which the
  relay accepted and serves anyway;
- the zero key: a join binding a small-order X25519 key, which would freeze every
  later commit (``log.bad_key``).
"""

from __future__ import annotations

from client_sdk._invite_links import parse_invite
from protocol import RootSeed
from protocol.api import ErasedEvent, LogEvent, MessageEvent, RemovedEvent, RoomEvent
from protocol.ids import RoomId
from protocol.ops import SignedOp
from tests.interop.conftest import TsPeer
from tests.interop.test_hostile_relay_ts import World, group, kinds, refused, world
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_hostile_relay import _now_ms, _serve_sync, _stored_log
from tests.security.test_trust_keys import join_binding
from tests.security.test_trust_withholding import _serve_sync as serve_sync

__all__ = ["proxied", "world"]


async def texts(bob: TsPeer, room: RoomId) -> list[str]:
    return [m["text"] for m in await bob.call("messages", room=room)]


async def assert_withheld(bob: TsPeer, room: RoomId) -> None:
    alarms = await bob.call("alarms", room=room)
    assert {a["code"] for a in alarms if a["kind"] == "withheld"} == {"msg.withheld"}, alarms
    assert await refused(bob, "send", room=room, text="is anyone there?") == "room.blocked"


async def bob_heard_one(world: World, *more: str) -> tuple[RoomId, dict[str, int]]:
    """Alice and Bob in a group; Bob has read "one"; Alice then says ``more``."""
    _relay, _proxy, people, bob = world
    room = await group(people, bob, carol=False)
    alice = people["alice"].room(room)
    await alice.send("one")
    await bob.call("sync")
    for text in more:
        await alice.send(text)
    return room, {m.text: m.seq for m in await alice.messages(limit=100)}


# -- withholding excused by made-up statements -------------------------------------------


async def test_a_placeholder_no_signed_deletion_backs_raises_withheld(world: World) -> None:
    _relay, proxy, _people, bob = world
    room, seqs = await bob_heard_one(world, "two", "three")

    def hide_two(_room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for e in events:
            if isinstance(e, MessageEvent) and e.seq == seqs["two"]:
                h = e.envelope.header
                by = seqs["three"]
                out.append(RemovedEvent(seq=e.seq, ts=e.ts, id=h.id, sender=h.sender, by=by))
            else:
                out.append(e)
        return out

    serve_sync(proxy, hide_two)
    await bob.call("sync")
    proxy.reset()
    assert await texts(bob, room) == ["one", "three"]
    await assert_withheld(bob, room)


async def test_an_erasure_alice_did_not_sign_raises_withheld(world: World) -> None:
    _relay, proxy, people, bob = world
    room, seqs = await bob_heard_one(world, "two", "three", "four")
    me = people["alice"].room(room).me

    def erase_alice(_room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for e in events:
            if isinstance(e, MessageEvent) and e.seq == seqs["two"]:
                h = e.envelope.header
                out.append(RemovedEvent(seq=e.seq, ts=e.ts, id=h.id, sender=me, by=seqs["three"]))
            elif isinstance(e, MessageEvent) and e.seq == seqs["three"]:
                out.append(ErasedEvent(seq=e.seq, ts=e.ts, member=me, through=seqs["two"]))
            else:
                out.append(e)
        return out

    serve_sync(proxy, erase_alice)
    await bob.call("sync")
    proxy.reset()
    assert await texts(bob, room) == ["one", "four"]
    await assert_withheld(bob, room)


async def test_a_low_water_mark_in_a_room_without_retention_raises_withheld(
    world: World,
) -> None:
    _relay, proxy, _people, bob = world
    room, seqs = await bob_heard_one(world, "two", "three", "four")
    gone = {seqs["two"], seqs["three"]}
    serve_sync(
        proxy, lambda _r, events: [e for e in events if e.seq not in gone], low_water=seqs["three"]
    )
    await bob.call("sync")
    proxy.reset()
    assert await texts(bob, room) == ["one", "four"]
    await assert_withheld(bob, room)


async def test_a_signed_deletion_raises_nothing(world: World) -> None:
    _relay, _proxy, people, bob = world
    room, _ = await bob_heard_one(world, "two", "three")
    alice = people["alice"].room(room)
    two = next(m for m in await alice.messages() if m.text == "two")
    await alice.delete(two.id)
    await bob.call("sync")
    assert await texts(bob, room) == ["one", "three"]
    assert await bob.call("alarms", room=room) == []
    await bob.call("send", room=room, text="still here")


# -- operations a relay accepted that no member may --------------------------------------


def serve_op(proxy: HostileProxy, room_id: RoomId, op: SignedOp) -> None:
    """The relay serves ``op`` as the room's next log event, as if it had accepted it."""

    def inject(room: RoomId, events: list[RoomEvent]) -> list[RoomEvent]:
        if room != room_id:
            return events
        seq = max([0, *(e.seq for e in events)]) + 1_000
        return [*events, LogEvent(seq=seq, ts=_now_ms(), op=op)]

    _serve_sync(proxy, inject)


async def assert_refused_op(bob: TsPeer, room: RoomId, code: str, intruder: str) -> None:
    await bob.call("sync")
    alarms = {(a["kind"], a["code"]) for a in await bob.call("alarms", room=room)}
    assert ("log_invalid", code) in alarms, alarms
    assert intruder not in await bob.call("members", room=room)
    assert await refused(bob, "send", room=room, text="to whom?") == "room.blocked"


async def test_a_join_with_a_removed_moderators_invite_is_refused(world: World) -> None:
    relay, proxy, people, bob = world
    alice = await people["alice"].create_group("Trust at the edges")
    carol = await people["carol"].join(await alice.create_invite(role="moderator"))
    await bob.call("join", link=await alice.create_invite())
    stale = await carol.create_invite(max_uses=3, role="moderator")
    await alice.remove(carol.me)
    await bob.call("sync")
    assert await bob.call("alarms", room=alice.id) == []
    log, _ = await _stored_log(relay, alice.id)
    intruder = RootSeed.generate().room_keys(alice.id)
    join = join_binding(log, intruder, parse_invite(stale)[1], intruder.box_public)
    serve_op(proxy, alice.id, join)
    await assert_refused_op(bob, alice.id, "log.bad_invite", intruder.member)


async def test_a_banned_keys_join_served_anyway_is_refused(world: World) -> None:
    relay, proxy, people, bob = world
    alice = await people["alice"].create_group("Trust at the edges")
    await people["carol"].join(await alice.create_invite())
    await bob.call("join", link=await alice.create_invite())
    carol = people["carol"].identity.room_keys(alice.id)
    await alice.ban(carol.member, "harassment")
    fresh = await alice.create_invite(max_uses=5)
    await bob.call("sync")
    assert await bob.call("alarms", room=alice.id) == []
    log, _ = await _stored_log(relay, alice.id)
    join = join_binding(log, carol, parse_invite(fresh)[1], carol.box_public)
    serve_op(proxy, alice.id, join)
    await assert_refused_op(bob, alice.id, "log.banned", carol.member)


async def test_a_join_binding_the_zero_key_is_refused(world: World) -> None:
    relay, proxy, people, bob = world
    room = await group(people, bob, carol=False)
    link = await people["alice"].room(room).create_invite()
    log, _ = await _stored_log(relay, room)
    mallory = RootSeed.generate().room_keys(room)
    join = join_binding(log, mallory, parse_invite(link)[1], bytes(32))
    serve_op(proxy, room, join)
    await assert_refused_op(bob, room, "log.bad_key", mallory.member)
    assert "log_invalid" in await kinds(bob, room)
