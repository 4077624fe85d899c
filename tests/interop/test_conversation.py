"""A conversation across languages: the Python SDK and the TypeScript SDK in one room.

Alice uses the Python SDK in the test's own event loop; Bob uses the TypeScript SDK
(``tests/interop/conftest.py``'s peer, ``js/sdk/scripts/peer.mjs``), both through one
real ``hearth serve``. Whoever creates the room, the other joins it from an invite
link, accepts its rules and talks back; both then read the same history (ids,
senders, texts, replies, content warnings), compute the same safety numbers and
room fingerprint, and a removal made in one language keeps the removed member of the
other out of everything said afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from client_sdk import (
    Event,
    HearthClient,
    Identity,
    MessageReceived,
    Room,
    RoomInactive,
)
from protocol.ids import MessageId, RoomId
from tests.client_sdk.conftest import RelayProcess, client_of, relay
from tests.interop.conftest import PeerError, TsPeer, TsPeerFactory
from tests.interop.peer import message_json

__all__ = ["relay"]

E = TypeVar("E")


class Person:
    """A Python SDK user and the events their client raised."""

    def __init__(self, client: HearthClient) -> None:
        self.client = client
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.client.events():
            self.events.append(event)
            self._changed.set()

    async def wait(
        self, kind: type[E], pred: Callable[[E], bool] = lambda _: True, timeout: float = 20
    ) -> E:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if isinstance(event, kind) and pred(event):
                        return event
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def alice(relay: RelayProcess, tmp_path: Path) -> AsyncIterator[Person]:
    async with HearthClient(
        relay.url, Identity.generate(), store_path=tmp_path / "alice.db"
    ) as client:
        yield Person(client)


@pytest.fixture
async def bob(relay: RelayProcess, ts_peer: TsPeerFactory) -> TsPeer:
    return await ts_peer(relay.url, name="bob")


async def same_history(room: Room, bob: TsPeer) -> list[dict[str, Any]]:
    """Both sides hold the same messages, as each shows them; return Bob's."""
    theirs: list[dict[str, Any]] = await bob.call("messages", room=room.id)
    mine = [message_json(m) for m in await room.messages(limit=200)]
    fields = ("id", "sender", "reply_to", "content_warning", "edited", "seq")
    assert [{k: m[k] for k in fields} for m in theirs] == [{k: m[k] for k in fields} for m in mine]
    bob_me = await bob.call("me", room=room.id)
    for m, t in zip(mine, theirs, strict=True):
        assert t["mine"] == (m["sender"] == bob_me)
        if m["content_warning"] is None or m["mine"] == t["mine"]:
            assert t["text"] == m["text"]  # no warning (or both senders): the same words
    return theirs


async def read_by_both(room: Room, bob: TsPeer, message: MessageId, text: str) -> None:
    """A message behind a content warning: collapsed for its reader, the same words once opened."""
    mine = next(m for m in await room.messages(limit=200) if m.id == message)
    theirs = next(m for m in await bob.call("messages", room=room.id) if m["id"] == message)
    reader_side = theirs if mine.mine else message_json(mine)
    assert reader_side["text"] == ""  # collapsed until the reader opens it
    opened = (
        await bob.call("reveal", room=room.id, message=message)
        if mine.mine
        else message_json(await room.reveal(message))
    )
    assert opened["text"] == text
    assert opened["content_warning"] == mine.content_warning


async def test_python_creates_typescript_joins(alice: Person, bob: TsPeer) -> None:
    room = await alice.client.create_group("Across languages", rules="Be kind.")
    link = await room.create_invite(max_uses=2, expires_in=3600)
    assert RoomId(await bob.call("join", link=link)) == room.id
    await bob.call("accept_rules", room=room.id)
    me = await bob.call("me", room=room.id)

    welcome = await room.send("Welcome, Bob!")
    heard = await bob.call("wait_text", room=room.id, text="Welcome, Bob!")
    assert heard["id"] == welcome
    assert heard["sender"] == room.me
    assert not heard["mine"]

    answer = MessageId(
        await bob.call(
            "send",
            room=room.id,
            text="Rough week.",
            reply_to=welcome,
            content_warning="exam stress",
        )
    )
    got = await alice.wait(MessageReceived, lambda e: e.message.id == answer)
    assert got.message.sender == me
    assert got.message.reply_to == welcome
    assert got.message.content_warning == "exam stress"
    assert got.message.collapsed
    assert got.message.text == ""
    await read_by_both(room, bob, answer, "Rough week.")

    await alice.client.sync()
    await bob.call("sync")
    history = await same_history(room, bob)
    assert [m["id"] for m in history] == [welcome, answer]
    assert await bob.call("members", room=room.id) == {room.me: "owner", me: "member"}
    assert dict(room.members) == {room.me: "owner", me: "member"}
    assert await bob.call("safety_number", room=room.id, member=room.me) == room.safety_number(me)
    assert await bob.call("fingerprint", room=room.id) == str(room.fingerprint())
    assert await bob.call("alarms", room=room.id) == []
    assert room.alarms == ()


