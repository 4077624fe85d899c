"""The Litestar application: routes, dependencies, error handling, lifecycle.

``create_app(config, storage=None)`` wires everything by constructor: the storage
(PostgreSQL if ``config.database_url`` names it, else SQLite under
``config.data_dir``, unless given), the hub (``config.pubsub``), the authenticator,
the rate limiter, the relay, the retention task and push (``server.push``), and
hands them to handlers as Litestar dependencies, and serves the web app at ``/``
(``server.webapp``) unless ``web_app`` is off; with ``allowed_origins`` set,
``server.cors`` answers browsers' preflights and adds their CORS headers. Every
failure becomes the one ``ErrorBody`` with a stable code, through the exception
handlers below and the table in ``server.errors``: the relay's own errors, Litestar's
validation errors, unknown routes and methods, oversized bodies, and any unexpected
exception (logged by type and traceback, never with request data, and answered as
``internal``).

Request bodies are decoded by ``protocol.encoding.from_json`` into the handler's
declared type (:class:`_StrictRequest`), not by Litestar: Litestar converts bodies
leniently (``"1"`` and ``1.0`` become the integer 1), which docs/protocol.md
section 2.2 forbids, and its errors do not name the failing path, which ours do
(``Expected `int`, got `str` - at `$.content.v```).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from protocol import __version__
from protocol.api import ErrorBody
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.encoding import from_json, to_json
from protocol.errors import HearthError
from server.auth import Authenticator
from server.config import Config
from server.cors import CorsPolicy
from server.device_links import DeviceLinks
from server.errors import RelayError, StorageError, http_status
from server.handlers import ROUTES
from server.health import Readiness
from server.hub import Hub
from server.limits import StreamLimits
from server.metrics import Metrics, MetricsServer
from server.openapi import correct
from server.personal import PersonalStore
from server.presence import Presence
from server.pubsub import make_hub
from server.push import Notifier
from server.pushurl import Resolver, system_resolver
from server.ratelimit import RateLimiter, address_subject
from server.relay import Relay
from server.retention import Retention
from server.storage import PostgresStorage, SqliteStorage, Storage
from server.stream import token_in_query
from server.webapp import web_routes

__all__ = ["create_app", "default_storage"]

_log = logging.getLogger("hearth")

_STATUS_CODES = {
    400: "wire.malformed",  # Litestar's own 400s are bodies that do not decode
    401: "auth.required",
    403: "auth.forbidden",
    404: "route.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    429: "rate.limited",
}


def _error(
    code: str,
    message: str,
    detail: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    return Response(
        content=to_json(ErrorBody(code=code, message=message, detail=detail)),
        status_code=status or http_status(code),
        media_type=MediaType.JSON,
        headers=headers,
    )


def _hearth_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HearthError)
    if isinstance(exc, StorageError):
        # Logged by the readiness state, once per cause rather than once per request.
        readiness = request.app.state.readiness
        if isinstance(readiness, Readiness):
            readiness.request_failed(exc)
        request.app.state.metrics.storage_error()
        return _error(exc.code, "the relay's storage is unavailable", headers={"Retry-After": "5"})
    if isinstance(exc, RelayError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return _error(exc.code, exc.message, exc.detail, headers=headers)
    return _error(exc.code, exc.message)


def _validation_error(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, ValidationException)
    extra = exc.extra if isinstance(exc.extra, list) else []
    body = any(isinstance(e, dict) and e.get("source") == "body" for e in extra)
    problems = [
        {"key": str(e.get("key", "")), "message": str(e.get("message", ""))[:200]}
        for e in extra
        if isinstance(e, dict)
    ][:10]
    if body or not extra:
        return _error("wire.malformed", "the request body does not decode", {"errors": problems})
    return _error("request.invalid", "a request parameter is invalid", {"errors": problems})


def _http_error(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, NotFoundException):
        return _error("route.not_found", "no such route")
    if isinstance(exc, MethodNotAllowedException):
        return _error("request.method_not_allowed", "method not allowed", status=405)
    status = exc.status_code
    code = _STATUS_CODES.get(status, "request.invalid" if status < 500 else "internal")
    return _error(code, "request refused" if status < 500 else "internal error", status=status)


def _internal_error(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    # Type and frames only: an exception's message may quote request data.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    _log.error("unexpected %s\n%s", type(exc).__name__, frames)
    return _error("internal", "the relay failed; this was logged")


@cache
def _body_type(handler: BaseRouteHandler) -> Any:
    """The type a handler's ``data`` parameter declares (None if it takes no body)."""
    field = handler.parsed_fn_signature.parameters.get("data")
    return field.annotation if field is not None else None


class _StrictRequest(Request[Any, Any, Any]):
    """A request whose JSON body decodes strictly, straight into the handler's type.

    Litestar then converts the struct it gets to the same type, which hands it back
    untouched. A failure is ``wire.malformed`` naming the failing path.
    """

    async def json(self) -> Any:
        kind = _body_type(self.route_handler)
        if kind is None:
            return await super().json()
        if self._json is Empty:
            self._json = from_json(await self.body() or b"null", kind)
        return self._json


