"""Moderation, signed and auditable by every member, against a real relay (issue 7, item 3).

Mutes are signed ``moderation`` messages, removals, bans and role changes are
signed log operations, deletions are signed requests with a tombstone: every
member rebuilds the same history from what verified, and every client enforces
a mute (hides the posts; the muted member's own SDK refuses to post).
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest

from client_sdk import (
    InviteError,
    MemberLeft,
    MemberModerated,
    MemberRemoved,
    MessageDeleted,
    MessageReceived,
    PostingMuted,
)
from client_sdk._core.state import RoomState
from protocol.encoding import canonical
from protocol.errors import HearthError
from protocol.messages import ModerationBody
from tests.client_sdk.test_client import OpenClient, group_of_three, open_client, until

__all__ = ["open_client"]


def test_the_moderation_tag_is_stable() -> None:
    body = ModerationBody(action="mute", member="A" * 43, reason="r")
    decoded = msgspec.msgpack.decode(canonical(body))
    assert next(iter(decoded.items())) == ("type", "moderation")
    assert decoded == {"type": "moderation", "action": "mute", "member": "A" * 43, "reason": "r"}


async def test_a_mute_is_enforced_by_every_client_and_every_member_sees_the_history(
    open_client: OpenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    (_a, b, _c), (ra, rb, rc), (wa, wb, wc) = await group_of_three(open_client)
    hello = await rc.send("hello from carol")
    await wa.wait(MessageReceived, lambda e: e.message.id == hello)

    await ra.mute(rb.me, "cooling off")
    for watcher in (wb, wc):
        seen = await watcher.wait(MemberModerated, lambda e: e.action == "mute")
        assert (seen.member, seen.by, seen.reason) == (rb.me, ra.me, "cooling off")
    assert rc.muted == rb.muted == frozenset({rb.me})
    with pytest.raises(PostingMuted) as muted:
        await rb.send("let me speak")
    assert muted.value.code == "room.muted"

    # A modified client posts anyway: the others verify the message and hide it.
    monkeypatch.setattr(RoomState, "require_may_post", lambda self, body: None)
    sneaked = await rb.send("posted by a modified client")
    monkeypatch.undo()
    marker = await ra.send("after the mute")
    await wc.wait(MessageReceived, lambda e: e.message.id == marker)
    await asyncio.sleep(0.2)
    for room in (ra, rc):
        assert sneaked not in [m.id for m in await room.messages(limit=100)]
    assert all(m.message.id != sneaked for m in wc.events if isinstance(m, MessageReceived))
    # A member who is not a moderator cannot mute anyone: the others ignore it.
    await rc.accept_rules()
    await b._driver(rb.id).send(ModerationBody(action="unmute", member=rb.me))
    await rc.mute(ra.me, "not allowed")
    await ra.send("owner still heard")
    await wc.wait(MessageReceived, lambda e: e.message.text == "owner still heard")
    assert ra.muted == rc.muted == frozenset({rb.me})

    await ra.unmute(rb.me)
    await wb.wait(MemberModerated, lambda e: e.action == "unmute")
    back = await rb.send("thanks, I'm calmer now")
    await wc.wait(MessageReceived, lambda e: e.message.id == back)

    await ra.delete(hello)  # a moderator deletes someone else's message
    await wb.wait(MessageDeleted, lambda e: e.message_id == hello)
    await ra.set_role(rc.me, "supporter")

    async def histories_agree() -> bool:
        wanted = ["mute", "unmute", "delete", "role"]
        return all(
            [e.action for e in r.moderation_history() if e.action != "remove"] == wanted
            for r in (ra, rb, rc)
        )

    await until(histories_agree)
    history = rc.moderation_history()
    assert history[0].member == rb.me
    assert history[0].by == ra.me
    assert history[0].reason == "cooling off"
    assert history[2].message_id == hello
    assert history[2].member == rc.me  # whose message the moderator deleted
    assert history[3].role == "supporter"
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert ra.moderation_history() == rb.moderation_history() == history
    assert not ra.alarms
    assert not rb.alarms
    assert not rc.alarms


async def test_every_member_reads_the_same_arrivals_and_departures_from_the_log(
    open_client: OpenClient,
) -> None:
    (_a, _b, _c), (ra, rb, rc), (_wa, wb, _wc) = await group_of_three(open_client)
    await rc.leave()
    await wb.wait(MemberLeft, lambda e: e.member == rc.me)

    async def agreed() -> bool:
        return ra.membership_history() == rb.membership_history() and any(
            e.action == "leave" for e in ra.membership_history()
        )

    await until(agreed)
    history = [(e.action, e.member, e.role) for e in rb.membership_history()]
    assert history[0] == ("join", ra.me, "owner")  # the room's creation
    assert ("join", rb.me, "member") in history or ("add", rb.me, "member") in history
    assert history[-1] == ("leave", rc.me, "member")
    at = [e.at for e in rb.membership_history()]
    assert at == sorted(at)


async def test_a_ban_removes_records_and_refuses_readmission(open_client: OpenClient) -> None:
    (_a, _b, c), (ra, rb, rc), (_wa, wb, _wc) = await group_of_three(open_client)
    spare = await ra.create_invite(max_uses=5)
    await ra.ban(rc.me, "harassment")
    await wb.wait(MemberRemoved, lambda e: e.member == rc.me)
    banned = await wb.wait(MemberModerated, lambda e: e.action == "ban")
    assert (banned.member, banned.by, banned.reason) == (rc.me, ra.me, "harassment")
    with contextlib.suppress(HearthError):
        await c.sync()  # the relay may stop serving carol before she reads the removal
    assert rc.status in {"removed", "unreachable"}
    assert rc.me not in ra.members
    assert ra.banned == rb.banned == frozenset({rc.me})
    history = rb.moderation_history()
    assert [(e.action, e.member, e.reason) for e in history] == [("ban", rc.me, "harassment")]

    # Carol's own SDK refuses to use an invite to the room that banned her.
    with pytest.raises(InviteError) as refused:
        await c.join(spare)
    assert refused.value.code == "invite.banned"

    # A fresh store (no memory of the ban) reads the log with the spare invite: the
    # ban is in the log, so the join is refused before anything is signed.
    c2 = await open_client(c.identity, "c-fresh")
    with pytest.raises(InviteError) as refused:
        await c2.join(spare)
    assert refused.value.code == "invite.banned"
    assert rc.me not in ra.members

    # Lifting the ban lets the same invite admit her again.
    await ra.unban(rc.me)
    await wb.wait(MemberModerated, lambda e: e.action == "unban")
    again = await c2.join(spare)
    await until(lambda: _is(rc.me in rb.members))
    assert again.status == "active"
    assert [e.action for e in rb.moderation_history()] == ["ban", "unban"]
    assert not ra.alarms
    assert not rb.alarms


async def _is(value: bool) -> bool:
    return value


async def test_a_moderators_own_mute_is_announced_once_on_their_own_device(
    open_client: OpenClient,
) -> None:
    # The moderator's timeline gets the line too (issue 19: the timeline tells the
    # truth): the mute is applied as it is sent, so the relay's echo announces
    # nothing, and before this the moderator's own app never heard of it.
    (_a, _b, _c), (ra, rb, rc), (wa, _wb, _wc) = await group_of_three(open_client)
    await ra.mute(rb.me, "cooling off")
    mine = await wa.wait(MemberModerated, lambda e: e.action == "mute")
    assert (mine.member, mine.by, mine.reason) == (rb.me, ra.me, "cooling off")
    assert mine.by_name == ra.member(ra.me).label
    assert mine.by_role == "owner"
    # Everything after the mute in room order has arrived: so has the mute's echo.
    marker = await rc.send("after the mute")
    await wa.wait(MessageReceived, lambda e: e.message.id == marker)
    mutes = [e for e in wa.events if isinstance(e, MemberModerated) and e.action == "mute"]
    assert len(mutes) == 1
