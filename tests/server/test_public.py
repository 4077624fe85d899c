"""Health, readiness, crisis resources, the OpenAPI schema and the error envelope."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.api import CrisisResource
from server.storage import SqliteStorage
from tests.server.conftest import Relay
from tests.server.helpers import error, post

CRISIS = (
    CrisisResource(name="Samaritans", regions=["GB", "IE"], phone="116 123"),
    CrisisResource(name="988 Lifeline", regions=["US"], phone="988", sms="988"),
    CrisisResource(name="Befrienders", regions=["*"], url="https://befrienders.example"),
)


async def test_healthz_and_readyz(relay: Relay) -> None:
    r = await relay.http.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = await relay.http.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


async def test_readyz_fails_when_storage_is_gone(live: Relay) -> None:
    # ``live`` runs the app in this event loop, so the test may touch its storage.
    await live.storage.close()
    r = await live.http.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"


async def test_crisis_by_region(make_relay: Any) -> None:
    async with make_relay(crisis=CRISIS) as relay:
        r = await relay.http.get("/v1/crisis", params={"region": "gb"})
        assert [x["name"] for x in r.json()] == ["Samaritans", "Befrienders"]
        r = await relay.http.get("/v1/crisis")
        assert len(r.json()) == 3
        r = await relay.http.get("/v1/crisis", params={"region": "FR"})
        assert [x["name"] for x in r.json()] == ["Befrienders"]


@pytest.mark.parametrize("region", ["G", "GBR", "1A", "*", "g-", "é1"])
async def test_crisis_refuses_a_malformed_region(make_relay: Any, region: str) -> None:
    async with make_relay(crisis=CRISIS) as relay:
        r = await relay.http.get("/v1/crisis", params={"region": region})
        assert (r.status_code, error(r).code) == (400, "crisis.bad_region")
        r = await relay.http.get("/v1/crisis", params={"region": "x" * 9})
        assert (r.status_code, error(r).code) == (400, "request.invalid")


async def test_crisis_empty_by_default(relay: Relay) -> None:
    r = await relay.http.get("/v1/crisis", params={"region": "US"})
    assert (r.status_code, r.json()) == (200, [])


async def test_openapi_schema(relay: Relay) -> None:
    r = await relay.http.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/v1/rooms/{room}/log" in paths
    assert "/v1/sync" in paths


async def test_unknown_route_and_method(relay: Relay) -> None:
    r = await relay.http.get("/v1/nothing")
    assert (r.status_code, error(r).code) == (404, "route.not_found")
    r = await relay.http.delete("/healthz")
    assert (r.status_code, error(r).code) == (405, "request.method_not_allowed")


async def test_malformed_bodies_are_400_never_500(relay: Relay) -> None:
    for body in (
        b"",
        b"garbage",
        b"[]",
        b'{"key": 5}',
        b'{"key": "short"}',
        b"\xff\xfe",
        b"{" * 5000,
    ):
        r = await post(relay.http, "/v1/auth/challenge", body)
        assert r.status_code == 400, (body, r.text)
        assert error(r).code == "wire.malformed"


async def test_malformed_signed_op_and_query(relay: Relay) -> None:
    r = await post(relay.http, "/v1/rooms", {"content": {}, "sig": "AA=="}, "t")
    assert r.status_code in (400, 401)
    assert error(r).code in ("wire.malformed", "auth.invalid")
    r = await relay.http.get("/v1/rooms/" + "a" * 22 + "/log", params={"limit": "x"})
    assert (r.status_code, error(r).code) == (400, "request.invalid")


async def test_oversized_body_is_413(make_relay: Any) -> None:
    async with make_relay(max_body_bytes=1000) as relay:
        r = await post(relay.http, "/v1/auth/challenge", b'{"key": "' + b"a" * 5000 + b'"}')
        assert (r.status_code, error(r).code) == (413, "request.too_large")


async def test_token_in_url_is_refused(relay: Relay) -> None:
    for query in ({"token": "abc"}, {"access_token": "abc"}, {"x": "1", "Token": "abc"}):
        r = await relay.http.get("/v1/crisis", params=query)
        assert (r.status_code, error(r).code) == (401, "auth.token_in_url")


async def test_database_is_wal_with_full_sync(live: Relay) -> None:
    if not isinstance(live.storage, SqliteStorage):
        pytest.skip("SQLite's pragmas")
    pragmas = await live.storage.pragmas()
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["synchronous"] == 2
    assert pragmas["foreign_keys"] == 1
    assert pragmas["user_version"] >= 1


async def test_reopening_keeps_the_schema(tmp_path: Any) -> None:
    storage = SqliteStorage(tmp_path / "x.db")
    await storage.open()
    first = await storage.pragmas()
    await storage.close()
    again = SqliteStorage(tmp_path / "x.db")
    await again.open()
    assert await again.pragmas() == first
    await again.close()
