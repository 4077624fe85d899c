"""Link offers and personal stores on the relay, on SQLite and on PostgreSQL.

The relay holds a link offer until its first claim or its expiry, and a personal
store's documents as versioned ciphertext written by compare-and-swap; every
refusal is a typed error. Writes reach the owner's stream as ``personal`` frames.
"""

from __future__ import annotations

import asyncio
import base64
import json

from protocol import ManualClock, crypto
from protocol.api import (
    LinkClaim,
    LinkOffered,
    PersonalDocument,
    PersonalFrame,
    PersonalIndex,
    PersonalInfo,
)
from protocol.encoding import from_json
from protocol.personal import (
    Document,
    Entry,
    LinkCode,
    LinkHello,
    PersonalKeys,
    open_document,
    open_hello,
    seal_document,
    seal_hello,
)
from server.retention import Retention
from tests.server.conftest import Relay
from tests.server.helpers import error, headers, login, post
from tests.server.test_stream import frame, open_stream


def _keys() -> PersonalKeys:
    return PersonalKeys.derive(crypto.random_bytes(32))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _offer(relay: Relay, token: str, code: LinkCode, root: bytes) -> int:
    box = seal_hello(code, LinkHello(box_key=root))
    r = await post(relay.http, "/v1/links", {"id": code.rendezvous, "box": _b64(box)}, token)
    return r.status_code if r.status_code != 201 else -from_json(r.content, LinkOffered).expires_at


async def _claim(relay: Relay, link: str) -> tuple[int, bytes | str]:
    r = await relay.http.post(f"/v1/links/{link}/claim")
    if r.status_code == 200:
        return 200, from_json(r.content, LinkClaim).box
    return r.status_code, error(r).code


async def test_link_offer_is_claimed_once(relay: Relay, clock: ManualClock) -> None:
    keys = _keys()
    token = (await login(relay.http, keys, create=False)).token  # type: ignore[arg-type]
    code, root = LinkCode.generate(), crypto.random_bytes(32)
    expires = -(await _offer(relay, token, code, root))
    assert expires == clock.now_ms() + relay.app.state.relay.config.link_ttl * 1000
    status, box = await _claim(relay, code.rendezvous)
    assert status == 200
    assert isinstance(box, bytes)
    assert open_hello(code, box).box_key == root
    assert await _claim(relay, code.rendezvous) == (410, "link.used")
    assert await _claim(relay, LinkCode.generate().rendezvous) == (404, "link.not_found")
    assert await _claim(relay, "not-an-id") == (404, "link.not_found")
    # The same id cannot be filed twice.
    assert await _offer(relay, token, code, root) == 409


async def test_concurrent_claims_hand_out_one_copy(relay: Relay) -> None:
    token = (await login(relay.http, _keys(), create=False)).token  # type: ignore[arg-type]
    code = LinkCode.generate()
    await _offer(relay, token, code, crypto.random_bytes(32))
    results = await asyncio.gather(*(_claim(relay, code.rendezvous) for _ in range(6)))
    assert sorted(r[0] for r in results) == [200] + [410] * 5


async def test_link_offer_expires_and_loses_its_ciphertext(
    relay: Relay, clock: ManualClock
) -> None:
    token = (await login(relay.http, _keys(), create=False)).token  # type: ignore[arg-type]
    code = LinkCode.generate()
    await _offer(relay, token, code, crypto.random_bytes(32))
    other = LinkCode.generate()
    await _offer(relay, token, other, crypto.random_bytes(32))
    clock.advance(relay.app.state.relay.config.link_ttl + 1)
    assert await _claim(relay, code.rendezvous) == (410, "link.expired")
    assert await _claim(relay, code.rendezvous) == (410, "link.expired")
    # Retention drops the unclaimed one's ciphertext; its row answers "expired" a day.
    retention = Retention(relay.storage, interval=3600, clock=clock)
    await retention.run_once()
    assert await _claim(relay, other.rendezvous) == (410, "link.expired")
    clock.advance(2 * 24 * 3600)
    await retention.run_once()
    assert await _claim(relay, other.rendezvous) == (404, "link.not_found")


async def test_link_offers_need_a_session_and_are_capped(relay: Relay) -> None:
    code = LinkCode.generate()
    box = _b64(seal_hello(code, LinkHello(box_key=bytes(32))))
    r = await post(relay.http, "/v1/links", {"id": code.rendezvous, "box": box})
    assert (r.status_code, error(r).code) == (401, "auth.required")
    token = (await login(relay.http, _keys(), create=False)).token  # type: ignore[arg-type]
    cap = relay.app.state.relay.config.link_max_pending
    for _ in range(cap):
        assert await _offer(relay, token, LinkCode.generate(), bytes(32)) < 0
    r = await post(
        relay.http, "/v1/links", {"id": LinkCode.generate().rendezvous, "box": box}, token
    )
    assert (r.status_code, error(r).code) == (429, "link.too_many")
    r = await post(relay.http, "/v1/links", {"id": "short", "box": box}, token)
    assert (r.status_code, error(r).code) == (400, "wire.malformed")


