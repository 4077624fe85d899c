"""Linking a device: a leaked code moves no root, and the offer's size names no room count.

A leaked link code (a photo of the QR code, a shoulder-surfer) used to give the
root to whoever claimed it first. Now the existing device seals the root only
after the person confirmed that both screens show the same six-digit short code,
computed from the code and both devices' ephemeral keys; the root box opens only
with the key of the device that answered. Each test plays the thief with the
public SDK, or with the protocol functions and its own HTTP client, against a
real relay:

- the thief uses the code first: the real new device gets ``link.used`` and shows
  no short code, the phone shows the thief's; the person refuses and the thief
  gets ``link.refused``: no root box was ever sealed for its key;
- the thief files an answer without even claiming the hello (it knows the code):
  the real device gets ``link.taken`` and shows no code; the phone's code is the
  thief's; refused again, nothing moves.

Before this change the first claim of a code returned the root at once (there was
no answer and no confirmation), so both scenarios gave the thief the identity.

Break 8: the root box of a person in 1 room and of a person in 20 rooms are the
same size on the relay's disk (padded to 8192 bytes at least).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client_sdk import HearthClient, Identity, LinkError
from client_sdk._transport import Transport
from protocol import crypto
from protocol.api import AuthRequest, LinkOffer
from protocol.personal import (
    LinkAnswer,
    LinkCode,
    PersonalKeys,
    open_link,
    seal_answer,
    short_code,
)
from protocol.signing import sign_auth
from tests.client_sdk.conftest import RelayProcess


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data)
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


def _stored_box(relay: RelayProcess, link: str) -> bytes | None:
    with sqlite3.connect(relay.data_dir / "hearth.db") as db:
        row = db.execute("SELECT data FROM link_offers WHERE id = ?", (link,)).fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


async def test_a_thief_who_uses_a_leaked_code_first_gets_no_root(
    relay: RelayProcess, tmp_path: Path
) -> None:
    alice = Identity.generate()
    async with HearthClient(
        relay.url, alice, store_path=tmp_path / "phone.db", live=False
    ) as phone:
        await phone.create_group("Evening circle")
        offer = await phone.offer_device_link()
        leaked = offer.code

        thief = await HearthClient.begin_device_link(
            relay.url, leaked, store_path=tmp_path / "t.db"
        )
        with pytest.raises(LinkError) as real:
            await HearthClient.begin_device_link(
                relay.url, leaked, store_path=tmp_path / "laptop.db"
            )
        assert real.value.code == "link.used"  # the real laptop shows no short code

        # The phone shows the thief's code; the laptop shows none: the person refuses.
        assert await offer.claimant_code() == thief.short_code
        await offer.refuse()
        with pytest.raises(LinkError) as refused:
            await thief.finish(timeout=30)
        assert refused.value.code == "link.refused"
        with pytest.raises(LinkError) as closed:
            await offer.confirm()  # a refused link cannot be confirmed after all
        assert closed.value.code == "link.closed"


async def test_a_thief_who_answers_first_takes_no_root_and_the_real_device_says_so(
    relay: RelayProcess, tmp_path: Path
) -> None:
    alice = Identity.generate()
    async with HearthClient(
        relay.url, alice, store_path=tmp_path / "phone.db", live=False
    ) as phone:
        await phone.create_group("Evening circle")
        offer = await phone.offer_device_link()
        code = LinkCode.parse(offer.code)

        # The thief knows the code; it answers at once, without claiming the hello.
        thief_box = crypto.box_keypair_from_seed(crypto.random_bytes(32))
        thief_key = PersonalKeys.derive(crypto.random_bytes(32))
        transport = Transport(relay.url, timeout=15)
        try:
            challenge = await transport.challenge(thief_key.member)
            sig = sign_auth(
                thief_key,
                origin=challenge.origin,
                challenge=challenge.challenge,
                expires_at=challenge.expires_at,
            )
            session = await transport.session(
                AuthRequest(key=thief_key.member, challenge=challenge.challenge, sig=sig)
            )
            answer = LinkAnswer(box_key=crypto.box_public(thief_box))
            await transport.offer_link(
                session.token, LinkOffer(id=code.answer_rendezvous, box=seal_answer(code, answer))
            )
        finally:
            await transport.close()

        with pytest.raises(LinkError) as real:
            await HearthClient.begin_device_link(
                relay.url, offer.code, store_path=tmp_path / "laptop.db"
            )
        assert real.value.code == "link.taken"  # the real laptop shows no short code

        shown = await offer.claimant_code()
        # The phone shows the code of the thief's key; the thief can compute it too,
        # but the real laptop shows nothing to compare it with.
        hello_key = _hello_key(offer)
        assert shown == short_code(code, hello_key, crypto.box_public(thief_box))
        await offer.refuse()
        box = _stored_box(relay, code.root_rendezvous)
        assert box is not None
        # The root box holds a refusal: the thief, with its own answer key, learns no root.
        with pytest.raises(LinkError) as refused:
            open_link(code, box, answer=thief_box, hello_key=hello_key)
        assert refused.value.code == "link.refused"


def _hello_key(offer: object) -> bytes:
    return crypto.box_public(offer._hello)  # type: ignore[attr-defined]


async def test_a_link_offer_is_the_same_size_for_1_room_and_for_20(
    relay: RelayProcess, tmp_path: Path
) -> None:
    sizes = []
    for n in (1, 20):
        person = Identity.generate()
        async with HearthClient(
            relay.url, person, store_path=tmp_path / f"{n}.db", live=False
        ) as phone:
            for i in range(n):
                await phone.create_group(f"Room {i}")
            assert len(phone.rooms) == n
            offer = await phone.offer_device_link()
            pending = await HearthClient.begin_device_link(
                relay.url, offer.code, store_path=tmp_path / f"{n}-laptop.db", live=False
            )
            assert await offer.claimant_code() == pending.short_code
            await offer.confirm()
            box = _stored_box(relay, LinkCode.parse(offer.code).root_rendezvous)
            assert box is not None
            sizes.append(len(box))
            async with await pending.finish() as laptop:
                await laptop.sync()
                assert len(laptop.rooms) == n
    assert sizes == [24 + 8192 + 16] * 2