async def test_typescript_creates_python_joins(alice: Person, bob: TsPeer) -> None:
    room_id = RoomId(await bob.call("create_group", name="Made in TypeScript", rules="No advice."))
    link = await bob.call("invite", room=room_id, max_uses=2)
    room = await alice.client.join(link)
    assert room.id == room_id
    bob_me = await bob.call("me", room=room_id)
    async with asyncio.timeout(20):  # the TypeScript owner re-sends profile and rules
        while room.rules is None or room.name == "":
            await asyncio.sleep(0.05)
    assert (room.name, room.rules, room.rules_version) == ("Made in TypeScript", "No advice.", 1)
    assert room.members[bob_me] == "owner"
    await room.accept_rules()

    first = await bob.call("send", room=room_id, text="Hello from TypeScript")
    got = await alice.wait(MessageReceived, lambda e: e.message.id == first)
    assert got.message.text == "Hello from TypeScript"
    assert got.message.sender == bob_me
    reply = await room.send("Hello from Python", reply_to=first, content_warning="greetings")
    heard = await bob.call("wait_text", room=room_id, text="", timeout=20)
    assert heard["id"] == reply
    assert heard["reply_to"] == first
    assert heard["content_warning"] == "greetings"
    await read_by_both(room, bob, reply, "Hello from Python")

    await alice.client.sync()
    await bob.call("sync")
    assert [m["id"] for m in await same_history(room, bob)] == [first, reply]
    assert room.safety_number(bob_me) == await bob.call(
        "safety_number", room=room_id, member=room.me
    )
    assert str(room.fingerprint()) == await bob.call("fingerprint", room=room_id)
    assert room.alarms == ()
    assert await bob.call("alarms", room=room_id) == []


async def test_shared_history_reaches_a_typescript_newcomer(alice: Person, bob: TsPeer) -> None:
    room = await alice.client.create_group("Shared", share_history=True)
    before = [await room.send(f"before Bob {i}") for i in range(3)]
    await room.rotate()  # history across an epoch change too
    before.append(await room.send("before Bob, next epoch"))
    assert RoomId(await bob.call("join", link=await room.create_invite())) == room.id
    # The join's own commit seals only its new epoch; the next commit of a member passes
    # the earlier secrets on (protocol.md 8.11), and the newcomer reads back lazily.
    assert await bob.call("messages", room=room.id) == []
    await room.rotate()
    after = await room.send("after Bob joined")
    await bob.call("wait_text", room=room.id, text="after Bob joined")
    history = await same_history(room, bob)  # the newcomer reads back, verified
    assert [m["id"] for m in history] == [*before, after]
    assert [m["text"] for m in history][:3] == ["before Bob 0", "before Bob 1", "before Bob 2"]
    assert await bob.call("alarms", room=room.id) == []


async def test_shared_history_reaches_a_python_newcomer(alice: Person, bob: TsPeer) -> None:
    room_id = RoomId(await bob.call("create_group", name="Shared in TS", share_history=True))
    said = [await bob.call("send", room=room_id, text=f"early {i}") for i in range(2)]
    room = await alice.client.join(await bob.call("invite", room=room_id))
    await bob.call("rotate", room=room_id)  # the TypeScript owner's commit passes the past on
    async with asyncio.timeout(20):
        while len(await room.messages(limit=10)) < 2:
            await asyncio.sleep(0.05)
    assert [m.id for m in await room.messages(limit=10)] == said
    assert [m.text for m in await room.messages(limit=10)] == ["early 0", "early 1"]
    assert room.alarms == ()


async def test_python_owner_removes_a_typescript_member(
    alice: Person, bob: TsPeer, relay: RelayProcess, tmp_path: Path
) -> None:
    room = await alice.client.create_group("Removal")
    link = await room.create_invite(max_uses=3)
    await bob.call("join", link=link)
    bob_me = await bob.call("me", room=room.id)
    async with HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "c.db") as c:
        carol = Person(c)
        carols_room = await c.join(link)
        await room.send("before")
        await bob.call("wait_text", room=room.id, text="before")
        await room.remove(bob_me)
        await room.send("after Bob left")
        await carol.wait(MessageReceived, lambda e: e.message.text == "after Bob left")
        await bob.call("sync")
        assert await bob.call("status", room=room.id) in ("removed", "unreachable")
        texts = [m["text"] for m in await bob.call("messages", room=room.id)]
        assert "before" in texts
        assert "after Bob left" not in texts
        with pytest.raises(PeerError) as refused:
            await bob.call("send", room=room.id, text="let me back")
        assert refused.value.code in ("room.removed", "room.unreachable")
        assert await bob.call("rooms") == []
        assert carols_room.alarms == ()


async def test_typescript_owner_removes_a_python_member(
    alice: Person, bob: TsPeer, relay: RelayProcess, tmp_path: Path
) -> None:
    room_id = RoomId(await bob.call("create_group", name="Removal in TS"))
    link = await bob.call("invite", room=room_id, max_uses=3)
    room = await alice.client.join(link)
    async with HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "c.db") as c:
        carol = Person(c)
        carols_room = await c.join(link)
        first = await bob.call("send", room=room_id, text="before")
        await alice.wait(MessageReceived, lambda e: e.message.id == first)
        epoch = carols_room.epoch
        await bob.call("remove", room=room_id, member=room.me)
        assert await bob.call("epoch", room=room_id) > epoch
        await bob.call("send", room=room_id, text="after Alice left")
        # Carol (Python) opens the epoch the TypeScript owner's commit sealed to her.
        await carol.wait(MessageReceived, lambda e: e.message.text == "after Alice left")
        await alice.client.sync()
        assert room.status in ("removed", "unreachable")
        assert "after Alice left" not in [m.text for m in await room.messages(limit=50)]
        assert not any(
            isinstance(e, MessageReceived) and e.message.text == "after Alice left"
            for e in alice.events
        )
        with pytest.raises(RoomInactive):
            await room.send("let me back")
        state_secrets = client_of(room)._driver(room.id).state.secrets
        assert carols_room.epoch not in state_secrets
        assert carols_room.alarms == ()
        assert await bob.call("alarms", room=room_id) == []
