"""A program request claimed, and a device linked, across languages (issue 21, item 3).

The Python SDK runs in the test's own event loop; the TypeScript SDK is a person in
a Node process (``tests/interop/conftest.py``'s peer), both on one real ``hearth
serve``. A program's queue, a claim and its sealed invite, the requester's own join
of the buddy chat, and the conversation there must work whichever SDK asks and
whichever claims; a device link must move the root whichever SDK offers it, and the
new device must take up the same rooms with their history and talk in them as the
same member.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from client_sdk import HearthClient, Identity, MessageReceived, Room, SupportClaimed
from protocol.ids import MessageId, RoomId
from tests.client_sdk.conftest import RelayProcess, relay
from tests.client_sdk.test_client import Watcher, until
from tests.interop.conftest import PeerError, TsPeerFactory

__all__ = ["relay"]

ASK = "panic attacks before every shift at the warehouse"


class Opener:
    """Python SDK clients on the test's relay, closed at the end of the test."""

    def __init__(self, stack: AsyncExitStack, relay: RelayProcess, tmp_path: Path) -> None:
        self.stack = stack
        self.relay = relay
        self.tmp_path = tmp_path
        self.count = 0

    async def __call__(self, identity: Identity | None = None) -> HearthClient:
        self.count += 1
        client = HearthClient(
            self.relay.url,
            identity or Identity.generate(),
            store_path=self.tmp_path / f"py-{self.count}.db",
            reconnect_delay=(0.05, 0.5),
        )
        return await self.stack.enter_async_context(client)


@pytest.fixture
async def opener(relay: RelayProcess, tmp_path: Path) -> AsyncIterator[Opener]:
    async with AsyncExitStack() as stack:
        yield Opener(stack, relay, tmp_path)


async def _members(room: Room, count: int) -> None:
    async def enough() -> bool:
        return len(room.members) == count

    await until(enough, timeout=20)


async def test_a_python_supporter_claims_a_typescript_members_request(
    relay: RelayProcess, opener: Opener, ts_peer: TsPeerFactory
) -> None:
    owner = await opener()
    supporter = await opener()
    member = await ts_peer(relay.url, name="member")
    program = await owner.create_program("Shift workers' circle")
    supporter_room = await supporter.join(await program.create_invite(max_uses=1, role="supporter"))
    joined = RoomId(await member.call("join", link=await program.create_invite(max_uses=1)))
    assert joined == program.id
    await _members(supporter_room, 3)
    await supporter_room.set_availability(True, max_open=2)

    # The TypeScript member asks; the Python supporter reads the text, sealed to it.
    request = MessageId(await member.call("request_support", room=program.id, text=ASK))
    await supporter.sync()
    view = supporter_room.support_request(request)
    assert (view.text, view.status, view.position) == (ASK, "waiting", 1)
    assert program.support_request(request).text is None  # the owner is no supporter

    # The Python supporter claims: the TypeScript SDK verifies the claim, opens the
    # sealed invite and joins the buddy chat by itself.
    buddy = await supporter_room.claim(request)
    assert buddy.kind == "buddy"
    await _members(buddy, 2)  # before the app asks: the SDK's own join
    theirs = RoomId(await member.call("wait_claimed", room=program.id, request=request))
    assert theirs == buddy.id
    members = await member.call("members", room=buddy.id)
    assert members == {buddy.me: "owner", await member.call("me", room=buddy.id): "member"}

    # Both land in the buddy chat and talk, both ways.
    watcher = Watcher(supporter)
    await buddy.send("I'm here. What happens before a shift?")
    got = await member.call(
        "wait_text", room=buddy.id, text="I'm here. What happens before a shift?"
    )
    assert got["sender"] == buddy.me
    await member.call("send", room=buddy.id, text="my chest gets tight in the car park")
    heard = await watcher.wait(
        MessageReceived, lambda e: e.message.text == "my chest gets tight in the car park"
    )
    assert heard.room_id == buddy.id
    assert await member.call("alarms", room=buddy.id) == []
    assert await member.call("alarms", room=program.id) == []
    assert not buddy.alarms


async def test_a_typescript_supporter_claims_a_python_members_request(
    relay: RelayProcess, opener: Opener, ts_peer: TsPeerFactory
) -> None:
    owner = await opener()
    requester = await opener()
    supporter = await ts_peer(relay.url, name="supporter")
    program = await owner.create_program("Grief and recovery")
    link = await program.create_invite(max_uses=1, role="supporter")
    assert RoomId(await supporter.call("join", link=link)) == program.id
    mine = await requester.join(await program.create_invite(max_uses=1))
    await _members(mine, 3)
    await supporter.call("sync")
    await supporter.call("set_availability", room=program.id, available=True, max_open=1)
    watcher = Watcher(requester)

    # A request the TypeScript supporter reads, then claims.
    request = await mine.request_support(ASK)
    assert request.position == 1
    await supporter.call("sync")
    buddy_id = RoomId(await supporter.call("claim", room=program.id, request=request.id))

    # The Python requester's SDK verifies the TypeScript claim and joins by itself.
    claimed = await watcher.wait(SupportClaimed, lambda e: e.request_id == request.id)
    assert claimed.buddy_room_id == buddy_id
    assert claimed.supporter == await supporter.call("me", room=program.id)

    async def joined() -> bool:
        return len(await supporter.call("members", room=buddy_id)) == 2

    await until(joined, timeout=20)  # before the app asks: the SDK's own join
    chat = await mine.buddy_chat(request.id)
    assert chat.id == buddy_id
    await _members(chat, 2)
    supporter_me = await supporter.call("me", room=buddy_id)
    assert chat.members[supporter_me] == "owner"
    await owner.sync()
    assert program.support_request(request.id).status == "claimed"
    # A second claim of a taken request is refused with Python's code.
    with pytest.raises(PeerError) as taken:
        await supporter.call("claim", room=program.id, request=request.id)
    assert taken.value.code in {"support.taken", "support.at_capacity"}

    await supporter.call("send", room=buddy_id, text="Hi, I'm here. Take your time.")
    await watcher.wait(MessageReceived, lambda e: e.message.text == "Hi, I'm here. Take your time.")
    await chat.send("thank you")
    got = await supporter.call("wait_text", room=buddy_id, text="thank you")
    assert got["sender"] == chat.me
    assert not chat.alarms
    assert await supporter.call("alarms", room=buddy_id) == []


