"""``/v1/rooms/{room}/push/{device}``: a device's push endpoint under a room key;
``/v1/push/vapid``: the key a browser subscribes to Web Push with."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from protocol.api import PushRegistration, PushVapidKey
from server.handlers._common import AuthDep, LimiterDep, RelayDep, RoomPath, session
from server.push import MAX_DEVICE_CHARS, Notifier
from server.ratelimit import key_subject
from server.vapid import b64url

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
    await notifier.register(record.member, device, data.endpoint, web_push=data.web_push)


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


@get("/v1/push/vapid")
async def vapid_key(*, notifier: NotifierDep) -> PushVapidKey:
    """The relay's VAPID public key (no session: it is the same for everyone)."""
    return PushVapidKey(key=b64url((await notifier.vapid()).public_key))


HANDLERS = [register, unregister, vapid_key]
