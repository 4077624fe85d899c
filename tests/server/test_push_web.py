"""Web Push on a real relay: the published VAPID key, and pushes signed with it.

The same stand-in push service as ``test_push.py`` (:mod:`tests.pushsink` on
loopback, reached as ``push.test`` through a resolver the test controls) plays a
browser's push service: each test checks what such a service would, the token's
signature against the key the relay publishes, and its claims, and checks that
the request carries nothing a push service should not learn.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from protocol import ManualClock
from server.config import Config, ConfigError
from server.push import BODY
from server.vapid import LIFETIME_S, REFRESH_S, Vapid, b64url, new_private_key
from tests.pushsink import Push, push_sink
from tests.server.conftest import Relay
from tests.server.helpers import Room, error, send
from tests.server.test_push import FakeDNS, group, push_relay

CONTACT = "mailto:push-admin@relay.test"


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def published_key(relay: Relay) -> str:
    r = await relay.http.get("/v1/push/vapid")
    assert r.status_code == 200, r.text
    key: str = r.json()["key"]
    assert len(key) == 87
    assert _b64(key)[0] == 4
    assert len(_b64(key)) == 65
    return key


def verified_claims(push: Push, key: str) -> dict[str, Any]:
    """What a push service checks (RFC 8292): the token verifies under the key it names,
    and that key is the one the browser subscribed with. Returns the claims."""
    scheme, _, params = push.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert set(fields) == {"t", "k"}
    assert fields["k"] == key
    header, claims, signature = fields["t"].split(".")
    assert json.loads(_b64(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = _b64(signature)
    assert len(raw) == 64
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64(key))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    decoded: dict[str, Any] = json.loads(_b64(claims))
    return decoded


async def register(relay: Relay, room: Room, token: str, device: str, body: dict[str, Any]) -> int:
    r = await relay.http.put(
        f"/v1/rooms/{room.room}/push/{device}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    return r.status_code


async def test_a_web_push_is_empty_and_signed_with_the_published_key(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    async with (
        push_sink() as sink,
        push_relay(tmp_path, backend, clock, dns, push_contact=CONTACT) as relay,
    ):
        key = await published_key(relay)
        room, owner, bob = await group(relay, clock)
        web = sink.url("/browser", host="push.test")
        unified = sink.url("/phone", host="push.test")
        assert (
            await register(relay, room, bob, "browser", {"endpoint": web, "web_push": True}) == 204
        )
        assert await register(relay, room, bob, "phone", {"endpoint": unified}) == 204
        ack = await send(relay, room, "owner", owner, "a secret about my week")
        (push,) = await sink.wait_for("/browser")
        (wake,) = await sink.wait_for("/phone")

        # What a browser's push service accepts: a POST with TTL, no body, a token
        # that verifies under the key the browser subscribed with, for this origin.
        assert (push.method, push.body) == ("POST", b"")
        assert push.headers["ttl"] == "86400"
        assert push.headers.get("content-length", "0") == "0"
        assert not {"content-type", "content-encoding", "encryption", "crypto-key"} & set(
            push.headers
        )
        claims = verified_claims(push, key)
        now = clock.now_ms() // 1000
        assert set(claims) == {"aud", "exp", "sub"}
        assert claims["aud"] == f"http://push.test:{sink.port}"
        assert now < claims["exp"] <= now + 24 * 3600
        assert claims["sub"] == CONTACT

        # The push names nothing, in its headers, its token or its (empty) body.
        token = push.headers["authorization"].split("t=")[1].split(",")[0]
        seen = push.raw + b"".join(_b64(part) for part in token.split("."))
        for secret in (room.room, room.keys("owner").member, room.keys("bob").member, ack.id):
            assert secret.encode() not in seen, secret
        for word in (b"hearth", b"browser", b"phone", b"room", b"member"):
            assert word not in seen.lower(), word

        # The UnifiedPush registration keeps its form: the fixed body, no token.
        assert wake.body == BODY
        assert "authorization" not in wake.headers

        # An attacker's forged token (signed with another key) does not verify.
        forged = Vapid(new_private_key(), CONTACT, clock=clock)
        bad = Push(
            push.method,
            push.path,
            {
                **push.headers,
                "authorization": forged.authorization(web).replace(b64url(forged.public_key), key),
            },
            b"",
        )
        with pytest.raises(InvalidSignature):
            verified_claims(bad, key)


async def test_the_vapid_key_survives_a_restart_and_the_subject_defaults_to_the_origin(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    async with push_relay(tmp_path, backend, clock, dns) as relay:
        first = await published_key(relay)
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns) as relay:
        assert await published_key(relay) == first
        room, owner, bob = await group(relay, clock)
        url = sink.url("/b", host="push.test")
        assert await register(relay, room, bob, "b", {"endpoint": url, "web_push": True}) == 204
        await send(relay, room, "owner", owner, "hello")
        (push,) = await sink.wait_for("/b")
        claims = verified_claims(push, first)
        assert claims["sub"] == "http://relay.test"  # the relay's origin (make_config)


async def test_a_configured_vapid_key_is_the_published_one(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    private = new_private_key()
    expected = b64url(Vapid(private, CONTACT).public_key)
    async with push_relay(
        tmp_path, backend, clock, FakeDNS(), push_vapid_key=b64url(private)
    ) as relay:
        assert await published_key(relay) == expected


async def test_the_vapid_route_answers_typed_errors(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    async with push_relay(tmp_path, backend, clock, FakeDNS(), push_allowlist=()) as relay:
        r = await relay.http.get("/v1/push/vapid")
        assert (r.status_code, error(r).code) == (403, "push.disabled")
    async with push_relay(tmp_path, backend, clock, FakeDNS()) as relay:
        r = await relay.http.post("/v1/push/vapid", json={"key": "A" * 87})
        assert (r.status_code, error(r).code) == (405, "request.method_not_allowed")
        r = await relay.http.get("/v1/push/vapid/private")
        assert (r.status_code, error(r).code) == (404, "route.not_found")


async def test_a_web_push_endpoint_is_checked_like_any_other(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    """Saying ``web_push`` buys an attacker nothing: the allowlist and the address
    checks hold, and a refused endpoint is never contacted."""
    dns = FakeDNS(push_test=["127.0.0.1"], evil_test=["127.0.0.1"], inside_test=["10.0.0.8"])
    changes = {"push_allow_private": False, "push_allowlist": ("push.test", "inside.test")}
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns, **changes) as relay:
        room, owner, bob = await group(relay, clock)
        for url, code in (
            (sink.url("/x", host="evil.test"), "push.endpoint_forbidden"),  # not listed
            (sink.url("/x", host="127.0.0.1"), "push.endpoint_forbidden"),  # an address
            (sink.url("/x", host="push.test"), "push.endpoint_forbidden"),  # loopback
            ("https://inside.test/x", "push.endpoint_forbidden"),  # a private address
        ):
            r = await relay.http.put(
                f"/v1/rooms/{room.room}/push/browser",
                json={"endpoint": url, "web_push": True},
                headers={"Authorization": f"Bearer {bob}"},
            )
            assert (r.status_code, error(r).code) == (403, code), url
        r = await relay.http.put(
            f"/v1/rooms/{room.room}/push/browser",
            json={"endpoint": "https://push.test/x", "web_push": "yes"},
            headers={"Authorization": f"Bearer {bob}"},
        )
        assert (r.status_code, error(r).code) == (400, "wire.malformed")
        await send(relay, room, "owner", owner, "nobody is woken")
        assert await relay.storage.push_targets([room.keys("bob").member]) == []
        assert sink.received == []


def test_tokens_are_reused_per_audience_until_near_expiry() -> None:
    clock = ManualClock()
    vapid = Vapid(new_private_key(), CONTACT, clock=clock)
    first, exp = vapid.token("https://a.example")
    assert exp == clock.now_ms() // 1000 + LIFETIME_S
    assert vapid.token("https://a.example") == (first, exp)
    other, _ = vapid.token("https://b.example")
    assert other != first
    clock.advance(REFRESH_S - 1)
    assert vapid.token("https://a.example")[0] == first
    clock.advance(2)
    fresh, fresh_exp = vapid.token("https://a.example")
    assert fresh != first
    assert fresh_exp > exp
    assert vapid.authorization("HTTPS://A.example/push/abc?x=1").startswith(f"vapid t={fresh}, k=")


def test_vapid_settings_are_checked(tmp_path: Path) -> None:
    key = b64url(new_private_key())
    assert Config(data_dir=tmp_path, push_vapid_key=key).push_vapid_key == key
    assert key not in repr(Config(data_dir=tmp_path, push_vapid_key=key))
    zero = b64url(bytes(32))
    for bad in ("not base64!", b64url(b"short"), zero, "+" * 43):
        with pytest.raises(ConfigError) as caught:
            Config(data_dir=tmp_path, push_vapid_key=bad)
        assert bad not in str(caught.value)
    with pytest.raises(ConfigError):
        Config(data_dir=tmp_path, push_contact="http://relay.test")
    assert Config(data_dir=tmp_path, push_contact=CONTACT).push_contact == CONTACT
