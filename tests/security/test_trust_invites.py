"""An invite does not outlive its creator, and a ban keeps a key out (issue 17, break 3).

The attack: a moderator makes an invite link granting the moderator role; the owner
then removes, bans or demotes them. The old link still admitted at the moderator
role, so the banned moderator came back under a fresh identity, as a moderator, and
removed others. And a ban was a moderation message the relay never saw: a banned key
rejoined through any fresh invite, to be removed again only once an outranking
moderator happened to be online.

Each test runs SDK clients against a real ``hearth serve`` (behind the hostile
proxy, passing everything through unless told otherwise) and plays the attacker
twice: through the public SDK, and as a malicious member with its own keys who
signs the ``room.join`` by hand with the protocol's functions and posts it to the
relay. Both are refused with a stable code, and the relay stores nothing: its log,
read from its own database, is unchanged and nobody was sealed a key for the
attacker. Where the relay itself lies (it serves a banned key's join), every client
refuses the operation with a ``log_invalid`` alarm naming ``log.banned``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import msgspec
import pytest

from client_sdk import HearthClient, Identity, InviteError, Room, RoomBlocked
from client_sdk._invite_links import parse_invite
from protocol import HearthError, InviteKey, LogError, RoomKeys, RoomLog, RootSeed, sign_op
from protocol.api import LogEvent, SyncResponse
from protocol.encoding import from_json, to_json
from protocol.epochs import make_commit
from protocol.ids import MemberId, RoomId
from protocol.ops import JoinOp, SignedOp
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_hostile_relay import _stored_log
from tests.server.helpers import error, login, post

__all__ = ["proxied"]

People = dict[str, HearthClient]


@pytest.fixture
async def people(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> AsyncIterator[People]:
    _, proxy = proxied
    async with AsyncExitStack() as stack:
        out = {}
        for name in ("alice", "bob", "carol", "dave"):
            client = HearthClient(
                proxy.url, Identity.generate(), store_path=tmp_path / f"{name}.db", live=False
            )
            out[name] = await stack.enter_async_context(client)
        yield out


async def stored_log(relay: RelayProcess, room: RoomId) -> RoomLog:
    """The room's log as the relay stored it, verified from its first operation."""
    log, _ = await _stored_log(relay, room)
    return log


def hand_made_join(log: RoomLog, joiner: RoomKeys, invite: InviteKey) -> SignedOp:
    """A well-formed ``room.join`` at the log's next index, as a modified client signs it."""
    index = log.index + 1
    recipients = {m: member.box_key for m, member in log.members.items()}
    recipients[joiner.member] = joiner.box_public
    commit, _ = make_commit(
        room=log.room, epoch=log.epoch + 1, prev=log.head, recipients=recipients
    )
    body = JoinOp(
        invite_key=invite.public,
        invite_proof=invite.prove(
            room=log.room, index=index, joiner=joiner.member, box_key=joiner.box_public
        ),
        box_key=joiner.box_public,
        binding=joiner.binding(),
        commit=commit,
    )
    return sign_op(joiner, index=index, prev=log.head, at=_now_ms(), body=body)


