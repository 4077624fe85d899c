"""Challenge-response authentication of member keys, and the sessions it yields.

A key asks for a challenge (32 random bytes, single-use, ``challenge_ttl`` seconds)
and answers with its signature over ``AuthContent`` under ``CTX_AUTH``, bound to the
relay's origin and the challenge's expiry. Pending challenges are the storage's: in
the process's memory for SQLite, in a table every instance sees for PostgreSQL, so
the answer may reach another instance than the question did. The relay
then issues a session token: 32 random bytes in base64url, of which only the
BLAKE2b hash (``hearth-token``) is stored, with an expiry.

Whether a session may create rooms follows the operator's creation policy: under
``open`` a proof of work over the challenge and key (a key that proved it once does
not pay again), under ``token`` a registration token from the config, under
``closed`` never.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Final, final

from protocol import crypto
from protocol.api import AuthRequest, Challenge, Session
from protocol.errors import DecodeError
from protocol.ids import MemberId, b64url_encode, member_key
from protocol.signing import verify_auth
from server.config import Config
from server.errors import RelayError
from server.storage import ChallengeRecord, SessionRecord, Storage

__all__ = ["Authenticator", "Clock", "hash_token", "now_ms"]

Clock = Callable[[], int]
"""Milliseconds since the Unix epoch."""

_MAX_TOKENS: Final = 1000


def now_ms() -> int:
    """The system clock in milliseconds."""
    return time.time_ns() // 1_000_000


def hash_token(token: str) -> bytes:
    """What the database holds for a session token."""
    return crypto.blake2b(token.encode("utf-8"), person=crypto.PERSON_TOKEN)


@final
class Authenticator:
    """Issues challenges and sessions, and resolves bearer tokens to member keys."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        *,
        clock: Clock = now_ms,
        rng: crypto.Rng = crypto.random_bytes,
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._rng = rng

    async def challenge(self, key: MemberId) -> Challenge:
        """A fresh single-use challenge for ``key``."""
        _check_key(key)
        now = self._clock()
        difficulty = 0
        if self._config.create_policy == "open" and not await self._storage.is_creator(key):
            difficulty = self._config.pow_difficulty
        challenge = self._rng(32)
        expires_at = now + self._config.challenge_ttl * 1000
        await self._storage.put_challenge(
            challenge, ChallengeRecord(key, expires_at, difficulty), now=now
        )
        return Challenge(
            challenge=challenge,
            origin=self._config.public_origin,
            expires_at=expires_at,
            pow_difficulty=difficulty,
        )

    async def session(self, request: AuthRequest) -> Session:
        """Check an answered challenge and issue a session token.

        Raises:
            RelayError: ``auth.invalid`` (unknown, used or foreign challenge),
                ``auth.expired``, ``auth.bad_signature``, ``auth.forbidden``.
        """
        _check_key(request.key)
        pending = await self._storage.take_challenge(request.challenge)
        if pending is None or pending.member != request.key:
            raise RelayError("unknown or already used challenge", code="auth.invalid")
        now = self._clock()
        if now > pending.expires_at:
            raise RelayError("the challenge expired", code="auth.expired")
        verify_auth(
            key=request.key,
            origin=self._config.public_origin,
            challenge=request.challenge,
            expires_at=pending.expires_at,
            sig=request.sig,
        )
        can_create = self._grant(request, pending)
        if can_create and self._config.create_policy == "open":
            await self._storage.add_creator(request.key)
        token = b64url_encode(self._rng(32))
        expires_at = now + self._config.token_ttl * 1000
        await self._storage.add_session(
            hash_token(token), member=request.key, can_create=can_create, expires_at=expires_at
        )
        return Session(token=token, expires_at=expires_at, can_create=can_create)

    def _grant(self, request: AuthRequest, pending: ChallengeRecord) -> bool:
        policy = self._config.create_policy
        if policy == "token":
            offered = request.registration_token
            if offered is None:
                return False
            if not any(
                hmac.compare_digest(offered.encode(), t.encode())
                for t in self._config.registration_tokens
            ):
                raise RelayError("this registration token is not valid", code="auth.forbidden")
            return True
        if policy == "open":
            return pending.pow_difficulty == 0 or crypto.pow_check(
                request.challenge,
                member_key(request.key),
                request.pow_nonce,
                pending.pow_difficulty,
            )
        return False

    async def resolve(self, token: str) -> SessionRecord:
        """The session a bearer token names.

        Raises:
            RelayError: ``auth.invalid`` (unknown token), ``auth.expired``.
        """
        if not token or len(token) > 100:
            raise RelayError("not a session token", code="auth.invalid")
        record = await self._storage.get_session(hash_token(token))
        if record is None:
            raise RelayError("unknown session token", code="auth.invalid")
        if self._clock() >= record.expires_at:
            raise RelayError("the session expired: authenticate again", code="auth.expired")
        return record

    async def resolve_header(
        self, header: str | None, *, many: bool = False
    ) -> list[SessionRecord]:
        """Sessions of an ``Authorization: Bearer t1,t2`` header (one unless ``many``)."""
        if not header:
            raise RelayError("this needs Authorization: Bearer <token>", code="auth.required")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise RelayError("use Authorization: Bearer <token>", code="auth.required")
        tokens = [t.strip() for t in value.split(",") if t.strip()]
        if not tokens:
            raise RelayError("use Authorization: Bearer <token>", code="auth.required")
        if len(tokens) > (_MAX_TOKENS if many else 1):
            raise RelayError(
                "one token here" if not many else "too many tokens", code="request.invalid"
            )
        return [await self.resolve(t) for t in tokens]


def _check_key(key: MemberId) -> None:
    try:
        member_key(key)
    except DecodeError as exc:
        raise RelayError("not a member key", code="wire.malformed") from exc
