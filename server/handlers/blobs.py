"""``/v1/rooms/{room}/blobs``: opaque encrypted attachments for a room's members."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from protocol.api import BlobRef
from server.errors import RelayError
from server.handlers._common import AuthDep, BlobPath, LimiterDep, RelayDep, RoomPath, session
from server.ratelimit import key_subject

__all__ = ["HANDLERS"]


def _too_large(limit: int) -> RelayError:
    return RelayError(
        f"attachments are at most {limit} bytes", code="blob.too_large", detail={"limit": limit}
    )


@post("/v1/rooms/{room:str}/blobs", status_code=201, request_max_body_size=None)
async def upload(
    *,
    room: RoomPath,
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> BlobRef:
    """Store raw ciphertext (``application/octet-stream``) for the room."""
    record = await session(request, auth, limiter)
    limiter.hit("send", key_subject(record.member))
    limit = relay.config.max_blob_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    # Membership first, so a stranger learns nothing and uploads nothing.
    await relay.check_member(record.member, room)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    blob = await relay.put_blob(record.member, room, b"".join(chunks))
    return BlobRef(id=blob, size=size)


@get("/v1/rooms/{room:str}/blobs/{blob:str}", media_type="application/octet-stream")
async def download(
    *,
    room: RoomPath,
    blob: BlobPath,
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> Response[bytes]:
    """The stored ciphertext of one attachment."""
    record = await session(request, auth, limiter)
    data = await relay.get_blob(record.member, room, blob)
    return Response(content=data, media_type="application/octet-stream")


HANDLERS = [upload, download]