async def test_a_python_device_links_a_typescript_device_of_the_same_person(
    relay: RelayProcess, opener: Opener, ts_peer: TsPeerFactory
) -> None:
    alice = Identity.generate()
    phone = await opener(alice)
    bob = await opener()
    phone_events = Watcher(phone)
    room = await phone.create_group("Evening circle")
    bob_room = await bob.join(await room.create_invite(max_uses=1))
    await _members(bob_room, 2)
    await room.send("before the laptop")
    await bob_room.send("hi alice")
    await phone_events.wait(MessageReceived, lambda e: e.message.text == "hi alice")

    offer = await phone.offer_device_link()
    laptop = await ts_peer(relay.url, name="laptop", link=offer.code.lower())
    assert laptop.short_code is not None
    assert await offer.claimant_code(timeout=30) == laptop.short_code
    await offer.confirm()
    await laptop.finish_link()
    assert laptop.phrase == alice.recovery_phrase

    # The TypeScript device takes up the same room, with its history, as the same member.
    await laptop.call("sync")
    assert room.id in await laptop.call("rooms")
    assert await laptop.call("me", room=room.id) == room.me
    texts = [m["text"] for m in await laptop.call("messages", room=room.id)]
    assert {"before the laptop", "hi alice"} <= set(texts)
    await laptop.call("send", room=room.id, text="from the laptop")
    heard = await phone_events.wait(MessageReceived, lambda e: e.message.text == "from the laptop")
    assert (heard.message.sender, heard.message.mine) == (room.me, True)
    await bob_room.send("welcome, laptop")
    got = await laptop.call("wait_text", room=room.id, text="welcome, laptop")
    assert got["mine"] is False
    assert await laptop.call("alarms", room=room.id) == []
    assert not room.alarms
    assert not bob_room.alarms

    # The code is spent.
    with pytest.raises(PeerError) as used:
        await ts_peer(relay.url, name="thief", link=offer.code)
    assert used.value.code == "link.used"


async def test_a_typescript_device_links_a_python_device_of_the_same_person(
    relay: RelayProcess, opener: Opener, ts_peer: TsPeerFactory, tmp_path: Path
) -> None:
    phone = await ts_peer(relay.url, name="phone")
    bob = await opener()
    room_id = RoomId(await phone.call("create_group", name="Evening circle"))
    bob_room = await bob.join(await phone.call("invite", room=room_id, max_uses=1))
    await _members(bob_room, 2)
    await phone.call("send", room=room_id, text="before the laptop")
    await bob_room.send("hi alice")
    await phone.call("wait_text", room=room_id, text="hi alice")

    code = await phone.call("offer_device_link")
    pending = await HearthClient.begin_device_link(
        relay.url, code, store_path=tmp_path / "laptop.db", reconnect_delay=(0.05, 0.5)
    )
    assert await phone.call("link_code") == pending.short_code
    await phone.call("confirm_link")
    laptop = await pending.finish(timeout=30)
    assert laptop.identity.recovery_phrase == phone.phrase

    async with laptop:
        watcher = Watcher(laptop)
        await laptop.sync()
        assert room_id in [r.id for r in laptop.rooms]
        laptop_room = laptop.room(room_id)
        assert laptop_room.me == await phone.call("me", room=room_id)
        texts = [m.text for m in await laptop_room.messages(limit=100)]
        assert {"before the laptop", "hi alice"} <= set(texts)
        await laptop_room.send("from the laptop")
        got = await phone.call("wait_text", room=room_id, text="from the laptop")
        assert (got["sender"], got["mine"]) == (laptop_room.me, True)
        await bob_room.send("welcome, laptop")
        await watcher.wait(MessageReceived, lambda e: e.message.text == "welcome, laptop")
        assert not laptop_room.alarms
        assert await phone.call("alarms", room=room_id) == []
    assert not bob_room.alarms


async def test_a_refused_link_moves_nothing_across_languages(
    relay: RelayProcess, opener: Opener, ts_peer: TsPeerFactory
) -> None:
    phone = await opener()
    offer = await phone.offer_device_link()
    laptop = await ts_peer(relay.url, name="laptop", link=offer.code)
    assert await offer.claimant_code(timeout=30) == laptop.short_code
    await offer.refuse()
    with pytest.raises(PeerError) as refused:
        await laptop.finish_link()
    assert refused.value.code == "link.refused"