class _Guard:
    """Refuses credentials in URLs and charges every request to its address."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self._app = app
        self._limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            if token_in_query(scope.get("query_string", b"")):
                raise RelayError("never put a token in a URL", code="auth.token_in_url")
            client = scope.get("client")
            self._limiter.hit("request", address_subject(client[0] if client else None))
        await self._app(scope, receive, send)


def _middleware(config: Config, limiter: RateLimiter) -> dict[str, Any]:
    """Litestar's ``middleware`` and ``before_send``: the guard, then the browser rules.

    The first middleware is the outermost, so a preflight is charged and checked by
    the guard before :class:`CorsPolicy` answers it. With no allowed origin there is
    no CORS at all, not even a hook that would find nothing to do.
    """

    def guard(app: ASGIApp) -> ASGIApp:
        return _Guard(app, limiter)

    if not config.allowed_origins:
        return {"middleware": [guard], "before_send": []}
    cors = CorsPolicy(config.allowed_origins, own_origin=config.public_origin)
    return {"middleware": [guard, cors.middleware], "before_send": [cors.before_send]}


def default_storage(config: Config) -> Storage:
    """The storage ``config`` names: PostgreSQL at ``database_url``, else SQLite."""
    if config.database_url:
        return PostgresStorage(config.database_url, pool_size=config.database_pool_size)
    return SqliteStorage(config.database)


def create_app(
    config: Config,
    storage: Storage | None = None,
    *,
    hub: Hub | None = None,
    clock: Clock = SYSTEM_CLOCK,
    resolver: Resolver = system_resolver,
) -> Litestar:
    """Build the relay's ASGI application.

    Args:
        config: The settings.
        storage: Where state lives; default: PostgreSQL at ``config.database_url``
            if set, else SQLite at ``config.database``. The application opens it at
            startup and closes it at shutdown.
        hub: Live fan-out; default: the one ``config.pubsub`` names. The
            application starts it after the storage and stops it before.
        clock: Where every part of the relay reads the time: wall-clock stamps and
            expiries, rate-limit refills, pub/sub heartbeat silence (tests pass a
            :class:`protocol.ManualClock` and move time).
        resolver: How push endpoint hosts resolve (tests decide what a name answers).
    """
    store = storage if storage is not None else default_storage(config)
    fanout = hub if hub is not None else make_hub(config, store, clock=clock)
    metrics = Metrics(fanout.listening)
    relay = Relay(config, store, fanout, clock=clock, on_commit=metrics.committed)
    personal = PersonalStore(config, store, fanout, clock=clock)
    device_links = DeviceLinks(config, store, clock=clock)
    presence = Presence(store, enabled=config.push_enabled, clock=clock)
    auth = Authenticator(config, store, clock=clock)
    limiter = RateLimiter(
        {b: config.rate(b) for b in config.rate_limits}, clock=clock, on_refuse=metrics.refused
    )
    exporter = (
        MetricsServer(metrics, config.metrics_host, config.metrics_port)
        if config.metrics_port
        else None
    )
    retention = Retention(store, interval=config.retention_interval, clock=clock)
    notifier = Notifier(config, store, presence, relay.members_of, resolver=resolver, clock=clock)
    relay.on_event = notifier.notify
    readiness = Readiness(store, fanout, interval=config.health_probe_interval, clock=clock)
    streams = StreamLimits(per_key=config.ws_max_per_key, per_address=config.ws_max_per_address)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await store.open()
        try:
            await fanout.start()
        except BaseException:
            await store.close()
            raise
        readiness.start()
        retention.start()
        presence.start()
        notifier.start()
        try:
            if exporter is not None:
                await exporter.start()
            yield
        finally:
            if exporter is not None:
                await exporter.stop()
            await notifier.stop()
            await presence.stop()
            await retention.stop()
            await readiness.stop()
            await fanout.stop()
            await store.close()

    def provide(value: Any) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    app = Litestar(
        route_handlers=[*ROUTES, *web_routes(config)],
        request_class=_StrictRequest,
        dependencies={
            "relay": provide(relay),
            "auth": provide(auth),
            "limiter": provide(limiter),
            "personal": provide(personal),
            "device_links": provide(device_links),
            "presence": provide(presence),
            "notifier": provide(notifier),
            "readiness": provide(readiness),
            "streams": provide(streams),
        },
        **_middleware(config, limiter),
        exception_handlers={
            HearthError: _hearth_error,
            ValidationException: _validation_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=[lifespan],
        request_max_body_size=config.max_body_bytes,
        cache_control=CacheControlHeader(no_store=True),
        openapi_config=OpenAPIConfig(title="Hearth relay", version=__version__, path="/schema"),
        logging_config=None,
        debug=False,
    )
    correct(app)
    app.state.relay = relay
    app.state.hub = fanout
    app.state.retention = retention
    app.state.notifier = notifier
    app.state.readiness = readiness
    app.state.metrics = metrics
    return app
