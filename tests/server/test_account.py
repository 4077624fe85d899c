"""Deleting a key's data: leave, erase its messages, forget its sessions and blobs."""

from __future__ import annotations

import json

from msgspec import to_builtins

from protocol import ManualClock, sign_auth
from protocol.api import (
    AccountDeleted,
    Challenge,
    ErasedEvent,
    HistoryPage,
    MessageEvent,
    RemovedEvent,
)
from protocol.encoding import from_json
from protocol.messages import EraseRequest
from protocol.signing import sign_erase
from tests.server.conftest import Relay
from tests.server.helpers import b64, create, error, headers, join, login, post, send


async def test_delete_account(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    mine = [await send(relay, room, "bob", bob, f"bob {i}") for i in range(3)]
    theirs = await send(relay, room, "owner", token, "owner's")
    r = await relay.http.post(f"/v1/rooms/{room.room}/blobs", content=b"blob", headers=headers(bob))
    blob = r.json()["id"]
    # A member must include its leave.
    r = await post(relay.http, "/v1/account/delete", {}, bob)
    assert (r.status_code, error(r).code) == (400, "request.invalid")
    assert error(r).detail == {"rooms": [room.room]}
    leave = room.leave("bob", apply=False)
    # A key that sent messages must include its signed erase request, for its room.
    r = await post(relay.http, "/v1/account/delete", {"leave": leave}, bob)
    assert (r.status_code, error(r).code) == (400, "request.invalid")
    erase = sign_erase(room.keys("bob"), index=leave.content.index, at=clock.now_ms())
    owners = sign_erase(room.keys("owner"), index=leave.content.index, at=clock.now_ms())
    body = {"leave": leave, "erase": owners}
    r = await post(relay.http, "/v1/account/delete", body, bob)
    assert (r.status_code, error(r).code) == (400, "request.invalid")
    forged = EraseRequest(content=erase.content, sig=owners.sig)
    r = await post(relay.http, "/v1/account/delete", {"leave": leave, "erase": forged}, bob)
    assert (r.status_code, error(r).code) == (422, "msg.bad_signature")
    r = await post(relay.http, "/v1/account/delete", {"leave": leave, "erase": erase}, bob)
    assert r.status_code == 200, r.text
    room.apply(leave)
    assert from_json(r.content, AccountDeleted) == AccountDeleted(
        left=[room.room], erased=3, blobs=1
    )
    # The session is gone.
    r = await relay.http.get(f"/v1/rooms/{room.room}/log", headers=headers(bob))
    assert (r.status_code, error(r).code) == (401, "auth.invalid")
    # The owner sees placeholders where bob's messages were, and why.
    r = await relay.http.get(f"/v1/rooms/{room.room}/messages", headers=headers(token))
    events = {e.seq: e for e in from_json(r.content, HistoryPage).events}
    erased = events[max(events)]
    assert isinstance(erased, ErasedEvent)
    assert (erased.member, erased.through) == (room.member("bob"), mine[-1].seq)
    assert erased.request == erase  # the members' proof travels with the erasure
    for ack in mine:
        assert isinstance(events[ack.seq], RemovedEvent)
        assert events[ack.seq].by == erased.seq  # type: ignore[union-attr]
    assert isinstance(events[theirs.seq], MessageEvent)
    r = await relay.http.get(f"/v1/rooms/{room.room}/blobs/{blob}", headers=headers(token))
    assert (r.status_code, error(r).code) == (404, "blob.not_found")
    assert sorted(events) == list(range(1, erased.seq + 1))


async def test_a_deleted_keys_tokens_stay_refused_and_it_cannot_sign_in_for_token_ttl(
    relay: Relay, clock: ManualClock
) -> None:
    # Tokens are checked by their MAC, not a stored row: the revocation is what
    # refuses them, by the day, for as long as any of them could still be valid.
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    r = await post(relay.http, "/v1/account/delete", {"leave": room.leave("bob")}, bob)
    assert r.status_code == 200, r.text
    r = await post(relay.http, "/v1/auth/challenge", {"key": room.member("bob")})
    challenge = from_json(r.content, Challenge)
    sig = sign_auth(
        room.keys("bob"),
        origin=challenge.origin,
        challenge=challenge.challenge,
        expires_at=challenge.expires_at,
    )
    answer = {"key": room.member("bob"), "challenge": b64(challenge.challenge), "sig": b64(sig)}
    r = await post(relay.http, "/v1/auth/session", answer)
    assert (r.status_code, error(r).code) == (403, "auth.forbidden")
    clock.advance(7 * 24 * 3600)  # every token bob held has expired by now
    r = await relay.http.get(f"/v1/rooms/{room.room}/log", headers=headers(bob))
    assert r.status_code == 401
    clock.advance(2 * 24 * 3600)  # and the revocation, rounded up to a day, has lapsed
    assert (await login(relay.http, room.keys("bob"), create=False)).token


async def test_a_leave_of_another_protocol_version_is_a_typed_refusal(
    relay: Relay, clock: ManualClock
) -> None:
    """``v: 1`` inside a request body is 400 ``wire.version``, never a 500 (a fuzzer
    found the code answering 500, since the relay's status table did not list it)."""
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    leave = to_builtins(room.leave("bob", apply=False))
    leave["content"]["v"] = 1
    r = await relay.http.post(
        "/v1/account/delete", content=json.dumps({"leave": leave}), headers=headers(bob)
    )
    assert (r.status_code, error(r).code) == (400, "wire.version")
    assert "version 1" in error(r).message
    # Nothing was deleted: bob still reads the room.
    r = await relay.http.get(f"/v1/rooms/{room.room}/log", headers=headers(bob))
    assert r.status_code == 200
