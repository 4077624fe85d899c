"""``/v1/account/delete``: a key's right to be forgotten."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from protocol.api import AccountDeleted, DeleteAccountRequest
from server.handlers._common import AuthDep, LimiterDep, RelayDep, session

__all__ = ["HANDLERS"]


@post("/v1/account/delete", status_code=200)
async def delete_account(
    *,
    data: JSONBody[DeleteAccountRequest],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> AccountDeleted:
    """Leave the key's room, erase its messages, drop its sessions and attachments."""
    record = await session(request, auth, limiter)
    return await relay.delete_account(record.member, data.leave, data.erase)


HANDLERS = [delete_account]
