"""Encrypted attachments: members only, size-limited, opaque."""

from __future__ import annotations

from typing import Any

from protocol import ManualClock
from protocol.api import BlobRef
from protocol.encoding import from_json
from tests.server.conftest import Relay
from tests.server.helpers import create, error, headers, join, login


async def test_upload_and_download(relay: Relay, clock: ManualClock) -> None:
    room, token = await create(relay, clock)
    bob = await join(relay, room, token, "bob")
    data = bytes(range(256)) * 100
    url = f"/v1/rooms/{room.room}/blobs"
    r = await relay.http.post(
        url, content=data, headers=headers(token) | {"Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 201, r.text
    ref = from_json(r.content, BlobRef)
    assert ref.size == len(data)
    r = await relay.http.get(f"{url}/{ref.id}", headers=headers(bob))
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "application/octet-stream"
    r = await relay.http.get(f"{url}/{'A' * 22}", headers=headers(bob))
    assert (r.status_code, error(r).code) == (404, "blob.not_found")
    r = await relay.http.get(f"{url}/short", headers=headers(bob))
    assert (r.status_code, error(r).code) == (404, "blob.not_found")


async def test_blob_refusals(make_relay: Any, clock: ManualClock) -> None:
    async with make_relay(live=True, max_blob_bytes=1000) as relay:
        room, token = await create(relay, clock)
        url = f"/v1/rooms/{room.room}/blobs"
        r = await relay.http.post(url, content=b"x" * 1001, headers=headers(token))
        assert (r.status_code, error(r).code) == (413, "blob.too_large")
        assert error(r).detail == {"limit": 1000}

        async def chunks() -> Any:  # no Content-Length: the limit holds while streaming
            for _ in range(5):
                yield b"y" * 300

        r = await relay.http.post(url, content=chunks(), headers=headers(token))
        assert (r.status_code, error(r).code) == (413, "blob.too_large")
        assert (
            await relay.http.post(url, content=b"x" * 1000, headers=headers(token))
        ).status_code == 201
        stranger = (await login(relay.http, room.keys("mallory"), create=False)).token
        r = await relay.http.post(url, content=b"x", headers=headers(stranger))
        assert (r.status_code, error(r).code) == (404, "room.not_found")
