"""A member of two rooms cannot link a person's pseudonyms by the device id in plaintexts.

Every plaintext carries the sending device's id (receivers count each device's
messages apart, to notice a withheld one). Were that id the same in every room, a
member of two rooms (Mallory: her own identity and keys, no help from the relay)
would decrypt a message from each room with her own epoch secrets, find the same
16 bytes in both, and know that two unrelated pseudonyms are one person's device.

Here Alice creates two rooms and posts in both from one device, through a real
relay; Mallory joins both rooms with invites, fetches the stored envelopes with
her own keys and decrypts them. The device ids differ between the rooms (and are
stable inside each, so counters still work); no other value of the plaintexts
(besides the ordinal counter and the text chosen apart) recurs across the rooms.
"""

from __future__ import annotations

from pathlib import Path

from client_sdk import HearthClient, Identity, Room
from protocol.api import MessageEvent
from protocol.encoding import canonical
from protocol.envelope import open_message
from protocol.messages import Plaintext, TextBody
from tests.client_sdk.conftest import RelayProcess, client_of
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied

__all__ = ["proxied"]


async def _plaintexts(room: Room, sender: str) -> list[Plaintext]:
    """Every text message of ``sender`` in ``room``, decrypted with ``room``'s own keys."""
    client = client_of(room)
    driver = client._driver(room.id)
    slot = driver.slot
    page = await driver.fetch_history(slot.state.position + 1)
    found = []
    for event in page.events:
        if isinstance(event, MessageEvent) and event.envelope.header.sender == sender:
            secret = slot.state.secrets.get(event.envelope.header.epoch)
            if secret is None:
                continue  # sent before Mallory joined: not hers to read
            plaintext = open_message(event.envelope, epoch_secret=secret)
            if isinstance(plaintext.body, TextBody):
                found.append(plaintext)
    return found


async def test_a_member_of_two_rooms_finds_nothing_in_common_between_plaintexts(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> None:
    url = proxied[1].url  # the proxy passes everything through unchanged here
    alice_id = Identity.generate()
    async with (
        HearthClient(url, alice_id, store_path=tmp_path / "a.db", live=False) as alice,
        HearthClient(url, Identity.generate(), store_path=tmp_path / "m.db", live=False) as mallory,
    ):
        anxiety = await alice.create_group("Anxiety circle")
        recovery = await alice.create_group("Recovery circle")
        m_rooms = [await mallory.join(await r.create_invite()) for r in (anxiety, recovery)]
        for room, words in ((anxiety, "calm"), (recovery, "sober")):
            for n in range(3):
                await room.send(f"{words} {n}")
        for room in m_rooms:
            await client_of(room).sync()

        pseudonyms = [anxiety.me, recovery.me]
        assert pseudonyms[0] != pseudonyms[1]
        seen = [await _plaintexts(r, me) for r, me in zip(m_rooms, pseudonyms, strict=True)]
        assert [len(s) for s in seen] == [3, 3]

        devices = [{p.device for p in s} for s in seen]
        # One id per room (so counters per (room, device) keep working)...
        assert [len(d) for d in devices] == [1, 1]
        for s in seen:
            counters = [p.counter for p in s]
            assert counters == sorted(set(counters))  # other kinds of message count too
        # ...and nothing links the two: the ids differ, neither appears in the other
        # room's plaintexts, and no other field but the small ordinals recurs.
        (a_dev,), (r_dev,) = devices
        assert a_dev != r_dev
        assert a_dev not in b"".join(canonical(p) for p in seen[1])
        assert r_dev not in b"".join(canonical(p) for p in seen[0])
        # ``skipped`` lists this room's own counters the relay refused for good: none here.
        fields = {"device", "counter", "sent_at", "skipped", "body"}
        assert set(Plaintext.__struct_fields__) == fields
        assert all(p.skipped == [] for s in seen for p in s)
        texts = [{p.body.text for p in s if isinstance(p.body, TextBody)} for s in seen]
        assert not texts[0] & texts[1]
