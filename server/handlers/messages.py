"""``/v1/rooms/{room}/messages`` and ``/deletions``: sending, history, deleting."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import JSONBody

from protocol.api import HistoryPage, MessageAck, TombstoneEvent
from protocol.messages import DeleteRequest, Envelope
from server.handlers._common import AuthDep, Before, Limit, LimiterDep, RelayDep, RoomPath, session
from server.ratelimit import key_subject

__all__ = ["HANDLERS"]


@post("/v1/rooms/{room:str}/messages", status_code=200)
async def send_message(
    *,
    room: RoomPath,
    data: JSONBody[Envelope],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> MessageAck:
    """Store a message; answered once it is durable. Idempotent by ``header.id``."""
    record = await session(request, auth, limiter)
    limiter.hit("send", key_subject(record.member))
    return await relay.send(record.member, room, data)


@get("/v1/rooms/{room:str}/messages")
async def history(
    *,
    room: RoomPath,
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
    before: Before = None,
    limit: Limit = 100,
) -> HistoryPage:
    """The newest ``limit`` events with ``seq < before``, oldest first."""
    record = await session(request, auth, limiter)
    return await relay.history(record.member, room, before=before, limit=limit)


@post("/v1/rooms/{room:str}/deletions", status_code=200)
async def delete_message(
    *,
    room: RoomPath,
    data: JSONBody[DeleteRequest],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> TombstoneEvent:
    """Delete a message: its sender, or a moderator or owner of the room."""
    record = await session(request, auth, limiter)
    limiter.hit("send", key_subject(record.member))
    return await relay.delete(record.member, room, data)


HANDLERS = [send_message, history, delete_message]