async def post_op(url: str, keys: RoomKeys, op: SignedOp) -> httpx.Response:
    """Sign in as ``keys`` (with the proof of work) and append ``op`` over HTTP."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        session = await login(http, keys)
        return await post(http, f"/v1/rooms/{keys.room}/log", op, session.token)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _room_with_moderator(people: People) -> tuple[RoomId, str]:
    """Alice's group with Bob as moderator and Carol as member; Bob's moderator link."""
    alice = await people["alice"].create_group("Trust at the edges")
    mod_link = await alice.create_invite(role="moderator")
    bob = await people["bob"].join(mod_link)
    await people["carol"].join(await alice.create_invite())
    for client in people.values():
        await client.sync()
    assert alice.members[bob.me] == "moderator"
    return alice.id, await bob.create_invite(max_uses=3, role="moderator")


async def _remove(room: Room, member: MemberId) -> None:
    await room.remove(member)


async def _ban(room: Room, member: MemberId) -> None:
    await room.ban(member, "abusive")


async def _demote(room: Room, member: MemberId) -> None:
    await room.set_role(member, "member")


FALLS: dict[str, Callable[[Room, MemberId], Awaitable[None]]] = {
    "removed": _remove,
    "banned": _ban,
    "demoted": _demote,
}


@pytest.mark.parametrize("fall", sorted(FALLS))
async def test_a_moderators_invite_dies_with_their_authority(
    proxied: tuple[RelayProcess, HostileProxy], people: People, tmp_path: Path, fall: str
) -> None:
    relay, proxy = proxied
    room_id, link = await _room_with_moderator(people)
    alice = people["alice"].room(room_id)
    bob = people["bob"].room(room_id).me
    await FALLS[fall](alice, bob)
    before = await stored_log(relay, room_id)
    assert before.invites[parse_invite(link)[1].public].revoked  # the relay's own verdict

    # The fallen moderator, back under a fresh identity, through the public SDK.
    async with HearthClient(
        proxy.url, Identity.generate(), store_path=tmp_path / "fresh.db", live=False
    ) as fresh:
        with pytest.raises(InviteError) as refused:
            await fresh.join(link)
        assert refused.value.code == "invite.unknown"  # the relay will not even serve it
        assert fresh.rooms == ()

    # The same, as a modified client: the join signed by hand on the real log.
    intruder = RootSeed.generate().room_keys(room_id)
    join = hand_made_join(before, intruder, parse_invite(link)[1])
    answer = await post_op(proxy.url, intruder, join)
    assert answer.status_code == 422, answer.text
    assert error(answer).code == "log.bad_invite"

    # Nothing stored, nobody sealed a key for the intruder, and every client agrees.
    after = await stored_log(relay, room_id)
    assert after.head == before.head
    assert intruder.member not in after.members
    with pytest.raises(LogError) as unverified:
        RoomLog.from_ops([*after.ops, join])
    assert unverified.value.code == "log.bad_invite"
    for client in people.values():
        await client.sync()
    assert intruder.member not in alice.members
    assert people["carol"].room(room_id).alarms == ()


async def test_a_banned_key_cannot_rejoin_through_a_fresh_invite(
    proxied: tuple[RelayProcess, HostileProxy], people: People, tmp_path: Path
) -> None:
    relay, proxy = proxied
    room_id, _ = await _room_with_moderator(people)
    alice = people["alice"].room(room_id)
    carol = people["carol"]
    carol_keys = carol.identity.room_keys(room_id)
    await alice.ban(carol_keys.member, "harassment")
    fresh_link = await alice.create_invite(max_uses=5)
    before = await stored_log(relay, room_id)
    assert carol_keys.member in before.banned
    assert carol_keys.member not in before.members

    # Carol's own SDK, and the same identity on a fresh store, refuse before signing.
    with contextlib.suppress(HearthError):
        await carol.sync()  # the relay may stop serving her before she reads the ban
    assert carol.room(room_id).status in {"removed", "unreachable"}
    with pytest.raises(InviteError) as refused:
        await carol.join(fresh_link)
    assert refused.value.code == "invite.banned"
    async with HearthClient(
        proxy.url, carol.identity, store_path=tmp_path / "carol-again.db", live=False
    ) as again:
        with pytest.raises(InviteError) as refused:
            await again.join(fresh_link)
        assert refused.value.code == "invite.banned"
        assert again.rooms == ()

    # A modified client signs the join anyway: the relay refuses it.
    join = hand_made_join(before, carol_keys, parse_invite(fresh_link)[1])
    answer = await post_op(proxy.url, carol_keys, join)
    assert answer.status_code == 422, answer.text
    assert error(answer).code == "log.banned"
    after = await stored_log(relay, room_id)
    assert after.head == before.head
    assert carol_keys.member not in after.members

    # A relay that accepts it anyway and serves it: every client refuses the operation.
    event = LogEvent(seq=0, ts=_now_ms(), op=join)

    async def inject(method: str, path: str, status: int, body: bytes) -> bytes:
        if method != "POST" or path != "/v1/sync" or status != 200:
            return body
        answer = from_json(body, SyncResponse)
        rooms = []
        for page in answer.rooms:
            if page.room != room_id:
                rooms.append(page)
                continue
            seq = page.last_seq + 1
            events = [*page.events, msgspec.structs.replace(event, seq=seq)]
            rooms.append(msgspec.structs.replace(page, events=events, last_seq=seq))
        return to_json(msgspec.structs.replace(answer, rooms=rooms))

    proxy.on_response = inject
    for name in ("alice", "bob"):
        await people[name].sync()
        room = people[name].room(room_id)
        codes = {(a.kind, a.code) for a in room.alarms}
        assert ("log_invalid", "log.banned") in codes, codes
        assert carol_keys.member not in room.members
        with pytest.raises(RoomBlocked):
            await room.send("to whom?")
    proxy.reset()


async def test_a_lifted_ban_lets_the_key_back(
    proxied: tuple[RelayProcess, HostileProxy], people: People
) -> None:
    # The control of the test above: with the ban lifted, the same join goes through.
    relay, _ = proxied
    room_id, _ = await _room_with_moderator(people)
    alice = people["alice"].room(room_id)
    carol = people["carol"]
    await alice.ban(carol.identity.room_keys(room_id).member)
    link = await alice.create_invite()
    await alice.unban(carol.identity.room_keys(room_id).member)
    with contextlib.suppress(HearthError):
        await carol.sync()  # she learns she is out (or that the relay no longer serves her)
    room = await carol.join(link)
    assert room.status == "active"
    assert carol.identity.room_keys(room_id).member in (await stored_log(relay, room_id)).members
