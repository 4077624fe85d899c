"""What every handler needs: the caller's address, its session, and query limits."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from server.auth import Authenticator
from server.device_links import DeviceLinks
from server.health import Readiness
from server.limits import StreamLimits
from server.personal import PersonalStore
from server.presence import Presence
from server.ratelimit import RateLimiter, key_subject
from server.relay import Relay
from server.storage import SessionRecord

__all__ = [
    "After",
    "AuthDep",
    "Before",
    "BlobPath",
    "DeviceLinksDep",
    "Limit",
    "LimiterDep",
    "PersonalDep",
    "PresenceDep",
    "ReadinessDep",
    "RelayDep",
    "RoomPath",
    "StreamsDep",
    "client_host",
    "session",
    "sessions",
]

RelayDep = NamedDependency[Relay]
AuthDep = NamedDependency[Authenticator]
LimiterDep = NamedDependency[RateLimiter]
DeviceLinksDep = NamedDependency[DeviceLinks]
PersonalDep = NamedDependency[PersonalStore]
PresenceDep = NamedDependency[Presence]
ReadinessDep = NamedDependency[Readiness]
StreamsDep = NamedDependency[StreamLimits]

Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="page size")]
After = Annotated[int, QueryParameter(ge=-1, le=2**53, description="exclusive lower bound")]
Before = Annotated[
    int | None,
    QueryParameter(ge=1, le=2**53, description="exclusive upper bound (newest if absent)"),
]
RoomPath = Annotated[str, PathParameter(description="room id, base64url (32 characters)")]
BlobPath = Annotated[str, PathParameter(description="attachment id, base64url (22 characters)")]


def client_host(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The client's address, for rate limits only: never logged, never stored."""
    client = connection.client
    return client.host if client else None


async def session(
    connection: ASGIConnection[Any, Any, Any, Any], auth: Authenticator, limiter: RateLimiter
) -> SessionRecord:
    """The one session of the request's bearer token, charged to the ``request`` bucket."""
    record = (await auth.resolve_header(connection.headers.get("authorization")))[0]
    limiter.hit("request", key_subject(record.member))
    return record


async def sessions(
    connection: ASGIConnection[Any, Any, Any, Any], auth: Authenticator, limiter: RateLimiter
) -> list[SessionRecord]:
    """Every session of a ``Bearer t1,t2`` header (multi-room reads)."""
    records = await auth.resolve_header(connection.headers.get("authorization"), many=True)
    limiter.hit("request", *(key_subject(r.member) for r in records))
    return records
