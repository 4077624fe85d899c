"""Room-level messages are judged at their place in room order (issue 17, item 9).

A moderation, profile, rules or schedule message counts only if its sender had the
authority at the message's place in the room's event sequence, that is under the
log operations that precede it. The SDK judged them by the sender's role in its
*current* log instead, which runs ahead of the event sequence whenever the client
catches up the log (its own operation conflicted, a re-seal, a restore). So:

- a moderator's mute was dropped by every client whose log already held the
  moderator's later demotion;
- a member's "mute", refused when sent, took effect for every client whose log
  already held the member's later promotion;
- a hostile relay that moved a moderator's mute past the moderator's demotion (and
  past a later promotion back) had it honoured.

The clients run ``live=False`` against a real relay (behind the hostile proxy) and
catch up their log before reading messages, exactly as the SDK does when its own
operation meets a conflict: each client here rotates first.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from client_sdk import HearthClient, Identity
from protocol.api import LogEvent, MessageEvent, RoomEvent, SyncResponse
from protocol.encoding import from_json, to_json
from protocol.ids import MessageId, RoomId
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_trust_invites import People, people, stored_log

__all__ = ["people", "proxied"]


async def _staffed(people: People) -> RoomId:
    """Alice owns the group, Bob moderates, Carol and Dave are members; all synced."""
    room = await people["alice"].create_group("Judged in order")
    await people["bob"].join(await room.create_invite(role="moderator"))
    member_link = await room.create_invite(max_uses=2)
    for name in ("carol", "dave"):
        await people[name].join(member_link)
    for client in people.values():
        await client.sync()
    return room.id


async def _read_with_log_ahead(client: HearthClient, room: RoomId) -> None:
    """Catch the log up first (our rotation conflicts and rebases), then read the events."""
    await client.room(room).rotate()
    await client.sync()


async def test_a_moderators_mute_stands_after_their_later_demotion(people: People) -> None:
    room_id = await _staffed(people)
    carol = people["carol"].room(room_id).me
    bob = people["bob"].room(room_id)
    await bob.mute(carol, "cooling off")
    await people["alice"].room(room_id).set_role(bob.me, "member")

    for name in ("alice", "dave"):
        await _read_with_log_ahead(people[name], room_id)
        room = people[name].room(room_id)
        assert room.members[bob.me] == "member"  # the log is past the demotion
        assert room.muted == frozenset({carol}), name
        assert [e.action for e in room.moderation_history()][:1] == ["mute"]


async def test_a_members_mute_stays_void_after_their_later_promotion(people: People) -> None:
    room_id = await _staffed(people)
    carol = people["carol"].room(room_id)
    dave = people["dave"].room(room_id)
    await carol.mute(dave.me, "not mine to decide")  # a member: everyone ignores it
    await people["alice"].room(room_id).set_role(carol.me, "moderator")

    for name in ("alice", "dave", "bob"):
        await _read_with_log_ahead(people[name], room_id)
        room = people[name].room(room_id)
        assert room.members[carol.me] == "moderator"
        assert room.muted == frozenset(), name
    await dave.send("I was never muted")  # his own SDK agrees


def _move_after(events: list[RoomEvent], message: MessageId, index: int) -> list[RoomEvent] | None:
    """``events`` with ``message`` moved right after the operation at ``index``, renumbered."""
    moving = next(
        (e for e in events if isinstance(e, MessageEvent) and e.envelope.header.id == message),
        None,
    )
    anchor = next(
        (e for e in events if isinstance(e, LogEvent) and e.op.content.index == index), None
    )
    if moving is None or anchor is None:
        return None
    rest = [e for e in events if e is not moving]
    at = rest.index(anchor) + 1
    order = [*rest[:at], moving, *rest[at:]]
    first = events[0].seq
    return [msgspec.structs.replace(e, seq=first + i) for i, e in enumerate(order)]


def _reorder(proxy: HostileProxy, room: RoomId, message: MessageId, index: int) -> None:
    async def hook(method: str, path: str, status: int, body: bytes) -> bytes:
        if method != "POST" or path != "/v1/sync" or status != 200:
            return body
        answer = from_json(body, SyncResponse)
        pages = []
        for page in answer.rooms:
            moved = _move_after(list(page.events), message, index) if page.room == room else None
            pages.append(page if moved is None else msgspec.structs.replace(page, events=moved))
        return to_json(msgspec.structs.replace(answer, rooms=pages))

    proxy.on_response = hook


@pytest.mark.parametrize("fall", ["demoted, then promoted back", "removed"])
async def test_a_moderators_mute_moved_past_their_fall_is_void(
    proxied: tuple[RelayProcess, HostileProxy], people: People, fall: str
) -> None:
    relay, proxy = proxied
    room_id = await _staffed(people)
    alice = people["alice"].room(room_id)
    bob = people["bob"].room(room_id)
    carol = people["carol"].room(room_id).me
    mute = await bob.mute(carol)
    if fall == "removed":
        await alice.remove(bob.me)
    else:
        await alice.set_role(bob.me, "member")
    fell_at = (await stored_log(relay, room_id)).index
    if fall != "removed":
        await alice.set_role(bob.me, "moderator")

    # The relay serves Dave the mute as if it came after the fall.
    _reorder(proxy, room_id, mute, fell_at)
    dave = people["dave"]
    if fall == "removed":
        await dave.sync()  # a new epoch: the message is also stale, and says so
        kinds = {(a.kind, a.code) for a in dave.room(room_id).alarms}
        assert ("bad_message", "msg.stale_epoch") in kinds
    else:
        await _read_with_log_ahead(dave, room_id)
        assert dave.room(room_id).members[bob.me] == "moderator"  # promoted back since
    proxy.reset()
    assert dave.room(room_id).muted == frozenset()
    assert "mute" not in [e.action for e in dave.room(room_id).moderation_history()]


@pytest.mark.parametrize("who", ["moderator demoted later", "member promoted later"])
async def test_history_read_by_a_newcomer_is_judged_at_its_place(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path, people: People, who: str
) -> None:
    # In a room that shares history a newcomer backfills what came before its join,
    # long after any later role change: the log it holds is the current one.
    _, proxy = proxied
    alice = await people["alice"].create_group("Shared past", share_history=True)
    await people["bob"].join(await alice.create_invite(role="moderator"))
    member_link = await alice.create_invite(max_uses=2)
    for name in ("carol", "dave"):
        await people[name].join(member_link)
    for client in people.values():
        await client.sync()
    bob, carol, dave = (people[n].room(alice.id) for n in ("bob", "carol", "dave"))
    if who == "moderator demoted later":
        await bob.mute(carol.me, "cooling off")
        await alice.set_role(bob.me, "member")
        expected = frozenset({carol.me})
    else:
        await carol.mute(dave.me, "not mine to decide")
        await alice.set_role(carol.me, "moderator")
        expected = frozenset()
    await alice.send("before erin")

    async with HearthClient(
        proxy.url, Identity.generate(), store_path=tmp_path / "erin.db", live=False
    ) as erin:
        room = await erin.join(await alice.create_invite())
        await people["alice"].sync()
        await alice.rotate()  # the next member's commit hands Erin the earlier epochs
        await erin.sync()
        texts = [m.text for m in await room.messages(limit=100)]  # backfills the past
        assert "before erin" in texts
        assert room.muted == expected
        assert room.alarms == ()
