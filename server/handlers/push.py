"""``/v1/rooms/{room}/push/{device}``: a device's push endpoint under a room key."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from protocol.api import PushRegistration
from server.handlers._common import AuthDep, LimiterDep, RelayDep, RoomPath, session
from server.push import MAX_DEVICE_CHARS, Notifier
from server.ratelimit import key_subject

__all__ = ["HANDLERS"]

NotifierDep = NamedDependency[Notifier]
DevicePath = Annotated[
    str,
    PathParameter(
        description="the device's id under this key (1-64 base64url characters)",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        min_length=1,
        max_length=MAX_DEVICE_CHARS,
    ),
]


@put("/v1/rooms/{room:str}/push/{device:str}", status_code=204)
async def register(
    *,
    room: RoomPath,
    device: DevicePath,
    data: JSONBody[PushRegistration],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
    notifier: NotifierDep,
) -> None:
    """Register (or replace) the device's push endpoint for the session's room key."""
    record = await session(request, auth, limiter)
    # Each registration resolves a name: charged like joins, per key.
    limiter.hit("join", key_subject(record.member))
    await relay.check_member(record.member, room)
    await notifier.register(record.member, device, data.endpoint)


@delete("/v1/rooms/{room:str}/push/{device:str}", status_code=204)
async def unregister(
    *,
    room: RoomPath,
    device: DevicePath,
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
    notifier: NotifierDep,
) -> None:
    """Remove the device's push endpoint (nothing to remove is no error)."""
    record = await session(request, auth, limiter)
    await relay.check_member(record.member, room)
    await notifier.unregister(record.member, device)


HANDLERS = [register, unregister]
