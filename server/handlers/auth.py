"""``/v1/auth``: challenge-response authentication of a member key."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from protocol.api import AuthRequest, Challenge, ChallengeRequest, Session
from server.handlers._common import AuthDep, LimiterDep, client_host
from server.ratelimit import address_subject, key_subject

__all__ = ["HANDLERS"]


@post("/v1/auth/challenge", status_code=200)
async def challenge(
    *,
    data: JSONBody[ChallengeRequest],
    request: Request[Any, Any, Any],
    auth: AuthDep,
    limiter: LimiterDep,
) -> Challenge:
    """A single-use challenge for one key (60 s)."""
    limiter.hit("auth", address_subject(client_host(request)))
    return await auth.challenge(data.key)


@post("/v1/auth/session", status_code=200)
async def session(
    *,
    data: JSONBody[AuthRequest],
    request: Request[Any, Any, Any],
    auth: AuthDep,
    limiter: LimiterDep,
) -> Session:
    """Exchange a signed challenge for a session token."""
    address = address_subject(client_host(request))
    limiter.hit("auth", address)
    if data.registration_token is not None or data.pow_nonce:
        # An attempt to earn the right to create rooms.
        limiter.hit("register", address, key_subject(data.key))
    return await auth.session(data)


HANDLERS = [challenge, session]
