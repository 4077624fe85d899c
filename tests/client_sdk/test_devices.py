"""Two devices of one person, and another person, against a real relay process.

Alice has a phone; she links a laptop with a one-time code. Both of her devices
then follow her rooms, chat as the same member, see each other's messages as their
own, and share private notes that they edit at the same time while offline and
reconcile with nothing lost. Bob, in the same room, sees one Alice. The relay's
database, read raw at the end, holds neither the root nor any note.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from client_sdk import (
    HearthClient,
    Identity,
    LinkError,
    MessageReceived,
    PersonalDataChanged,
    RelayError,
    Room,
)
from protocol.personal import LinkCode
from tests.client_sdk.conftest import RelayProcess, link_device
from tests.client_sdk.test_client import Watcher, until

Opened = Callable[[HearthClient], Awaitable[HearthClient]]


@pytest.fixture
async def opened() -> AsyncIterator[Opened]:
    async with AsyncExitStack() as stack:

        async def open_(client: HearthClient) -> HearthClient:
            await stack.enter_async_context(client)
            return client

        yield open_


def _client(relay: RelayProcess, identity: Identity, path: Path, **options: Any) -> HearthClient:
    return HearthClient(
        relay.url, identity, store_path=path, reconnect_delay=(0.05, 0.5), **options
    )


async def _texts(room: Room) -> list[str]:
    return [m.text for m in await room.messages(limit=1000)]


async def test_link_chat_and_notes_across_two_devices(
    relay: RelayProcess, tmp_path: Path, opened: Opened
) -> None:
    alice, bob_id = Identity.generate(), Identity.generate()
    phone = await opened(_client(relay, alice, tmp_path / "phone.db"))
    bob = await opened(_client(relay, bob_id, tmp_path / "bob.db"))
    phone_events, bob_events = Watcher(phone), Watcher(bob)

    room = await phone.create_group("Evening circle")
    bob_room = await bob.join(await room.create_invite(max_uses=1, expires_in=3600))
    await until(lambda: _has(bob_room, 2))
    await room.send("before the laptop")
    await bob_room.send("hi alice")
    await until(lambda: _contains(room, "hi alice"))
    await phone.personal.notes.add("slept badly, 4/10", kind="mood")

    # -- link the laptop -------------------------------------------------------
    offer = await phone.offer_device_link()
    code = offer.code
    assert code.startswith("HL2-")
    assert len(LinkCode.parse(code).secret) * 8 >= 128
    pending = await HearthClient.begin_device_link(
        relay.url,
        code.lower().replace("-", " "),
        store_path=tmp_path / "laptop.db",
        reconnect_delay=(0.05, 0.5),
    )
    # Both screens show the same short code; the person confirms on the phone.
    assert await offer.claimant_code() == pending.short_code
    await offer.confirm()
    laptop = await opened(await pending.finish())
    assert laptop.identity == alice
    laptop_events = Watcher(laptop)
    await laptop.sync()
    laptop_room = laptop.room(room.id)
    assert laptop_room.me == room.me
    # The history the protocol lets Alice read: everything since she created the room.
    assert {"before the laptop", "hi alice"} <= set(await _texts(laptop_room))
    assert [n.text for n in await laptop.personal.notes.list()] == ["slept badly, 4/10"]

    # The code is spent: a second claim, and a mistyped one, fail with stable codes.
    with pytest.raises(LinkError) as used:
        await HearthClient.begin_device_link(relay.url, code, store_path=tmp_path / "thief.db")
    assert used.value.code == "link.used"
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(LinkError) as bad:
        await HearthClient.begin_device_link(relay.url, typo, store_path=tmp_path / "typo.db")
    assert bad.value.code == "link.bad_code"
    with pytest.raises(LinkError) as unknown:
        await HearthClient.begin_device_link(
            relay.url, LinkCode.generate().text, store_path=tmp_path / "none.db"
        )
    assert unknown.value.code == "link.not_found"

    # -- chat from both devices ------------------------------------------------
    await laptop_room.send("from the laptop")
    await room.send("from the phone")
    for watcher, name in ((bob_events, "bob"), (phone_events, "phone"), (laptop_events, "laptop")):
        for text in ("from the laptop", "from the phone"):
            got = await watcher.wait(MessageReceived, lambda e, t=text: e.message.text == t)
            assert got.message.sender == room.me, name
            if name != "bob":
                assert got.message.mine, name
    # Two devices under one member key: each device's counters are its own, and no
    # receiver raised an alarm for the other's.
    assert not room.alarms
    assert not laptop_room.alarms
    assert not bob_room.alarms

    # -- a room joined on one device appears on the other ------------------------
    second = await laptop.create_buddy_chat("Buddy")
    await phone_events.wait(PersonalDataChanged, lambda e: e.document == "rooms")
    await until(lambda: _async(second.id in {r.id for r in phone.rooms}))

    # -- live note sync ------------------------------------------------------------
    note = await laptop.personal.notes.add("call Sam if it gets bad", kind="safety_plan")
    await phone_events.wait(PersonalDataChanged, lambda e: e.document == "notes")
    assert (await phone.personal.notes.get(note)).text == "call Sam if it gets bad"
    await phone.personal.settings.set("theme", "dark")
    await until(lambda: _setting(laptop, "theme", "dark"))


async def test_offline_edits_on_both_devices_reconcile(
    relay: RelayProcess, tmp_path: Path, opened: Opened
) -> None:
    alice = Identity.generate()
    phone = await opened(_client(relay, alice, tmp_path / "phone.db", live=False))
    shared = await phone.personal.notes.add("plan v1", kind="safety_plan")
    gone = await phone.personal.notes.add("to be removed")
    laptop = await opened(await link_device(phone, relay.url, tmp_path / "laptop.db", live=False))
    await laptop.sync()
    await phone.sync()
    assert len(await laptop.personal.notes.list()) == 2

    relay.stop()  # both devices offline
    await phone.personal.notes.add("phone, offline")
    await laptop.personal.notes.add("laptop, offline")
    await phone.personal.notes.edit(shared, text="plan v2 (phone)")
    await laptop.personal.notes.edit(shared, text="plan v2 (laptop)")
    await phone.personal.notes.remove(gone)
    await laptop.personal.notes.edit(gone, text="edited on the laptop")
    await phone.personal.settings.set("reminders", True)
    await laptop.personal.settings.set("theme", "light")

    relay.start()
    await phone.sync()
    await laptop.sync()  # conflicts: merges, then pushes
    await phone.sync()
    on_phone = await phone.personal.notes.list()
    on_laptop = await laptop.personal.notes.list()
    assert on_phone == on_laptop
    texts = sorted(n.text for n in on_phone)
    # Nothing lost: both new notes, both concurrent edits (one kept as a conflict
    # copy), and the note edited on one device while removed on the other.
    assert texts == sorted(
        [
            "phone, offline",
            "laptop, offline",
            "plan v2 (phone)",
            "plan v2 (laptop)",
            "edited on the laptop",
        ]
    )
    copies = [n for n in on_phone if n.conflict_of is not None]
    assert [c.conflict_of for c in copies] == [shared]
    assert await phone.personal.settings.all() == {"reminders": True, "theme": "light"}
    assert await laptop.personal.settings.all() == {"reminders": True, "theme": "light"}

    # A change made offline survives closing the client, and is pushed when reopened.
    relay.stop()
    await laptop.personal.blocked.add("k" * 43)
    await laptop.close()
    relay.start()
    reopened = await opened(_client(relay, alice, tmp_path / "laptop.db", live=False))
    await reopened.sync()
    await phone.sync()
    assert await phone.personal.blocked.list() == ["k" * 43]


async def test_relay_database_holds_no_root_and_no_notes(
    relay: RelayProcess, tmp_path: Path, opened: Opened
) -> None:
    alice = Identity.generate()
    phone = await opened(_client(relay, alice, tmp_path / "phone.db", live=False))
    room = await phone.create_group("Somewhere to talk")
    await room.send("a room message")
    secret_note = "my safety plan: the blue notebook under the bed"
    await phone.personal.notes.add(secret_note, title="Safety plan", kind="safety_plan")
    await phone.personal.settings.set("nickname", "quiet-otter-setting")
    offer = await phone.offer_device_link()
    code = offer.code
    pending = await HearthClient.begin_device_link(
        relay.url, code, store_path=tmp_path / "laptop.db", live=False
    )
    assert await offer.claimant_code() == pending.short_code
    await offer.confirm()
    laptop = await opened(await pending.finish())
    await laptop.sync()
    assert [n.text for n in await laptop.personal.notes.list()] == [secret_note]
    relay.stop()
    raw = b""
    for path in sorted((relay.data_dir).glob("hearth.db*")):
        raw += path.read_bytes()
    with sqlite3.connect(relay.data_dir / "hearth.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"link_offers", "personal_docs"} <= tables
        assert db.execute("SELECT count(*) FROM personal_docs").fetchone()[0] >= 2
        # The store's owner is a key of its own: in no room, and no room key's.
        owners = {r[0] for r in db.execute("SELECT owner FROM personal_docs")}
        assert owners == {alice.personal_keys().member}
        members = {r[0] for r in db.execute("SELECT member FROM members")}
        assert not owners & members
        # The hello and the root box are filed by the store's owner key; the answer
        # by a throwaway key of the new device's, in no room either.
        offer_owners = {r[0] for r in db.execute("SELECT owner FROM link_offers")}
        assert owners < offer_owners
        assert len(offer_owners - owners) == 1
        assert not offer_owners & members
    root = alice._root.secret
    for needle in (
        secret_note.encode(),
        b"Safety plan",
        b"safety_plan",
        b"quiet-otter-setting",
        b"nickname",
        root,
        code.encode(),
        LinkCode.parse(code).secret,
    ):
        assert needle not in raw, needle
    relay.start()


async def _has(room: Room, n: int) -> bool:
    return len(room.members) == n


async def _contains(room: Room, text: str) -> bool:
    return text in await _texts(room)


async def _async(value: bool) -> bool:
    return value


async def _setting(client: HearthClient, key: str, value: object) -> bool:
    return await client.personal.settings.get(key) == value


async def test_personal_quota_is_a_typed_error(tmp_path: Path, opened: Opened) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    relay = RelayProcess(data, HEARTH_PERSONAL_MAX_BYTES="2000")
    relay.start()
    try:
        phone = await opened(_client(relay, Identity.generate(), tmp_path / "p.db", live=False))
        with pytest.raises(RelayError) as full:
            await phone.personal.notes.add("x" * 5000)
        assert full.value.code == "personal.quota"
    finally:
        relay.stop()
