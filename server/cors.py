"""Browsers: CORS for the web front ends an operator lists, and the stream's Origin rule.

A script on a page served from another origin may read the relay's answers only if
they say so (``Access-Control-Allow-Origin``), and for most requests (JSON bodies, an
``Authorization`` header) the browser first asks with a *preflight* ``OPTIONS``.
:class:`CorsPolicy` answers exactly the origins of ``allowed_origins`` and nobody
else; ``create_app`` installs it only when that list is not empty, so a relay
without one sends no CORS header at all and answers as it always did.

The rules, each pinned by ``tests/server/test_cors.py``:

- A response carries ``Access-Control-Allow-Origin: <origin>``, ``Vary: Origin`` and
  ``Access-Control-Expose-Headers`` only when the request's single ``Origin``
  header is, character for character, a listed origin (browsers send it in the
  canonical form the configuration keeps). Every response: successes, the relay's
  errors, unknown routes. Never ``*``, and never ``Access-Control-Allow-Credentials``:
  a client authenticates with a bearer token it sends itself, not with cookies.
- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
  from a listed origin is answered 204 with the fixed lists below; from any other
  origin, 403 ``request.origin_refused`` with the usual error body and no CORS
  header. Preflights pass the relay's other middleware first, so they count against
  the ``request`` rate limit and a token in the URL is refused as for any request.
  A preflight to a path that is no route is answered by the router (404).
- A websocket handshake that carries an ``Origin`` (browsers always send one) is
  refused with 403 ``request.origin_refused`` unless it is the relay's own public
  origin (a web app the relay serves itself) or a listed one. A handshake without
  ``Origin`` (native clients, the Python SDK) is accepted as before. Browsers apply
  no CORS to websockets, so this check is the only place the list binds them.

Nothing else changes: the lists name only what the API uses, and a listed origin
gains the right to read answers, not any right a request did not already have.

Litestar's own ``CORSConfig`` (2.x) does not keep these rules: it refuses a preflight
with a plain-text 400 rather than the relay's error body, sends
``Access-Control-Allow-Methods`` and ``-Headers`` on answers to any origin, matches
origins as globs, takes every ``OPTIONS`` with an ``Origin`` for a preflight,
answers preflights before the relay's middleware, so they escape its rate limits,
and leaves websockets alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from protocol.api import ErrorBody
from protocol.encoding import to_json
from server.errors import CLOSE_POLICY, RelayError, http_status

__all__ = [
    "ALLOW_HEADERS",
    "ALLOW_METHODS",
    "EXPOSE_HEADERS",
    "MAX_AGE",
    "ORIGIN_REFUSED",
    "CorsPolicy",
]

ALLOW_METHODS: Final = ("DELETE", "GET", "POST", "PUT")
"""The methods of the API's routes (a test holds this to the routes)."""

ALLOW_HEADERS: Final = ("Authorization", "Content-Type")
"""The request headers a client sets: the bearer token and a body's type. The relay
reads no header of its own (``Content-Length`` the browser sets itself)."""

EXPOSE_HEADERS: Final = ("Retry-After",)
"""Response headers a script may read beyond the CORS-safelisted ones: how long to
wait after 429 ``rate.limited`` or 503 ``storage.unavailable``."""

MAX_AGE: Final = 7200
"""Seconds a browser may reuse a preflight's answer (Chromium caps it at 7200)."""

ORIGIN_REFUSED: Final = "request.origin_refused"
"""The code of a preflight or websocket handshake from an origin that is not allowed."""

_ORIGIN: Final = b"origin"
_REQUEST_METHOD: Final = b"access-control-request-method"
_ALLOW_ORIGIN: Final = b"access-control-allow-origin"
_VARY: Final = b"vary"


def _origin(scope: Scope) -> str | None:
    """The request's ``Origin``: ``None`` if absent, ``""`` (never allowed) if repeated."""
    values = [value for name, value in scope["headers"] if name == _ORIGIN]
    if not values:
        return None
    if len(values) > 1:
        return ""
    return values[0].decode("latin-1")


def _has_header(scope: Scope, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in scope["headers"])


@final
class CorsPolicy:
    """Which origins' scripts may use the relay, applied to HTTP and the stream.

    Args:
        allowed: Canonical origins (``Config.allowed_origins``) of front ends
            hosted elsewhere.
        own_origin: The relay's public origin (``Config.public_origin``): a page it
            serves itself may open the stream too.
    """

    def __init__(self, allowed: Iterable[str], *, own_origin: str) -> None:
        self._allowed = frozenset(allowed)
        self._own = own_origin
        self._preflight = [
            (b"access-control-allow-methods", ", ".join(ALLOW_METHODS).encode()),
            (b"access-control-allow-headers", ", ".join(ALLOW_HEADERS).encode()),
            (b"access-control-max-age", str(MAX_AGE).encode()),
        ]

    def allows(self, origin: str | None) -> bool:
        """Whether a script from ``origin`` may read the relay's HTTP answers."""
        return origin is not None and origin in self._allowed

    def allows_stream(self, origin: str | None) -> bool:
        """Whether a websocket handshake with this ``Origin`` header is accepted."""
        return origin is None or origin == self._own or origin in self._allowed

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """The route middleware that answers preflights and applies the stream's rule."""

        async def cors(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                origin = _origin(scope)
                if (
                    scope["method"] == "OPTIONS"
                    and origin is not None
                    and _has_header(scope, _REQUEST_METHOD)
                ):
                    await self._answer_preflight(origin, send)
                    return
            elif scope["type"] == ScopeType.WEBSOCKET and not self.allows_stream(_origin(scope)):
                await _refuse_handshake(scope, send)
                return
            await app(scope, receive, send)

        return cors

    async def before_send(self, message: Message, scope: Scope) -> None:
        """Litestar's ``before_send`` hook: the CORS headers on every HTTP answer.

        It sees every response the application sends, the router's 404 and 405 and
        the exception handlers' included, which route middleware does not.
        """
        if message["type"] != "http.response.start":
            return
        origin = _origin(scope)
        if origin is None or not self.allows(origin):
            return
        headers = list(message.get("headers", ()))
        if any(name.lower() == _ALLOW_ORIGIN for name, _ in headers):
            return  # a preflight's answer, complete already
        # One Vary field holding the response's own values and ours: a cache must
        # vary on all of them.
        kept = [(name, value) for name, value in headers if name.lower() != _VARY]
        vary = b", ".join([*(value for name, value in headers if name.lower() == _VARY), b"Origin"])
        message["headers"] = [
            *kept,
            (_ALLOW_ORIGIN, origin.encode("latin-1")),
            (_VARY, vary),
            (b"access-control-expose-headers", ", ".join(EXPOSE_HEADERS).encode()),
        ]

    async def _answer_preflight(self, origin: str, send: Send) -> None:
        if not self.allows(origin):
            raise RelayError("scripts from this origin may not use this relay", code=ORIGIN_REFUSED)
        headers = [
            (_ALLOW_ORIGIN, origin.encode("latin-1")),
            (_VARY, b"Origin"),
            *self._preflight,
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _refuse_handshake(scope: Scope, send: Send) -> None:
    """403 ``request.origin_refused`` instead of the upgrade, with the usual error body.

    A server without ASGI's websocket denial response gets a plain close, which it
    answers with a bare 403.
    """
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": ORIGIN_REFUSED})
        return
    body = to_json(
        ErrorBody(code=ORIGIN_REFUSED, message="scripts from this origin may not open a stream")
    )
    await send(
        {
            "type": "websocket.http.response.start",
            "status": http_status(ORIGIN_REFUSED),
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
