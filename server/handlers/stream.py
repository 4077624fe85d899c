"""``/v1/stream``: the websocket route (the protocol lives in ``server.stream``)."""

from __future__ import annotations

from typing import Any

from litestar import WebSocket, websocket

from server.handlers._common import (
    AuthDep,
    LimiterDep,
    PersonalDep,
    PresenceDep,
    RelayDep,
    StreamsDep,
)
from server.stream import serve_stream

__all__ = ["HANDLERS"]


@websocket("/v1/stream")
async def stream(
    *,
    socket: WebSocket[Any, Any, Any],
    relay: RelayDep,
    personal: PersonalDep,
    presence: PresenceDep,
    auth: AuthDep,
    limiter: LimiterDep,
    streams: StreamsDep,
) -> None:
    """Authenticate in the first frame, subscribe, replay, then follow live."""
    await serve_stream(
        socket,
        relay,
        store=personal,
        presence=presence,
        auth=auth,
        limiter=limiter,
        limits=streams,
    )


HANDLERS = [stream]
