"""``/v1/sync``: every room's events after the client's positions."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from protocol.api import SyncRequest, SyncResponse
from server.handlers._common import AuthDep, LimiterDep, RelayDep, sessions

__all__ = ["HANDLERS"]


@post("/v1/sync", status_code=200)
async def sync(
    *,
    data: JSONBody[SyncRequest],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> SyncResponse:
    """Pages of events after each position, ``limit`` in all; ``Bearer t1,t2,...``."""
    records = await sessions(request, auth, limiter)
    return await relay.sync([r.member for r in records], data)


HANDLERS = [sync]
