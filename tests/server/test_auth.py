"""Challenge-response sessions and the room-creation policies."""

from __future__ import annotations

from typing import Any

from protocol import ManualClock, RootSeed, sign_auth
from protocol.api import Challenge, Session
from protocol.crypto import pow_check
from protocol.encoding import from_json
from protocol.ids import member_key
from tests.protocol.builders import some_room_id
from tests.server.conftest import Relay
from tests.server.helpers import b64, error, headers, login, new_room, post


def keys(name: str = "alice") -> Any:
    return RootSeed.generate().room_keys(some_room_id())


async def challenge(relay: Relay, k: Any) -> Challenge:
    r = await post(relay.http, "/v1/auth/challenge", {"key": k.member})
    assert r.status_code == 200, r.text
    return from_json(r.content, Challenge)


def answer(k: Any, ch: Challenge, *, nonce: int = 0, origin: str | None = None) -> dict[str, Any]:
    sig = sign_auth(k, origin=origin or ch.origin, challenge=ch.challenge, expires_at=ch.expires_at)
    return {"key": k.member, "challenge": b64(ch.challenge), "sig": b64(sig), "pow_nonce": nonce}


def bad_nonce(ch: Challenge, k: Any) -> int:
    return next(
        n
        for n in range(1000)
        if not pow_check(ch.challenge, member_key(k.member), n, ch.pow_difficulty)
    )


async def test_session_with_proof_of_work_may_create(relay: Relay) -> None:
    k = keys()
    session = await login(relay.http, k)
    assert session.can_create
    assert len(session.token) == 78  # version, flags, expiry, key, MAC: nothing stored
    # Every challenge asks for the proof: the relay keeps no list of keys that gave it
    # (a key is one room's and creates that room once; the list's order would be the
    # order of their sign-ins).
    again = await challenge(relay, k)
    assert again.pow_difficulty == 4
    assert again.origin == "http://relay.test"


async def test_session_without_proof_of_work_may_only_join(relay: Relay) -> None:
    k = keys()
    ch = await challenge(relay, k)
    assert ch.pow_difficulty == 4
    r = await post(relay.http, "/v1/auth/session", answer(k, ch, nonce=bad_nonce(ch, k)))
    assert r.status_code == 200
    assert not from_json(r.content, Session).can_create


async def test_challenge_is_single_use(relay: Relay) -> None:
    k = keys()
    ch = await challenge(relay, k)
    body = answer(k, ch)
    assert (await post(relay.http, "/v1/auth/session", body)).status_code == 200
    r = await post(relay.http, "/v1/auth/session", body)
    assert (r.status_code, error(r).code) == (401, "auth.invalid")


async def test_challenge_expires(relay: Relay, clock: ManualClock) -> None:
    k = keys()
    ch = await challenge(relay, k)
    clock.advance(61)
    r = await post(relay.http, "/v1/auth/session", answer(k, ch))
    assert (r.status_code, error(r).code) == (401, "auth.expired")


async def test_bad_signature_wrong_origin_and_foreign_challenge(relay: Relay) -> None:
    k, other = keys(), keys()
    ch = await challenge(relay, k)
    r = await post(relay.http, "/v1/auth/session", answer(k, ch, origin="http://evil.test"))
    assert (r.status_code, error(r).code) == (401, "auth.bad_signature")
    ch = await challenge(relay, k)
    r = await post(relay.http, "/v1/auth/session", answer(other, ch))
    assert (r.status_code, error(r).code) == (401, "auth.invalid")
    r = await post(relay.http, "/v1/auth/session", answer(k, ch) | {"sig": b64(bytes(64))})
    assert (r.status_code, error(r).code) == (401, "auth.invalid")


async def test_unknown_challenge(relay: Relay) -> None:
    k = keys()
    fake = Challenge(challenge=bytes(32), origin="http://relay.test", expires_at=1)
    r = await post(relay.http, "/v1/auth/session", answer(k, fake))
    assert (r.status_code, error(r).code) == (401, "auth.invalid")


async def test_bearer_tokens(relay: Relay, clock: ManualClock) -> None:
    k = keys()
    session = await login(relay.http, k)
    url = "/v1/rooms/" + some_room_id() + "/log"
    r = await relay.http.get(url)
    assert (r.status_code, error(r).code) == (401, "auth.required")
    r = await relay.http.get(url, headers={"Authorization": "Basic x"})
    assert (r.status_code, error(r).code) == (401, "auth.required")
    r = await relay.http.get(url, headers=headers("not-a-token"))
    assert (r.status_code, error(r).code) == (401, "auth.invalid")
    r = await relay.http.get(url, headers=headers(session.token, session.token))
    assert (r.status_code, error(r).code) == (400, "request.invalid")
    r = await relay.http.get(url, headers=headers(session.token))
    assert (r.status_code, error(r).code) == (404, "room.not_found")
    clock.advance(8 * 24 * 3600)
    r = await relay.http.get(url, headers=headers(session.token))
    assert (r.status_code, error(r).code) == (401, "auth.expired")


async def test_token_expiry_is_judged_by_the_relays_injected_clock(
    relay: Relay, clock: ManualClock
) -> None:
    """The app built with a ManualClock reads no other clock: moving it, and only it,
    expires a token, to the millisecond of its ``expires_at``."""
    session = await login(relay.http, keys())
    url = "/v1/rooms/" + some_room_id() + "/log"
    assert session.expires_at == clock.now_ms() + relay.app.state.relay.config.token_ttl * 1000
    clock.set(session.expires_at - 1)
    r = await relay.http.get(url, headers=headers(session.token))
    assert (r.status_code, error(r).code) == (404, "room.not_found")  # still signed in
    clock.set(session.expires_at)
    r = await relay.http.get(url, headers=headers(session.token))
    assert (r.status_code, error(r).code) == (401, "auth.expired")
    clock.set(session.expires_at - 1)  # the wall clock stepped back: the token is good again
    r = await relay.http.get(url, headers=headers(session.token))
    assert (r.status_code, error(r).code) == (404, "room.not_found")


async def test_token_policy(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(create_policy="token", registration_tokens=("let-me-in",)) as relay:
        ch = await challenge(relay, keys())
        assert ch.pow_difficulty == 0
        assert not (await login(relay.http, keys())).can_create
        assert (await login(relay.http, keys(), registration_token="let-me-in")).can_create
        k = keys()
        ch = await challenge(relay, k)
        r = await post(
            relay.http, "/v1/auth/session", answer(k, ch) | {"registration_token": "guess"}
        )
        assert (r.status_code, error(r).code) == (403, "auth.forbidden")


async def test_closed_policy(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(create_policy="closed") as relay:
        room = new_room(clock)
        owner = room.keys("owner")
        session = await login(relay.http, owner)
        assert not session.can_create
        r = await post(relay.http, "/v1/rooms", room.log.ops[0], session.token)
        assert (r.status_code, error(r).code) == (403, "room.create_forbidden")


async def test_open_policy_without_pow_cannot_create(relay: Relay, clock: ManualClock) -> None:
    room = new_room(clock)
    k = room.keys("owner")
    ch = await challenge(relay, k)
    r = await post(relay.http, "/v1/auth/session", answer(k, ch, nonce=bad_nonce(ch, k)))
    token = r.json()["token"]
    r = await post(relay.http, "/v1/rooms", room.log.ops[0], token)
    assert (r.status_code, error(r).code) == (403, "room.create_forbidden")