def _doc(**values: bytes | None) -> Document:
    return Document(entries={k: Entry(value=v, at=1, device=bytes(16)) for k, v in values.items()})


async def _put(relay: Relay, token: str, doc: str, expected: int, box: bytes) -> tuple[int, object]:
    r = await relay.http.put(
        f"/v1/personal/{doc}",
        content=json.dumps({"expected": expected, "box": _b64(box)}),
        headers={**headers(token), "content-type": "application/json"},
    )
    if r.status_code == 200:
        return 200, from_json(r.content, PersonalInfo)
    body = error(r)
    return r.status_code, (body.code, body.detail)


async def test_personal_store_compare_and_swap(relay: Relay) -> None:
    keys = _keys()
    token = (await login(relay.http, keys, create=False)).token  # type: ignore[arg-type]
    doc = keys.document_id("notes")
    one = seal_document(keys, doc, 1, _doc(a=b"first"))
    status, info = await _put(relay, token, doc, 0, one)
    assert status == 200
    assert isinstance(info, PersonalInfo)
    assert (info.id, info.version, info.size) == (doc, 1, len(one))
    # A second device that also thought the document was new is refused, told v1.
    other = seal_document(keys, doc, 1, _doc(b=b"second"))
    assert await _put(relay, token, doc, 0, other) == (
        409,
        ("personal.conflict", {"version": 1}),
    )
    r = await relay.http.get(f"/v1/personal/{doc}", headers=headers(token))
    stored = from_json(r.content, PersonalDocument)
    assert stored.version == 1
    assert open_document(keys, doc, 1, stored.box).entries["a"].value == b"first"
    two = seal_document(keys, doc, 2, _doc(a=b"first", b=b"second"))
    assert (await _put(relay, token, doc, 1, two))[0] == 200
    r = await relay.http.get("/v1/personal", headers=headers(token))
    assert from_json(r.content, PersonalIndex).docs == [
        PersonalInfo(id=doc, version=2, size=len(two))
    ]
    # Another key sees nothing of it.
    stranger = (await login(relay.http, _keys(), create=False)).token  # type: ignore[arg-type]
    r = await relay.http.get(f"/v1/personal/{doc}", headers=headers(stranger))
    assert (r.status_code, error(r).code) == (404, "personal.not_found")
    r = await relay.http.get("/v1/personal", headers=headers(stranger))
    assert from_json(r.content, PersonalIndex).docs == []
    r = await relay.http.get("/v1/personal/x", headers=headers(token))
    assert (r.status_code, error(r).code) == (404, "personal.not_found")
    r = await relay.http.get("/v1/personal")
    assert (r.status_code, error(r).code) == (401, "auth.required")


async def test_concurrent_writes_one_wins(relay: Relay) -> None:
    keys = _keys()
    token = (await login(relay.http, keys, create=False)).token  # type: ignore[arg-type]
    doc = keys.document_id("settings")
    boxes = [seal_document(keys, doc, 1, _doc(k=bytes([i]))) for i in range(5)]
    results = await asyncio.gather(*(_put(relay, token, doc, 0, b) for b in boxes))
    assert sorted(r[0] for r in results) == [200, 409, 409, 409, 409]


async def test_personal_quotas(make_relay: object) -> None:
    async with make_relay(personal_max_docs=2, personal_max_bytes=3000) as relay:  # type: ignore[operator]
        keys = _keys()
        token = (await login(relay.http, keys, create=False)).token  # type: ignore[arg-type]
        small = [keys.document_id(n) for n in ("a", "b", "c")]
        for doc in small[:2]:
            assert (await _put(relay, token, doc, 0, seal_document(keys, doc, 1, _doc())))[0] == 200
        status, detail = await _put(relay, token, small[2], 0, bytes(100))
        assert (status, detail) == (413, ("personal.quota", None))
        big = seal_document(keys, small[0], 2, _doc(x=bytes(3000)))
        assert (await _put(relay, token, small[0], 1, big))[:1] == (413,)
        # Nothing changed by the refusals.
        r = await relay.http.get("/v1/personal", headers=headers(token))
        assert [d.version for d in from_json(r.content, PersonalIndex).docs] == [1, 1]


async def test_writes_reach_the_owners_stream(live: Relay) -> None:
    keys = _keys()
    token = (await login(live.http, keys, create=False)).token  # type: ignore[arg-type]
    doc = keys.document_id("rooms")
    await _put(live, token, doc, 0, seal_document(keys, doc, 1, _doc()))
    ws = await open_stream(live, token)
    await ws.send(json.dumps({"type": "personal.subscribe", "owner": keys.member}))
    first = await frame(ws)
    assert first == PersonalFrame(owner=keys.member, id=doc, version=1)
    await _put(live, token, doc, 1, seal_document(keys, doc, 2, _doc(r=b"")))
    assert (await frame(ws)).version == 2
    # A key the connection did not authenticate cannot be followed.
    await ws.send(json.dumps({"type": "personal.subscribe", "owner": _keys().member}))
    refused = await frame(ws)
    assert refused.code == "auth.forbidden"
    await ws.close()
