"""The relay's errors and the one table that maps error codes to HTTP and websocket.

Every failure a client sees carries a stable code from ``protocol.errors`` or from
here. :data:`STATUS` is the only place that decides which HTTP status and which
websocket close code a code becomes; ``docs/api.md`` reproduces it. Codes under the
``log.``, ``msg.`` and ``crypto.`` prefixes are verification failures of the shared
protocol core and all map to 422 / 4422 unless listed explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple, final

from protocol.errors import HearthError

__all__ = [
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "PREFIX_STATUS",
    "STATUS",
    "RelayError",
    "Status",
    "StorageError",
    "close_code",
    "closing_code",
    "http_status",
    "shutdown_reason",
]


class Status(NamedTuple):
    """How one error code travels: an HTTP status and a websocket close code.

    ``close`` is ``None`` when the code never closes a stream (the relay answers it
    with an ``error`` frame and keeps the connection); ``http`` is ``None`` for codes
    that exist only on the stream.
    """

    http: int | None
    close: int | None


STATUS: Final[Mapping[str, Status]] = {
    "wire.malformed": Status(400, 4400),
    "wire.version": Status(400, 4400),  # a structure of another protocol version
    "request.invalid": Status(400, None),
    "crisis.bad_region": Status(400, None),
    "auth.required": Status(401, 4401),
    "auth.invalid": Status(401, 4401),
    "auth.expired": Status(401, 4401),
    "auth.bad_signature": Status(401, 4401),
    "auth.token_in_url": Status(401, 4401),
    "auth.forbidden": Status(403, None),
    "push.disabled": Status(403, None),
    "push.endpoint_forbidden": Status(403, None),
    "push.endpoint_invalid": Status(400, None),
    "push.too_many": Status(409, None),
    "room.create_forbidden": Status(403, None),
    "room.not_found": Status(404, None),
    "room.frozen": Status(423, None),
    "blob.not_found": Status(404, None),
    "msg.not_found": Status(404, None),
    "route.not_found": Status(404, None),
    "request.method_not_allowed": Status(405, None),
    "request.origin_refused": Status(403, None),
    "link.not_found": Status(404, None),
    "personal.not_found": Status(404, None),
    "log.conflict": Status(409, None),
    "link.exists": Status(409, None),
    "personal.conflict": Status(409, None),
    "link.used": Status(410, None),
    "link.expired": Status(410, None),
    "personal.quota": Status(413, None),
    "link.too_many": Status(429, None),
    "msg.duplicate_id": Status(409, None),
    "request.too_large": Status(413, 1009),
    "blob.too_large": Status(413, 1009),
    "rate.limited": Status(429, 4429),
    "stream.behind": Status(None, 4409),
    "stream.too_many": Status(None, 4430),
    "stream.shutdown": Status(None, 1012),
    "internal": Status(500, 1011),
    "storage.unavailable": Status(503, 1011),
}
"""Every code the relay answers with, and how it travels."""

PREFIX_STATUS: Final[Mapping[str, Status]] = {
    "log.": Status(422, None),
    "msg.": Status(422, None),
    "crypto.": Status(422, None),
}
"""Verification failures of the protocol core: refused, but the stream stays open."""

_UNKNOWN: Final = Status(500, 1011)

CLOSE_NORMAL: Final = 1000
"""RFC 6455 normal closure: a stream that ended without a failure."""

CLOSE_POLICY: Final = 1008
"""RFC 6455 policy violation: the transport's own refusal (a frame that took too long),
decided below the relay's error codes."""


def _lookup(code: str) -> Status:
    status = STATUS.get(code)
    if status is not None:
        return status
    for prefix, value in PREFIX_STATUS.items():
        if code.startswith(prefix):
            return value
    return _UNKNOWN


def http_status(code: str) -> int:
    """The HTTP status an error code answers with (500 for a code nobody listed)."""
    return _lookup(code).http or 500


def close_code(code: str) -> int | None:
    """The websocket close code for ``code``, or ``None`` to answer an error frame."""
    return _lookup(code).close


def closing_code(code: str, *, otherwise: str) -> int:
    """The close code for ``code``; for one that never closes a stream, ``otherwise``'s.

    A stream that must close on a code the table answers with an error frame (an
    authentication refused as ``auth.forbidden``) closes as ``otherwise`` does.
    """
    close = _lookup(code).close
    if close is None:
        close = _lookup(otherwise).close
    if close is None:
        raise ValueError(f"{otherwise!r} closes no stream")
    return close


def shutdown_reason(retry_ms: int) -> str:
    """The close reason of a graceful shutdown (1012): come back in ``retry_ms`` ms.

    ``stream.shutdown retry_ms=<n>``: the code, a space, then ``retry_ms=`` and a
    decimal count of milliseconds (protocol.md, the websocket close codes). Each
    client gets its own ``n``, so their reconnects after a restart arrive spread out.
    """
    return f"stream.shutdown retry_ms={max(0, retry_ms)}"


@final
class RelayError(HearthError):
    """A refusal by the relay itself: authentication, authorisation, limits, lookups.

    ``detail`` is machine-readable context a client may act on (``{index, head}`` of
    a log conflict, ``{reason}`` of a rate limit); ``retry_after`` (seconds) becomes
    the ``Retry-After`` header.
    """

    default_code = "request.invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.detail = detail
        self.retry_after = retry_after


@final
class StorageError(HearthError):
    """The database failed (I/O, corruption, locked, closed), translated at the boundary.

    ``closed`` says the storage was closed on purpose (shutdown), as opposed to broken.
    ``cause`` is what failed underneath, the same for every operation it fails (``no
    space left on device (SQLITE_FULL)``); by default the message.
    """

    default_code = "storage.unavailable"

    def __init__(
        self,
        message: str,
        *,
        closed: bool = False,
        code: str | None = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.closed = closed
        self.cause = cause or message
