"""``/v1/rooms``: creating rooms, reading and appending to their logs."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import JSONBody

from protocol.api import AppendResult, InviteReadRequest, LogPage
from protocol.ops import JoinOp, SignedOp
from server.handlers._common import (
    After,
    AuthDep,
    Limit,
    LimiterDep,
    RelayDep,
    RoomPath,
    client_host,
    session,
)
from server.ratelimit import address_subject, key_subject

__all__ = ["HANDLERS"]


@post("/v1/rooms", status_code=201)
async def create_room(
    *,
    data: JSONBody[SignedOp],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> AppendResult:
    """Create a room from its signed ``room.create`` operation."""
    record = await session(request, auth, limiter)
    return await relay.create_room(record.member, record.can_create, data)


@get("/v1/rooms/{room:str}/log")
async def read_log(
    *,
    room: RoomPath,
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
    after: After = -1,
    limit: Limit = 100,
) -> LogPage:
    """Log operations with index greater than ``after``."""
    record = await session(request, auth, limiter)
    return await relay.log_page(record.member, room, after=after, limit=limit)


@post("/v1/rooms/{room:str}/log", status_code=200)
async def append_op(
    *,
    room: RoomPath,
    data: JSONBody[SignedOp],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> AppendResult:
    """Append an operation at the log's next index (409 ``log.conflict`` otherwise)."""
    record = await session(request, auth, limiter)
    if isinstance(data.content.body, JoinOp):
        limiter.hit("join", address_subject(client_host(request)), key_subject(record.member))
    return await relay.append(record.member, room, data)


@post("/v1/rooms/{room:str}/invite-log", status_code=200)
async def read_log_with_invite(
    *,
    room: RoomPath,
    data: JSONBody[InviteReadRequest],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
    after: After = -1,
    limit: Limit = 1000,
) -> LogPage:
    """The log, for the holder of a live invite who has not joined yet."""
    record = await session(request, auth, limiter)
    limiter.hit("join", address_subject(client_host(request)), key_subject(record.member))
    return await relay.invite_log(record.member, room, data, after=after, limit=limit)


HANDLERS = [create_room, read_log, append_op, read_log_with_invite]
