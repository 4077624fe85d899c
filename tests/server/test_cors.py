"""Browsers: CORS for the listed front ends only, preflights, and the stream's Origin rule.

Through the real app: HTTP over httpx's ASGI transport, websockets over a real
uvicorn (a refused handshake is an HTTP answer only a server sends). The rules are
storage-blind, so these run on SQLite alone. ``server/cors.py`` states the rules;
each test here breaks when one of them does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from protocol import ManualClock
from protocol.api import ErrorBody
from protocol.encoding import from_json
from server.config import Rate
from server.cors import ALLOW_METHODS, MAX_AGE
from server.handlers import ROUTES
from tests.server import conftest
from tests.server.helpers import create, error, login, new_room, post

APP = "https://app.example"
"""The front end hosted elsewhere that the relay lists."""
OTHER = "https://evil.example"
OWN = "http://relay.test"
"""The relay's own public origin (``make_config``'s ``origin``)."""

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    """Every ``Access-Control-*`` header of a response, and ``Vary``."""
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-") or name == "vary"
    }


def allowed_headers(origin: str) -> dict[str, str]:
    """What an answer to a listed origin carries, exactly."""
    return {
        "access-control-allow-origin": origin,
        "vary": "Origin",
        "access-control-expose-headers": "Retry-After",
    }


@pytest.fixture
def relay_with(tmp_path: Path, clock: ManualClock) -> Callable[..., Any]:
    """``async with relay_with(live=False, **config_changes) as relay`` on SQLite."""

    def factory(*, live: bool = False, **changes: Any) -> Any:
        config = conftest.make_config(tmp_path, **changes)
        if live:
            return conftest.live_server(config, clock)
        return conftest.test_client(config, clock)

    return factory


# -- no list: today's relay, exactly ----------------------------------------------


async def test_without_allowed_origins_no_answer_carries_cors(relay_with: Any) -> None:
    async with relay_with() as relay:
        r = await relay.http.get("/v1/crisis", headers={"Origin": APP})
        assert r.status_code == 200
        assert cors_headers(r) == {}
        # A preflight is Litestar's plain OPTIONS answer: nothing a browser accepts.
        r = await relay.http.options("/v1/sync", headers={"Origin": APP, **PREFLIGHT})
        assert r.status_code == 204
        assert r.headers["allow"] == "OPTIONS, POST"
        assert cors_headers(r) == {}
        r = await relay.http.options("/v1/sync", headers={"Origin": OTHER, **PREFLIGHT})
        assert (r.status_code, cors_headers(r)) == (204, {})


# -- answers to a listed origin ----------------------------------------------------


async def test_a_listed_origin_reads_answers_to_gets_and_posts(
    relay_with: Any, clock: ManualClock
) -> None:
    async with relay_with(allowed_origins=(APP,)) as relay:
        relay.http.headers["Origin"] = APP
        room, token = await create(relay, clock)  # a challenge, a session, a POST
        r = await relay.http.get(
            f"/v1/rooms/{room.room}/log", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
        assert cors_headers(r) == allowed_headers(APP)
        assert "access-control-allow-credentials" not in r.headers
        r = await post(relay.http, "/v1/auth/challenge", {"key": room.keys("owner").member})
        assert r.status_code == 200
        assert cors_headers(r) == allowed_headers(APP)


async def test_a_listed_origin_reads_the_relays_errors_too(relay_with: Any) -> None:
    async with relay_with(allowed_origins=(OTHER, APP)) as relay:
        answers = {
            401: await relay.http.get("/v1/personal", headers={"Origin": APP}),
            400: await relay.http.post(
                "/v1/sync",
                content=b"{",
                headers={"Origin": APP, "Content-Type": "application/json"},
            ),
            404: await relay.http.get("/v1/nowhere", headers={"Origin": APP}),
            405: await relay.http.delete("/healthz", headers={"Origin": APP}),
        }
        for status, r in answers.items():
            assert r.status_code == status, r.text
            assert cors_headers(r) == allowed_headers(APP), status
        assert error(answers[401]).code == "auth.required"
        assert error(answers[400]).code == "wire.malformed"


async def test_a_rate_limit_exposes_its_retry_after(relay_with: Any) -> None:
    rates = {**conftest.GENEROUS, "request": Rate(1.0, 2)}
    async with relay_with(allowed_origins=(APP,), rate_limits=rates) as relay:
        for _ in range(2):
            assert (await relay.http.get("/v1/crisis", headers={"Origin": APP})).status_code == 200
        r = await relay.http.get("/v1/crisis", headers={"Origin": APP})
        assert r.status_code == 429
        assert error(r).code == "rate.limited"
        assert "retry-after" in r.headers
        assert cors_headers(r) == allowed_headers(APP)


async def test_another_origin_is_served_but_not_told_it_may_read(relay_with: Any) -> None:
    # CORS is the browser's rule: the relay answers as to any client, and the
    # browser keeps the answer from a script on a page it does not name.
    async with relay_with(allowed_origins=(APP,)) as relay:
        for origin in (
            OTHER,
            OWN,
            "null",
            "https://APP.example",  # browsers send lower case; nothing else matches
            APP + "/",
            APP + ":443",
            "http://app.example",
        ):
            r = await relay.http.get("/v1/crisis", headers={"Origin": origin})
            assert r.status_code == 200
            assert cors_headers(r) == {}, origin
        r = await relay.http.get("/v1/crisis")  # no Origin: a native client
        assert (r.status_code, cors_headers(r)) == (200, {})
        # Two Origin headers: neither is believed.
        r = await relay.http.get("/v1/crisis", headers=[("Origin", APP), ("Origin", APP)])
        assert (r.status_code, cors_headers(r)) == (200, {})


# -- preflights ---------------------------------------------------------------------


async def test_a_preflight_from_a_listed_origin_gets_exactly_the_apis_lists(
    relay_with: Any, clock: ManualClock
) -> None:
    async with relay_with(allowed_origins=(APP,)) as relay:
        room = new_room(clock)
        for path in ("/v1/sync", f"/v1/rooms/{room.room}/push/device"):
            r = await relay.http.options(path, headers={"Origin": APP, **PREFLIGHT})
            assert r.status_code == 204, r.text
            assert r.content == b""
            assert cors_headers(r) == {
                "access-control-allow-origin": APP,
                "vary": "Origin",
                "access-control-allow-methods": "DELETE, GET, POST, PUT",
                "access-control-allow-headers": "Authorization, Content-Type",
                "access-control-max-age": str(MAX_AGE),
            }
        # An OPTIONS that asks nothing is no preflight: Litestar's answer, readable.
        r = await relay.http.options("/v1/sync", headers={"Origin": APP})
        assert r.headers["allow"] == "OPTIONS, POST"
        assert cors_headers(r) == allowed_headers(APP)


async def test_a_preflight_from_any_other_origin_is_refused_with_a_typed_error(
    relay_with: Any,
) -> None:
    async with relay_with(allowed_origins=(APP,)) as relay:
        for headers in (
            {"Origin": OTHER},
            {"Origin": "null"},
            {"Origin": OWN},  # same-origin pages never preflight
            {"Origin": APP.upper()},
        ):
            r = await relay.http.options("/v1/sync", headers={**headers, **PREFLIGHT})
            assert r.status_code == 403, headers
            body = from_json(r.content, ErrorBody)
            assert body.code == "request.origin_refused"
            assert cors_headers(r) == {}
        r = await relay.http.options(
            "/v1/sync", headers=[("Origin", APP), ("Origin", APP), *PREFLIGHT.items()]
        )
        assert (r.status_code, error(r).code) == (403, "request.origin_refused")


async def test_preflights_pass_the_relays_own_checks_first(relay_with: Any) -> None:
    rates = {**conftest.GENEROUS, "request": Rate(1.0, 2)}
    async with relay_with(allowed_origins=(APP,), rate_limits=rates) as relay:
        r = await relay.http.options("/v1/sync?token=abc", headers={"Origin": APP, **PREFLIGHT})
        assert (r.status_code, error(r).code) == (401, "auth.token_in_url")
        for _ in range(2):
            r = await relay.http.options("/v1/sync", headers={"Origin": APP, **PREFLIGHT})
            assert r.status_code == 204
        # The request bucket (two) is spent: preflights count like any request.
        r = await relay.http.options("/v1/sync", headers={"Origin": APP, **PREFLIGHT})
        assert (r.status_code, error(r).code) == (429, "rate.limited")


def test_the_preflight_names_exactly_the_methods_the_routes_use() -> None:
    used = {method for handler in ROUTES for method in getattr(handler, "http_methods", ())}
    assert used == set(ALLOW_METHODS)


# -- the stream ----------------------------------------------------------------------


async def refused(relay: conftest.Relay, origin: str) -> ErrorBody:
    """The 403 the relay answers a handshake from ``origin`` with (failing otherwise)."""
    with pytest.raises(InvalidStatus) as caught:
        await connect(relay.ws_url, origin=Origin(origin), open_timeout=10)
    assert caught.value.response.status_code == 403
    return from_json(caught.value.response.body or b"", ErrorBody)


async def authenticated(relay: conftest.Relay, token: str, origin: str | None) -> None:
    """A stream from ``origin`` (or with no Origin header) opens and authenticates."""
    kwargs: dict[str, Any] = {"origin": Origin(origin)} if origin else {}
    async with connect(relay.ws_url, open_timeout=10, **kwargs) as ws:
        await ws.send(json.dumps({"type": "auth", "tokens": [token]}))
        assert json.loads(await ws.recv())["type"] == "ready"


async def test_a_stream_from_an_unlisted_page_is_refused_at_the_handshake(
    relay_with: Any, clock: ManualClock
) -> None:
    async with relay_with(live=True, allowed_origins=(APP,)) as relay:
        token = (await login(relay.http, new_room(clock).keys("owner"))).token
        for origin in (None, OWN, APP):
            await authenticated(relay, token, origin)
        for origin in (OTHER, "null", APP + ":8443"):
            body = await refused(relay, origin)
            assert body.code == "request.origin_refused", origin


async def test_without_allowed_origins_any_page_may_open_a_stream(
    relay_with: Any, clock: ManualClock
) -> None:
    # As before the setting existed: the stream still needs a token in its first frame.
    async with relay_with(live=True) as relay:
        token = (await login(relay.http, new_room(clock).keys("owner"))).token
        for origin in (None, OWN, OTHER, "null"):
            await authenticated(relay, token, origin)
