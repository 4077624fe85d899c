"""Content warnings, replies, reactions and personal blocking, against a real relay
(issue 7, item 7).

Everything goes through the public SDK between real clients with their own
stores: a warned message reaches the others collapsed with no text until they
open it (and stays open on that device only); replies and reactions reach every
member; a block hides the blocked key's words on the blocker's device (events
and ``room.messages``), survives a restart, makes the SDK refuse a buddy
chat with that key, and hides the key's support requests in a program.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from client_sdk import (
    BlockError,
    Identity,
    InviteError,
    MemberRemoved,
    MessageEdited,
    MessageReceived,
    PersonalDataChanged,
    ReactionChanged,
    SupportClaimed,
    SupportRequested,
)
from tests.client_sdk.conftest import RelayProcess, link_device
from tests.client_sdk.test_client import (
    OpenClient,
    Watcher,
    _async,
    group_of_three,
    open_client,
    until,
)
from tests.client_sdk.test_formats_programs import program_of, synced

__all__ = ["open_client"]


async def test_a_warned_message_stays_collapsed_until_this_device_opens_it(
    open_client: OpenClient, tmp_path: Path
) -> None:
    ana_id, ben_id = Identity.generate(), Identity.generate()
    ana = await open_client(ana_id, "ana")
    ben = await open_client(ben_id, "ben")
    wben = Watcher(ben)
    room = await ana.create_group("Grief circle")
    ben_room = await ben.join(await room.create_invite())
    warned = await room.send("My dad died on Sunday.", content_warning="death, grief")

    got = (await wben.wait(MessageReceived, lambda e: e.message.id == warned)).message
    assert got.collapsed
    assert got.text == ""  # nothing to show by mistake
    assert got.content_warning == "death, grief"
    # The sender's own copy is never collapsed.
    (mine,) = await room.messages()
    assert (mine.collapsed, mine.text) == (False, "My dad died on Sunday.")

    opened = await ben_room.reveal(warned)
    assert (opened.collapsed, opened.text) == (False, "My dad died on Sunday.")
    assert (await ben_room.messages())[0].text == "My dad died on Sunday."
    # An edit keeps the choice this device made.
    await room.edit(warned, "My dad died on Sunday night.")
    edited = await wben.wait(MessageEdited)
    assert (edited.message.collapsed, edited.message.text) == (
        False,
        "My dad died on Sunday night.",
    )

    # The choice is kept in Ben's store: after a restart the message is still open.
    await ben.close()
    again = await open_client(ben_id, "ben")
    (kept,) = await again.room(ben_room.id).messages()
    assert (kept.collapsed, kept.text) == (False, "My dad died on Sunday night.")
    closed = await again.room(ben_room.id).collapse(warned)
    assert (closed.collapsed, closed.text) == (True, "")
    assert (await again.room(ben_room.id).messages())[0].collapsed
    with pytest.raises(KeyError):
        await again.room(ben_room.id).reveal(room.id)  # no such message

    # Only the reveal flag changed on disk: the text stays encrypted at rest.
    with sqlite3.connect(tmp_path / "ben.db") as db:
        blobs = [bytes(r[0]) for r in db.execute("SELECT body FROM messages")]
    assert blobs
    assert not any(b"Sunday" in b or b"grief" in b for b in blobs)


async def test_replies_and_reactions_reach_every_member(open_client: OpenClient) -> None:
    _, (ra, rb, rc), (wa, wb, wc) = await group_of_three(open_client)
    first = await ra.send("How is everyone this week?")
    await wb.wait(MessageReceived, lambda e: e.message.id == first)
    reply = await rb.send("Better than last week.", reply_to=first)
    got = await wc.wait(MessageReceived, lambda e: e.message.id == reply)
    assert got.message.reply_to == first

    await rb.react(first, "💛")
    await rc.react(first, "💛")
    await rc.react(first, "🙏")
    await rc.react(first, "🙏")  # twice changes nothing
    change = await wa.wait(ReactionChanged, lambda e: e.emoji == "🙏")
    assert change.member == rc.me
    assert not change.removed
    await until(lambda: _reactions_are(ra, {"💛": {rb.me, rc.me}, "🙏": {rc.me}}))
    await until(lambda: _reactions_are(rb, {"💛": {rb.me, rc.me}, "🙏": {rc.me}}))

    await rc.unreact(first, "💛")
    removed = await wa.wait(ReactionChanged, lambda e: e.removed)
    assert (removed.member, removed.emoji) == (rc.me, "💛")
    for room in (ra, rb, rc):
        await until(
            lambda room=room: _reactions_are(room, {"💛": {rb.me}, "🙏": {rc.me}})  # type: ignore[misc]
        )
    assert len([e for e in wa.events if isinstance(e, ReactionChanged)]) == 4


async def _reactions_are(room: object, expected: dict[str, set[str]]) -> bool:
    messages = await room.messages()  # type: ignore[attr-defined]
    first = messages[0]
    return {e: set(who) for e, who in first.reactions.items()} == expected


async def test_a_block_hides_the_key_on_the_blockers_device_only(
    open_client: OpenClient, tmp_path: Path
) -> None:
    (a, _, _), (ra, rb, rc), (wa, wb, _) = await group_of_three(open_client)
    mine = await ra.send("Checking in.")
    await a.block(rc.me)
    assert a.blocked == {rc.me}

    hidden = await rc.send("You are all pathetic.")
    await rc.react(mine, "👎")
    shown = await rb.send("Thanks for checking in.")
    # Ben sees both; Ana's device shows only Ben's words.
    await wb.wait(MessageReceived, lambda e: e.message.id == hidden)
    await wa.wait(MessageReceived, lambda e: e.message.id == shown)
    await wb.wait(ReactionChanged)
    await rb.react(mine, "💛")
    await wa.wait(ReactionChanged)
    assert not any(
        isinstance(e, MessageReceived | ReactionChanged)
        and (getattr(e, "member", None) == rc.me or e.message.sender == rc.me)
        for e in wa.events
    )
    assert [m.text for m in await ra.messages()] == ["Checking in.", "Thanks for checking in."]
    assert (await ra.messages())[0].reactions == {"💛": (rb.me,)}
    assert [m.text for m in await rb.messages()] == [
        "Checking in.",
        "You are all pathetic.",
        "Thanks for checking in.",
    ]
    # ``limit`` counts shown messages: a page is not eaten by hidden ones.
    assert [m.text for m in await ra.messages(limit=1)] == ["Thanks for checking in."]

    # The block list is the personal store's encrypted ``blocked`` document, and
    # survives a restart.
    assert await a.personal.blocked.list() == [rc.me]
    ana_id = a.identity
    await a.close()
    with sqlite3.connect(tmp_path / "a.db") as db:
        (base, local) = db.execute(
            "SELECT base, local FROM personal WHERE name = 'blocked'"
        ).fetchone()
    assert rc.me.encode() not in bytes(base) + bytes(local)
    a = await open_client(ana_id, "a")
    assert a.blocked == {rc.me}
    ra = a.room(ra.id)
    assert len(await ra.messages()) == 2

    # Unblocking shows what was stored meanwhile.
    await a.unblock(rc.me)
    assert a.blocked == frozenset()
    assert [m.text for m in await ra.messages()] == [
        "Checking in.",
        "You are all pathetic.",
        "Thanks for checking in.",
    ]
    assert (await ra.messages())[0].reactions == {"👎": (rc.me,), "💛": (rb.me,)}

    with pytest.raises(BlockError) as bad:
        await a.block("not a key")
    assert bad.value.code == "block.bad_member"
    with pytest.raises(BlockError) as own:
        await a.block(ra.me)
    assert own.value.code == "block.self"


async def test_the_sdk_refuses_a_buddy_chat_with_a_blocked_key(open_client: OpenClient) -> None:
    ana = await open_client(Identity.generate(), "ana")
    ben = await open_client(Identity.generate(), "ben")
    # Ben asked for a buddy chat; Ana joined, then blocked him and left.
    chat = await ben.create_buddy_chat("Ben & Ana")
    ana_chat = await ana.join(await chat.create_invite())
    ben_key = chat.me
    await ana.block(ben_key)
    await ana_chat.leave()
    await until(lambda: _async(len(chat.members) == 1))
    # A new invitation from the blocked key is refused before anything is signed.
    with pytest.raises(InviteError) as refused:
        await ana.join(await chat.create_invite())
    assert refused.value.code == "invite.blocked"
    assert len(chat.members) == 1


async def test_a_blocked_key_joining_our_buddy_chat_is_removed(open_client: OpenClient) -> None:
    ana = await open_client(Identity.generate(), "ana")
    ben = await open_client(Identity.generate(), "ben")
    wana = Watcher(ana)
    chat = await ana.create_buddy_chat("Ana & Ben")
    link = await chat.create_invite(max_uses=2)
    ben_chat = await ben.join(link)
    await ana.block(ben_chat.me)
    await ben_chat.leave()
    await until(lambda: _async(len(chat.members) == 1))
    # Ben comes back with the spare use of the old link: Ana's SDK, the owner,
    # refuses the request by removing the key at once.
    await ben.join(link)
    removed = await wana.wait(MemberRemoved, lambda e: e.member == ben_chat.me)
    assert removed.by == chat.me
    await until(lambda: _async(ben_chat.me not in chat.members))


async def test_a_block_made_on_one_device_applies_on_the_other(
    open_client: OpenClient, relay: RelayProcess, tmp_path: Path
) -> None:
    (a, _, _), (ra, rb, rc), (_, wb, _) = await group_of_three(open_client)
    laptop = await link_device(a, relay.url, tmp_path / "laptop.db", reconnect_delay=(0.05, 0.5))
    async with laptop:
        wlaptop = Watcher(laptop)
        await laptop.sync()
        laptop_room = laptop.room(ra.id)
        await a.block(rc.me)
        # The other device learns it from the personal store, then filters by it.
        await wlaptop.wait(PersonalDataChanged, lambda e: e.document == "blocked")
        assert laptop.blocked == {rc.me}
        hidden = await rc.send("only Ben should see this")
        shown = await rb.send("and everyone this")
        await wb.wait(MessageReceived, lambda e: e.message.id == hidden)
        await wlaptop.wait(MessageReceived, lambda e: e.message.id == shown)
        assert not any(
            isinstance(e, MessageReceived) and e.message.id == hidden for e in wlaptop.events
        )
        assert hidden not in {m.id for m in await laptop_room.messages()}
        await laptop.unblock(rc.me)
        await until(lambda: _async(a.blocked == frozenset()))


async def test_blocks_apply_to_support_requests_and_claims(open_client: OpenClient) -> None:
    p = await program_of(open_client)
    s1_client, m2_client = p.clients[1], p.clients[4]
    await p.s1.set_availability(True)
    await s1_client.block(p.m1.me)  # the supporter blocks one member
    await m2_client.block(p.s1.me)  # another member blocks the supporter

    r1 = await p.m1.request_support("the blocked member asks")
    r2 = await p.m2.request_support("another member asks")
    await p.watchers[1].wait(SupportRequested, lambda e: e.request.id == r2.id)
    await p.watchers[2].wait(SupportRequested, lambda e: e.request.id == r1.id)
    await synced(*p.rooms)
    # s1 does not see m1's request; s2 does, and the queue is the same everywhere.
    assert not any(
        isinstance(e, SupportRequested) and e.request.id == r1.id for e in p.watchers[1].events
    )
    assert [r.id for r in p.s1.support_queue] == [r2.id]
    assert p.s1.queue_position(r2.id) == 2
    assert [r.id for r in p.s2.support_queue] == [r1.id, r2.id]

    # s1 claims m2's request: m2 blocked s1, so m2's SDK does not join the chat.
    buddy = await p.s1.claim(r2.id)
    await p.watchers[4].wait(SupportClaimed, lambda e: e.request_id == r2.id)
    with pytest.raises(InviteError) as refused:
        await p.m2.buddy_chat(r2.id)
    assert refused.value.code == "invite.blocked"
    assert buddy.id not in {r.id for r in m2_client.rooms}
    assert len(buddy.members) == 1
