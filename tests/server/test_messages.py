"""Sending (idempotent), history pages, and deletions by sender, moderator or nobody else."""

from __future__ import annotations

from protocol import ManualClock, sign_delete
from protocol.api import HistoryPage, MessageEvent, RemovedEvent, TombstoneEvent
from protocol.encoding import from_json
from protocol.ids import MessageId
from protocol.messages import DeleteRequest
from tests.protocol.builders import Room
from tests.server.conftest import Relay
from tests.server.helpers import append, create, error, headers, join, login, post, send


async def test_send_is_idempotent(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    envelope = room.send("owner", "first")
    url = f"/v1/rooms/{room.room}/messages"
    first = await post(relay.http, url, envelope, token)
    assert first.status_code == 200
    assert first.json()["seq"] == 2
    again = await post(relay.http, url, envelope, token)
    assert again.json() == first.json()
    other = room.send("owner", "second")
    forged = type(other)(
        header=type(other.header)(**{**_fields(other.header), "id": envelope.header.id}),
        ciphertext=other.ciphertext,
        sig=other.sig,
    )
    r = await post(relay.http, url, forged, token)
    assert (r.status_code, error(r).code) == (409, "msg.duplicate_id")


def _fields(struct: object) -> dict[str, object]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}  # type: ignore[attr-defined]


async def test_send_refusals(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    url = f"/v1/rooms/{room.room}/messages"
    stale = room.send("owner", "old epoch", epoch=1)
    r = await post(relay.http, url, stale, token)
    assert (r.status_code, error(r).code) == (422, "msg.stale_epoch")
    r = await post(relay.http, url, room.send("owner", "as bob"), bob)
    assert (r.status_code, error(r).code) == (403, "auth.forbidden")
    envelope = room.send("owner", "tampered")
    flipped = bytes([envelope.ciphertext[0] ^ 1]) + envelope.ciphertext[1:]  # always differs
    tampered = type(envelope)(header=envelope.header, ciphertext=flipped, sig=envelope.sig)
    r = await post(relay.http, url, tampered, token)
    assert (r.status_code, error(r).code) == (422, "msg.bad_signature")
    # The signature is the last of the admission checks (docs/protocol.md 8.8).
    stale_and_forged = type(stale)(header=stale.header, ciphertext=stale.ciphertext, sig=bytes(64))
    r = await post(relay.http, url, stale_and_forged, token)
    assert (r.status_code, error(r).code) == (422, "msg.stale_epoch")
    stranger = (await login(relay.http, room.keys("mallory"), create=False)).token
    r = await post(relay.http, url, room.send("mallory", "hi", secret=bytes(32)), stranger)
    assert (r.status_code, error(r).code) == (404, "room.not_found")
    leave = room.leave("bob", apply=False)
    assert (await append(relay, room, leave, bob)).status_code == 200
    room.apply(leave)
    r = await post(relay.http, url, room.send("owner", "before the rotation"), token)
    assert (r.status_code, error(r).code) == (422, "msg.stale_epoch")


async def test_history_pages(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    acks = [await send(relay, room, "owner", token, f"m{i}") for i in range(5)]
    assert [a.seq for a in acks] == [2, 3, 4, 5, 6]
    url = f"/v1/rooms/{room.room}/messages"
    r = await relay.http.get(url, params={"limit": 2}, headers=headers(token))
    page = from_json(r.content, HistoryPage)
    assert [e.seq for e in page.events] == [5, 6]
    assert page.more
    r = await relay.http.get(url, params={"limit": 10, "before": 5}, headers=headers(token))
    page = from_json(r.content, HistoryPage)
    assert [e.seq for e in page.events] == [1, 2, 3, 4]
    assert not page.more
    assert isinstance(page.events[1], MessageEvent)


def _delete(room: Room, author: str, target: str, sender: str, clock: ManualClock) -> DeleteRequest:
    return sign_delete(
        room.keys(author),
        target=MessageId(target),
        sender=room.member(sender),
        device=bytes(16),
        counter=1,
        at=clock.now_ms(),
    )


async def test_deletions(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    carol = await join(relay, room, token, "carol")
    url = f"/v1/rooms/{room.room}/deletions"
    by_bob = await send(relay, room, "bob", bob, "mine")
    by_carol = await send(relay, room, "carol", carol, "carol's")
    # Bob deletes his own; the message's seq now serves a placeholder.
    request = _delete(room, "bob", by_bob.id, "bob", clock)
    r = await post(relay.http, url, request, bob)
    assert r.status_code == 200, r.text
    tomb = from_json(r.content, TombstoneEvent)
    assert tomb.target == by_bob.id
    assert tomb.seq == by_carol.seq + 1
    r = await post(relay.http, url, request, bob)  # again: the same tombstone
    assert from_json(r.content, TombstoneEvent) == tomb
    r = await relay.http.get(f"/v1/rooms/{room.room}/messages", headers=headers(bob))
    events = {e.seq: e for e in from_json(r.content, HistoryPage).events}
    assert events[by_bob.seq] == RemovedEvent(
        seq=by_bob.seq, ts=by_bob.ts, id=by_bob.id, sender=room.member("bob"), by=tomb.seq
    )
    assert sorted(events) == list(range(1, tomb.seq + 1))
    # Bob may not delete Carol's message; the owner (a moderator or above) may.
    request = _delete(room, "bob", by_carol.id, "carol", clock)
    r = await post(relay.http, url, request, bob)
    assert (r.status_code, error(r).code) == (403, "auth.forbidden")
    # The request must name the message's sender (the counter gap it excuses).
    request = _delete(room, "owner", by_carol.id, "bob", clock)
    r = await post(relay.http, url, request, token)
    assert (r.status_code, error(r).code) == (400, "request.invalid")
    request = _delete(room, "owner", by_carol.id, "carol", clock)
    assert (await post(relay.http, url, request, token)).status_code == 200
    # Unknown target, forged signature, someone else's request.
    request = _delete(room, "owner", "A" * 22, "carol", clock)
    r = await post(relay.http, url, request, token)
    assert (r.status_code, error(r).code) == (404, "msg.not_found")
    good = _delete(room, "owner", by_carol.id, "carol", clock)
    forged = DeleteRequest(content=good.content, sig=bytes(64))
    r = await post(relay.http, url, forged, token)
    assert (r.status_code, error(r).code) == (422, "msg.bad_signature")
    r = await post(relay.http, url, good, bob)
    assert (r.status_code, error(r).code) == (403, "auth.forbidden")
