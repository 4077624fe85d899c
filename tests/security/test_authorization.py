"""Authorisation: strangers learn nothing, stale credentials open nothing.

Every room-scoped route is taken from the application's own route table, so a route
added later fails :func:`test_every_room_route_is_covered` until it gets a case
here. For each, a key outside the room (authenticated, unaffiliated) asks about a
room that exists, with objects that exist (a message, a blob), and about a room
that does not, with objects that do not: status and body must be byte-identical,
else the answer is an oracle for which rooms and objects exist.

Then the credentials: an expired session token, the token of a deleted account, a
challenge answered twice, a challenge answered after its expiry, and a token in a
URL query string (on every route) are all refused with their codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from protocol import InviteKey, ManualClock, sign_auth
from protocol.api import BlobRef, Challenge
from protocol.encoding import from_json, to_json
from protocol.signing import sign_delete
from server.config import Config
from tests.server.conftest import Relay
from tests.server.helpers import (
    Room,
    b64,
    create,
    error,
    join,
    login,
    new_room,
    post,
    send,
)

Request = tuple[str, str, dict[str, Any]]
"""method, url, httpx keyword arguments."""


def room_routes(relay: Relay) -> set[tuple[str, str]]:
    """(method, path) of every API route whose path names a room.

    The web app's ``/join/{room}`` (an invite link opened in a browser) is no API
    route: it answers every well-formed id alike without looking anything up, which
    ``test_the_invite_redirect_tells_nothing_about_rooms`` holds it to.
    """
    found = set()
    for route in relay.app.routes:
        if isinstance(route, HTTPRoute) and "{room" in route.path and route.path.startswith("/v1/"):
            for method in route.methods:
                if method not in ("HEAD", "OPTIONS"):
                    found.add((method, route.path))
    return found


def _json(body: Any) -> dict[str, Any]:
    return {"content": to_json(body), "headers": {"Content-Type": "application/json"}}


def _invite_read(room: Room, reader: str) -> dict[str, Any]:
    invite = InviteKey.generate()  # never registered in either room
    proof = invite.prove_read(room=room.room, reader=reader, at=room.now)
    return {
        "invite_key": b64(invite.public),
        "reader": reader,
        "at": room.now,
        "sig": b64(proof),
    }


# Each builds the request a stranger ("mallory", whose session key is ``me``) makes
# about room ``r``, naming the message ``m`` and blob ``b`` (real ones in the room that
# exists, made up ones otherwise).
Builder = Callable[[Room, str, str, str], Request]

CASES: dict[tuple[str, str], Builder] = {
    ("GET", "/v1/rooms/{room:str}/log"): lambda r, m, b, me: ("GET", f"/v1/rooms/{r.room}/log", {}),
    ("POST", "/v1/rooms/{room:str}/log"): lambda r, m, b, me: (
        "POST",
        f"/v1/rooms/{r.room}/log",
        _json(r.rotate("mallory", apply=False)),
    ),
    ("POST", "/v1/rooms/{room:str}/invite-log"): lambda r, m, b, me: (
        "POST",
        f"/v1/rooms/{r.room}/invite-log",
        _json(_invite_read(r, me)),
    ),
    ("GET", "/v1/rooms/{room:str}/messages"): lambda r, m, b, me: (
        "GET",
        f"/v1/rooms/{r.room}/messages",
        {},
    ),
    ("POST", "/v1/rooms/{room:str}/messages"): lambda r, m, b, me: (
        "POST",
        f"/v1/rooms/{r.room}/messages",
        _json(r.send("mallory", "let me in")),
    ),
    ("POST", "/v1/rooms/{room:str}/deletions"): lambda r, m, b, me: (
        "POST",
        f"/v1/rooms/{r.room}/deletions",
        _json(
            sign_delete(
                r.keys("mallory"),
                target=m,
                sender=r.member("mallory"),
                device=bytes(16),
                counter=1,
                at=r.now,
            )
        ),
    ),
    ("POST", "/v1/rooms/{room:str}/blobs"): lambda r, m, b, me: (
        "POST",
        f"/v1/rooms/{r.room}/blobs",
        {"content": b"ciphertext", "headers": {"Content-Type": "application/octet-stream"}},
    ),
    ("GET", "/v1/rooms/{room:str}/blobs/{blob:str}"): lambda r, m, b, me: (
        "GET",
        f"/v1/rooms/{r.room}/blobs/{b}",
        {},
    ),
    # The device name is the client's own; the message id stands in for one.
    ("PUT", "/v1/rooms/{room:str}/push/{device:str}"): lambda r, m, b, me: (
        "PUT",
        f"/v1/rooms/{r.room}/push/{m}",
        {
            "content": b'{"endpoint": "https://push.example/up"}',
            "headers": {"Content-Type": "application/json"},
        },
    ),
    ("DELETE", "/v1/rooms/{room:str}/push/{device:str}"): lambda r, m, b, me: (
        "DELETE",
        f"/v1/rooms/{r.room}/push/{m}",
        {},
    ),
}

# Requests beyond one per route: a join with an invite the room never registered.
EXTRA: dict[str, Builder] = {
    "join with an unknown invite": lambda r, m, b, me: (
        "POST",
        f"/v1/rooms/{r.room}/log",
        _json(r.join("mallory", InviteKey.generate(), apply=False)),
    ),
}


async def test_every_room_route_is_covered(relay: Relay) -> None:
    assert room_routes(relay) == set(CASES), "add a case for the new room-scoped route"


async def _ask(http: httpx.AsyncClient, token: str, request: Request) -> tuple[int, bytes]:
    method, url, kwargs = request
    headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
    response = await http.request(method, url, headers=headers, **kwargs)
    return response.status_code, response.content


@pytest.mark.parametrize("case", [*CASES, *EXTRA], ids=str)
async def test_a_stranger_cannot_tell_a_room_or_object_exists(
    relay: Relay, clock: ManualClock, case: Any
) -> None:
    room, owner = await create(relay, clock)
    peer = await join(relay, room, owner, "peer")
    message = (await send(relay, room, "peer", peer, "here")).id
    r = await relay.http.post(
        f"/v1/rooms/{room.room}/blobs",
        content=b"attachment",
        headers={"Authorization": f"Bearer {owner}", "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    blob = from_json(r.content, BlobRef).id
    ghost = new_room(clock)  # never created on the relay
    made_up_message, made_up_blob = "A" * 22, "B" * 22

    build = CASES[case] if case in CASES else EXTRA[case]
    me = room.keys("mallory").member
    mallory = (await login(relay.http, room.keys("mallory"), create=False)).token
    answers = {
        "room exists, object exists": await _ask(
            relay.http, mallory, build(room, message, blob, me)
        ),
        "room exists, object does not": await _ask(
            relay.http, mallory, build(room, made_up_message, made_up_blob, me)
        ),
        "no room, no object": await _ask(
            relay.http, mallory, build(ghost, made_up_message, made_up_blob, me)
        ),
    }
    assert len(set(answers.values())) == 1, answers
    status, body = next(iter(answers.values()))
    assert status == 404, body
    # The members themselves still see the room (the case asks a real question).
    r = await relay.http.get(
        f"/v1/rooms/{room.room}/log", headers={"Authorization": f"Bearer {owner}"}
    )
    assert r.status_code == 200


async def test_the_invite_redirect_tells_nothing_about_rooms(
    relay: Relay, clock: ManualClock
) -> None:
    """``/join/{room}`` sends a browser on to the app, the same for any room id.

    A stranger, with or without a session, gets the one 302 whether the room exists
    or not, so the route that names a room outside ``/v1/`` reveals nothing.
    """
    room, owner = await create(relay, clock)
    ghost = new_room(clock)
    mallory = (await login(relay.http, room.keys("mallory"), create=False)).token
    answers = set()
    for target in (room.room, ghost.room):
        for headers in ({}, {"Authorization": f"Bearer {mallory}"}):
            r = await relay.http.get(f"/join/{target}", headers=headers)
            location = r.headers["location"].replace(target, "ROOM")
            answers.add((r.status_code, location, r.content))
    assert answers == {(302, "/?join=ROOM", b"")}
    assert owner  # the room is real: its owner holds a session


# -- credentials ---------------------------------------------------------------


async def _challenge(http: httpx.AsyncClient, room: Room, name: str) -> tuple[Challenge, bytes]:
    r = await post(http, "/v1/auth/challenge", {"key": room.keys(name).member})
    assert r.status_code == 200, r.text
    ch = from_json(r.content, Challenge)
    answer = {
        "key": room.keys(name).member,
        "challenge": b64(ch.challenge),
        "sig": b64(
            sign_auth(
                room.keys(name), origin=ch.origin, challenge=ch.challenge, expires_at=ch.expires_at
            )
        ),
    }
    return ch, to_json(answer)


async def test_an_expired_token_is_refused(
    relay: Relay, config: Config, clock: ManualClock
) -> None:
    room, token = await create(relay, clock)
    url = f"/v1/rooms/{room.room}/log"
    assert (await relay.http.get(url, headers={"Authorization": f"Bearer {token}"})).is_success
    clock.advance(config.token_ttl + 1)
    r = await relay.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, error(r).code) == (401, "auth.expired")


async def test_the_token_of_a_deleted_account_is_refused(relay: Relay, clock: ManualClock) -> None:
    room, owner = await create(relay, clock)
    peer = await join(relay, room, owner, "peer")
    leave = room.leave("peer", apply=False)
    r = await post(relay.http, "/v1/account/delete", {"leave": leave}, peer)
    assert r.status_code == 200, r.text
    for method, url in (("GET", f"/v1/rooms/{room.room}/log"), ("POST", "/v1/sync")):
        r = await relay.http.request(
            method,
            url,
            content=b'{"positions": {}}' if method == "POST" else None,
            headers={"Authorization": f"Bearer {peer}", "Content-Type": "application/json"},
        )
        assert (r.status_code, error(r).code) == (401, "auth.invalid"), url


async def test_a_challenge_answers_once(relay: Relay, clock: ManualClock) -> None:
    room = new_room(clock)
    _, answer = await _challenge(relay.http, room, "alice")
    first = await post(relay.http, "/v1/auth/session", answer)
    assert first.status_code == 200, first.text
    replay = await post(relay.http, "/v1/auth/session", answer)
    assert (replay.status_code, error(replay).code) == (401, "auth.invalid")


async def test_a_challenge_answered_late_is_refused(
    relay: Relay, config: Config, clock: ManualClock
) -> None:
    room = new_room(clock)
    _, answer = await _challenge(relay.http, room, "alice")
    clock.advance(config.challenge_ttl + 1)
    r = await post(relay.http, "/v1/auth/session", answer)
    assert (r.status_code, error(r).code) == (401, "auth.expired")


async def test_a_challenge_for_another_key_is_refused(relay: Relay, clock: ManualClock) -> None:
    room = new_room(clock)
    ch, _ = await _challenge(relay.http, room, "alice")
    bob = room.keys("bob")
    sig = sign_auth(bob, origin=ch.origin, challenge=ch.challenge, expires_at=ch.expires_at)
    body = {"key": bob.member, "challenge": b64(ch.challenge), "sig": b64(sig)}
    r = await post(relay.http, "/v1/auth/session", body)
    assert (r.status_code, error(r).code) == (401, "auth.invalid")


@pytest.mark.parametrize("name", ["token", "access_token", "auth", "Authorization", "TOKEN"])
async def test_a_token_in_any_url_is_refused(relay: Relay, clock: ManualClock, name: str) -> None:
    room, token = await create(relay, clock)
    paths = sorted(
        {
            (method, route.path.replace("{room:str}", room.room).replace("{blob:str}", "B" * 22))
            for route in relay.app.routes
            if isinstance(route, HTTPRoute)
            for method in route.methods
            if method not in ("HEAD", "OPTIONS")
        }
    )
    assert len(paths) >= 16
    for method, path in paths:
        r = await relay.http.request(
            method,
            f"{path}?{name}={token}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            content=b"{}" if method == "POST" else None,
        )
        assert (r.status_code, error(r).code) == (401, "auth.token_in_url"), (method, path)
        assert token not in r.text
