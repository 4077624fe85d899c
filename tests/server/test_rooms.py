"""Room creation, the log endpoints, compare-and-swap, invite reads and joins."""

from __future__ import annotations

import asyncio
from typing import Any

from protocol import InviteKey, ManualClock, op_hash
from protocol.api import AppendResult, LogPage
from protocol.encoding import from_json
from protocol.ops import AddOp, CreateOp
from tests.server.conftest import Relay
from tests.server.helpers import (
    append,
    b64,
    create,
    error,
    headers,
    join,
    login,
    new_room,
    post,
)


async def test_create_room_and_read_log(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    r = await relay.http.get(f"/v1/rooms/{room.room}/log", headers=headers(token))
    page = from_json(r.content, LogPage)
    assert page.ops == [room.log.ops[0]]
    assert not page.more
    # Creating the same room again is a retry: the same answer.
    r = await post(relay.http, "/v1/rooms", room.log.ops[0], token)
    assert r.status_code == 201
    assert from_json(r.content, AppendResult).seq == 1


async def test_create_refusals(relay: Relay, clock: ManualClock) -> None:
    room = new_room(clock)
    other = await login(relay.http, room.keys("mallory"))
    r = await post(relay.http, "/v1/rooms", room.log.ops[0], other.token)
    assert (r.status_code, error(r).code) == (403, "auth.forbidden")
    owner = await login(relay.http, room.keys("owner"))
    op = room.invite("owner", InviteKey.generate(), apply=False)
    r = await post(relay.http, "/v1/rooms", op, owner.token)
    assert (r.status_code, error(r).code) == (422, "log.invalid")
    bad = room.log.ops[0]
    forged = type(bad)(content=bad.content, sig=bytes(64))
    r = await post(relay.http, "/v1/rooms", forged, owner.token)
    assert (r.status_code, error(r).code) == (422, "log.bad_signature")
    # A room id that is taken by another log.
    await post(relay.http, "/v1/rooms", room.log.ops[0], owner.token)
    body = room.log.ops[0].content.body
    assert isinstance(body, CreateOp)
    other_create = room.sign("owner", body, index=0, prev=bytes(32), at=room.now + 5)
    r = await post(relay.http, "/v1/rooms", other_create, owner.token)
    assert (r.status_code, error(r).code) == (409, "log.conflict")


async def test_log_paging(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    for _ in range(4):
        op = room.invite("owner", InviteKey.generate(), apply=False)
        assert (await append(relay, room, op, token)).status_code == 200
        room.apply(op)
    r = await relay.http.get(
        f"/v1/rooms/{room.room}/log", params={"after": 0, "limit": 2}, headers=headers(token)
    )
    page = from_json(r.content, LogPage)
    assert [o.content.index for o in page.ops] == [1, 2]
    assert page.more
    r = await relay.http.get(
        f"/v1/rooms/{room.room}/log", params={"after": 2, "limit": 5}, headers=headers(token)
    )
    page = from_json(r.content, LogPage)
    assert [o.content.index for o in page.ops] == [3, 4]
    assert not page.more


async def test_append_conflict_and_retry(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    first = room.invite("owner", InviteKey.generate(), apply=False)
    second = room.invite("owner", InviteKey.generate(), apply=False)
    r = await append(relay, room, first, token)
    assert r.status_code == 200
    assert from_json(r.content, AppendResult).seq == 2
    r = await append(relay, room, first, token)  # a retry answers the first result
    assert (r.status_code, from_json(r.content, AppendResult).seq) == (200, 2)
    r = await append(relay, room, second, token)
    assert (r.status_code, error(r).code) == (409, "log.conflict")
    assert error(r).detail == {"index": 1, "head": b64(op_hash(first))}
    room.apply(first)
    ahead = room.invite("owner", InviteKey.generate(), apply=False)
    ahead = room.sign("owner", ahead.content.body, index=5)
    r = await append(relay, room, ahead, token)
    assert (r.status_code, error(r).code) == (409, "log.conflict")


async def test_two_commits_at_one_index_exactly_one_wins(live: Relay, clock: ManualClock) -> None:
    room, token = await create(live, clock)
    bob = room.keys("bob")
    adds = [
        room.sign(
            "owner",
            AddOp(
                member=bob.member,
                box_key=bob.box_public,
                binding=bob.binding(),
                commit=room.commit(room.recipients(plus=["bob"])),
            ),
        )
        for _ in range(4)
    ]
    responses = await asyncio.gather(*(append(live, room, op, token) for op in adds))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409]
    winner = next(op for op, r in zip(adds, responses, strict=True) if r.status_code == 200)
    for r in responses:
        if r.status_code == 409:
            assert error(r).code == "log.conflict"
            assert error(r).detail == {"index": 1, "head": b64(op_hash(winner))}


async def test_verification_failures_are_422(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    await join(relay, room, token, "bob")
    bob = (await login(relay.http, room.keys("bob"), create=False)).token
    op = room.add("bob", "carol", apply=False)  # a member may not add under the default policy
    r = await append(relay, room, op, bob)
    assert (r.status_code, error(r).code) == (422, "log.unauthorized")
    op = room.add("owner", "carol", apply=False)  # signed by the owner, sent with bob's session
    r = await append(relay, room, op, bob)
    assert (r.status_code, error(r).code) == (403, "auth.forbidden")


async def test_rooms_are_invisible_to_strangers(relay: Relay, clock: ManualClock) -> None:
    room, _ = await create(relay, clock)
    stranger = (await login(relay.http, room.keys("mallory"), create=False)).token
    answers = set()
    for rid in (room.room, "A" * 22, "not-a-room-id"):
        for method, url in (
            ("GET", f"/v1/rooms/{rid}/log"),
            ("GET", f"/v1/rooms/{rid}/messages"),
            ("GET", f"/v1/rooms/{rid}/blobs/{'B' * 22}"),
        ):
            r = await relay.http.request(method, url, headers=headers(stranger))
            answers.add((r.status_code, r.content))
        op = room.invite("mallory", InviteKey.generate(), apply=False)
        r = await post(relay.http, f"/v1/rooms/{rid}/log", op, stranger)
        answers.add((r.status_code, r.content))
    assert len(answers) == 1
    status, body = answers.pop()
    assert status == 404
    assert b"room.not_found" in body


async def test_join_through_invite_log(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    r = await relay.http.get(f"/v1/rooms/{room.room}/log", headers=headers(bob))
    assert from_json(r.content, LogPage).ops == list(room.log.ops)


async def test_invite_log_refusals(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    invite = InviteKey.generate()
    op = room.invite("owner", invite, apply=False)
    assert (await append(relay, room, op, token)).status_code == 200
    room.apply(op)
    keys = room.keys("bob")
    bob = (await login(relay.http, keys, create=False)).token
    url = f"/v1/rooms/{room.room}/invite-log"

    def body(*, at: int, signer: InviteKey = invite, reader: str = keys.member) -> dict[str, Any]:
        sig = signer.prove_read(room=room.room, reader=reader, at=at)
        return {"invite_key": b64(invite.public), "reader": reader, "at": at, "sig": b64(sig)}

    r = await post(relay.http, url, body(at=clock.now_ms(), signer=InviteKey.generate()), bob)
    assert (r.status_code, error(r).code) == (404, "room.not_found")
    r = await post(relay.http, url, body(at=clock.now_ms() - 10 * 60 * 1000), bob)
    assert (r.status_code, error(r).code) == (401, "auth.expired")
    r = await post(relay.http, url, body(at=clock.now_ms(), reader=room.member("eve")), bob)
    assert (r.status_code, error(r).code) == (403, "auth.forbidden")
    r = await post(relay.http, f"/v1/rooms/{'A' * 22}/invite-log", body(at=clock.now_ms()), bob)
    assert (r.status_code, error(r).code) == (404, "room.not_found")
    revoke = room.revoke("owner", invite, apply=False)
    assert (await append(relay, room, revoke, token)).status_code == 200
    r = await post(relay.http, url, body(at=clock.now_ms()), bob)
    assert (r.status_code, error(r).code) == (404, "room.not_found")


async def test_relay_enforces_invite_expiry_by_its_own_clock(
    relay: Relay, clock: ManualClock
) -> None:
    room, token = await create(relay, clock)
    invite = InviteKey.generate()
    op = room.invite("owner", invite, expires_at=clock.now_ms() + 60_000, apply=False)
    assert (await append(relay, room, op, token)).status_code == 200
    room.apply(op)
    bob = (await login(relay.http, room.keys("bob"), create=False)).token
    join_op = room.join(
        "bob", invite, at=clock.now_ms() + 1000, apply=False
    )  # the joiner's clock lies
    clock.advance(120)
    r = await append(relay, room, join_op, bob)
    assert (r.status_code, error(r).code) == (422, "log.bad_invite")


async def test_the_relay_enforces_a_ban(relay: Relay, clock: ManualClock) -> None:
    # Issue 17, break 3: a ban is a log operation, so the relay runs it like every
    # client: the banned member is no longer served, and cannot come back.
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    ban = room.ban("owner", "bob", apply=False)
    assert (await append(relay, room, ban, token)).status_code == 200
    room.apply(ban)
    r = await relay.http.get(f"/v1/rooms/{room.room}/log", headers=headers(bob))
    assert (r.status_code, error(r).code) == (404, "room.not_found")

    invite = InviteKey.generate()
    op = room.invite("owner", invite, max_uses=2, apply=False)
    assert (await append(relay, room, op, token)).status_code == 200
    room.apply(op)
    rejoin = room.join("bob", invite, apply=False)
    r = await append(relay, room, rejoin, bob)
    assert (r.status_code, error(r).code) == (422, "log.banned")
    add = room.add("owner", "bob", apply=False)
    r = await append(relay, room, add, token)
    assert (r.status_code, error(r).code) == (422, "log.banned")

    unban = room.unban("owner", "bob", apply=False)
    assert (await append(relay, room, unban, token)).status_code == 200
    room.apply(unban)
    rejoin = room.join("bob", invite, apply=False)
    assert (await append(relay, room, rejoin, bob)).status_code == 200


async def test_an_invite_whose_creator_fell_is_not_served(relay: Relay, clock: ManualClock) -> None:
    # Removed, banned or demoted creators' invites are revoked in the log; one whose
    # creator left is refused at use. Either way the relay serves its log to nobody.
    room, token = await create(relay, clock)
    add = room.add("owner", "mod", "moderator", apply=False)
    assert (await append(relay, room, add, token)).status_code == 200
    room.apply(add)
    mod = (await login(relay.http, room.keys("mod"), create=False)).token
    invite = InviteKey.generate()
    op = room.invite("mod", invite, role="moderator", max_uses=3, apply=False)
    assert (await append(relay, room, op, mod)).status_code == 200
    room.apply(op)
    keys = room.keys("zed")
    zed = (await login(relay.http, keys, create=False)).token
    sig = invite.prove_read(room=room.room, reader=keys.member, at=clock.now_ms())
    body = {
        "invite_key": b64(invite.public),
        "reader": keys.member,
        "at": clock.now_ms(),
        "sig": b64(sig),
    }
    url = f"/v1/rooms/{room.room}/invite-log"
    assert (await post(relay.http, url, body, zed)).status_code == 200
    leave = room.leave("mod", apply=False)
    assert (await append(relay, room, leave, mod)).status_code == 200
    room.apply(leave)
    r = await post(relay.http, url, body, zed)
    assert (r.status_code, error(r).code) == (404, "room.not_found")
