"""One joiner cannot freeze a room with an unusable X25519 key (issue 17, break 7).

The attack: a malicious member holding an invite signs its own ``room.join``
binding an all-zero (or another small-order) X25519 key. The log accepted it, and
every later commit had to seal the new epoch to that key, which fails
(``crypto.bad_key``): after the next leave nobody could send again.

Here the attacker has its own keys and builds the join by hand with the
protocol's functions: a valid binding signature over the bad key, a valid invite
proof, a commit sealed to every member (and, for itself, to a usable stand-in
key, so the only fault is the key it binds). The relay refuses it with
``log.bad_key`` and stores nothing; the room stays usable: the owner commits a new
epoch and the members read what follows.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from client_sdk import HearthClient, Identity
from client_sdk._invite_links import parse_invite
from protocol import InviteKey, RoomKeys, RoomLog, RootSeed, canonical, crypto, sign_op
from protocol.epochs import make_commit
from protocol.ids import RoomId
from protocol.ops import Binding, JoinOp, SignedOp
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_trust_invites import post_op, stored_log
from tests.server.helpers import error

__all__ = ["proxied"]

SMALL_ORDER = {
    "zero": bytes(32),
    "one": bytes([1]) + bytes(31),
    "order-8": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    "order-8-other": bytes.fromhex(
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"
    ),
    "p-minus-1": bytes([0xEC]) + b"\xff" * 30 + bytes([0x7F]),
    "zero-top-bit": bytes(31) + bytes([0x80]),
}


@pytest.fixture
async def trio(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> AsyncIterator[list[HearthClient]]:
    _, proxy = proxied
    async with AsyncExitStack() as stack:
        clients = []
        for name in ("alice", "bob", "carol"):
            client = HearthClient(
                proxy.url, Identity.generate(), store_path=tmp_path / f"{name}.db", live=False
            )
            clients.append(await stack.enter_async_context(client))
        yield clients


def join_binding(log: RoomLog, joiner: RoomKeys, invite: InviteKey, box_key: bytes) -> SignedOp:
    """The joiner's own, correctly signed ``room.join`` binding ``box_key``."""
    index = log.index + 1
    statement = canonical(Binding(room=log.room, member=joiner.member, box_key=box_key))
    recipients = {m: member.box_key for m, member in log.members.items()}
    recipients[joiner.member] = RootSeed.generate().room_keys(log.room).box_public  # stand-in
    commit, _ = make_commit(
        room=log.room, epoch=log.epoch + 1, prev=log.head, recipients=recipients
    )
    body = JoinOp(
        invite_key=invite.public,
        invite_proof=invite.prove(
            room=log.room, index=index, joiner=joiner.member, box_key=box_key
        ),
        box_key=box_key,
        binding=joiner.sign(crypto.CTX_BINDING, statement),
        commit=commit,
    )
    return sign_op(joiner, index=index, prev=log.head, at=time.time_ns() // 1_000_000, body=body)


async def _group(people: list[HearthClient]) -> tuple[RoomId, str]:
    room = await people[0].create_group("Small-order keys")
    link = await room.create_invite(max_uses=5)
    for client in people[1:]:
        await client.join(link)
    for client in people:
        await client.sync()
    return room.id, link


@pytest.mark.parametrize("label", sorted(SMALL_ORDER))
async def test_a_small_order_key_cannot_freeze_the_room(
    proxied: tuple[RelayProcess, HostileProxy], trio: list[HearthClient], label: str
) -> None:
    relay, proxy = proxied
    alice, bob, carol = trio
    room_id, link = await _group(trio)
    before = await stored_log(relay, room_id)
    mallory = RootSeed.generate().room_keys(room_id)
    join = join_binding(before, mallory, parse_invite(link)[1], SMALL_ORDER[label])

    answer = await post_op(proxy.url, mallory, join)
    assert answer.status_code == 422, answer.text
    assert error(answer).code == "log.bad_key"
    after = await stored_log(relay, room_id)
    assert after.head == before.head
    assert mallory.member not in after.members

    # The room goes on: after a leave the next sender must commit a new epoch to
    # everyone left (with the bad key in the log, that commit would fail), and the
    # others read what follows.
    await bob.room(room_id).leave()
    await alice.sync()
    await alice.room(room_id).send("still here")
    await carol.sync()
    assert "still here" in [m.text for m in await carol.room(room_id).messages(limit=10)]
    assert alice.room(room_id).alarms == carol.room(room_id).alarms == ()
    final = await stored_log(relay, room_id)
    assert final.epoch == before.epoch + 1
    assert mallory.member not in final.members


async def test_the_same_hand_made_join_with_a_usable_key_goes_through(
    proxied: tuple[RelayProcess, HostileProxy], trio: list[HearthClient]
) -> None:
    # The control: the refusal above is the key's and nothing else's.
    relay, proxy = proxied
    room_id, link = await _group(trio)
    before = await stored_log(relay, room_id)
    dan = RootSeed.generate().room_keys(room_id)
    answer = await post_op(
        proxy.url, dan, join_binding(before, dan, parse_invite(link)[1], dan.box_public)
    )
    assert answer.status_code == 200, answer.text
    assert dan.member in (await stored_log(relay, room_id)).members
