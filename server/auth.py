"""Challenge-response authentication of member keys, and the sessions it yields.

A key asks for a challenge (32 random bytes, single-use, ``challenge_ttl`` seconds)
and answers with its signature over ``AuthContent`` under ``CTX_AUTH``, bound to the
relay's origin and the challenge's expiry. Pending challenges are the storage's: in
the process's memory for SQLite, in a table every instance sees for PostgreSQL, so
the answer may reach another instance than the question did. A challenge is
bound to its key without the key being stored: it is 16 random bytes followed by
a 16-byte MAC (``hearth-challenge``) of the key and those bytes under the token
secret, and the storage holds only a hash of the challenge (``hearth-chal-id``),
its expiry and difficulty. So not even PostgreSQL's challenge table (or its dead
rows) times a key's sign-in, even for a reader who also holds the secret.

The relay then issues a session token that it verifies without a stored row: the
token carries its key, its right to create rooms and its expiry, under a MAC
(keyed BLAKE2b, ``hearth-token``) by the relay's token secret (the config's
``token_secret``, else one generated once and kept in the storage, so every
instance of one PostgreSQL database shares it). Nothing is written per session:
a session row's expiry, to the millisecond, grouped one person's keys (they sign
in one after another), and no per-session row means no time, row order or
write-ahead-log record of a sign-in at all. A deleted key's tokens are refused by
a revocation row keyed by the key, with a day-granular bound.

Whether a session may create rooms follows the operator's creation policy: under
``open`` a proof of work over the challenge and key (asked of every challenge: a key
is one room's, so it creates at most that room, and a list of keys that proved it
would record, in its order, when each key signed in to create), under ``token`` a
registration token from the config, under ``closed`` never.
"""

from __future__ import annotations

import asyncio
import hmac
import struct
from typing import Final, final

from protocol import crypto
from protocol.api import AuthRequest, Challenge, Session
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.errors import DecodeError
from protocol.ids import MemberId, b64url_decode, b64url_encode, member_key
from protocol.signing import verify_auth
from server.config import Config
from server.errors import RelayError
from server.storage import ChallengeRecord, SessionRecord, Storage
from server.storage.base import DAY_MS

__all__ = ["Authenticator", "revocation_bound"]

_MAX_TOKENS: Final = 1000

_PERSON_CHALLENGE: Final = b"hearth-challenge"
_PERSON_CHALLENGE_ID: Final = b"hearth-chal-id"
_TOKEN_VERSION: Final = 1
_TOKEN_HEAD: Final = struct.Struct(">BBQ")
"""Version, flags (bit 0: may create rooms), expiry in milliseconds."""
_MAC_BYTES: Final = 16
_TOKEN_BYTES: Final = _TOKEN_HEAD.size + 32 + _MAC_BYTES
_TOKEN_CHARS: Final = -(-_TOKEN_BYTES * 4 // 3)
"""A token's length in base64url without padding."""


def _challenge_id(challenge: bytes) -> bytes:
    """What the storage holds for a pending challenge: not its bytes, which (with the
    token secret) would name the key it was issued to."""
    return crypto.blake2b(challenge, person=_PERSON_CHALLENGE_ID)


def revocation_bound(now: int, token_ttl: int) -> int:
    """Up to when a key deleted at ``now`` has its tokens refused.

    The latest expiry a token issued now can have, rounded up to a day, so the row
    carries no finer time than the day; the key cannot sign in again before then.
    """
    until = now + token_ttl * 1000
    return until - until % DAY_MS + DAY_MS


@final
class Authenticator:
    """Issues challenges and sessions, and resolves bearer tokens to member keys."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: crypto.Rng = crypto.random_bytes,
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._rng = rng
        self._secret: bytes | None = None
        self._secret_lock = asyncio.Lock()

    async def _key(self) -> bytes:
        """The token MAC key: from the config, else the storage's (made once)."""
        if self._secret is None:
            async with self._secret_lock:
                if self._secret is None:
                    configured = self._config.token_secret
                    self._secret = (
                        crypto.blake2b(configured.encode("utf-8"), person=crypto.PERSON_TOKEN)
                        if configured
                        else await self._storage.token_secret(self._rng(32))
                    )
        return self._secret

    async def _challenge_tag(self, key: MemberId, nonce: bytes) -> bytes:
        """What binds a challenge to ``key`` (16 bytes), under the token secret."""
        return crypto.kdf(
            await self._key(), member_key(key) + nonce, person=_PERSON_CHALLENGE, size=16
        )

    async def _mac(self, body: bytes) -> bytes:
        return crypto.kdf(await self._key(), body, person=crypto.PERSON_TOKEN, size=_MAC_BYTES)

    async def issue(self, key: MemberId, *, can_create: bool, expires_at: int) -> str:
        """A session token for ``key``: nothing is stored, the MAC vouches for it."""
        body = _TOKEN_HEAD.pack(_TOKEN_VERSION, int(can_create), expires_at) + member_key(key)
        return b64url_encode(body + await self._mac(body))

    async def challenge(self, key: MemberId) -> Challenge:
        """A fresh single-use challenge for ``key``."""
        _check_key(key)
        now = self._clock.now_ms()
        difficulty = 0
        if self._config.create_policy == "open":
            difficulty = self._config.pow_difficulty
        nonce = self._rng(16)
        challenge = nonce + await self._challenge_tag(key, nonce)
        expires_at = now + self._config.challenge_ttl * 1000
        await self._storage.put_challenge(
            _challenge_id(challenge), ChallengeRecord(expires_at, difficulty), now=now
        )
        return Challenge(
            challenge=challenge,
            origin=self._config.public_origin,
            expires_at=expires_at,
            pow_difficulty=difficulty,
        )

    async def session(self, request: AuthRequest) -> Session:
        """Check an answered challenge and issue a session token.

        The challenge is used up by any answer that decodes, whatever the outcome.

        Raises:
            RelayError: ``wire.malformed`` (not a member key), ``auth.invalid``
                (unknown or used challenge, or another key's), ``auth.expired``,
                ``auth.bad_signature``, ``auth.forbidden`` (a deleted key, or a wrong
                registration token).
        """
        # Every answer that decodes uses up the challenge it names, whatever its fate:
        # a malformed key (400) as much as a bad signature (401), so no refused answer
        # leaves a challenge to try again with.
        pending = await self._storage.take_challenge(_challenge_id(request.challenge))
        _check_key(request.key)
        nonce, tag = request.challenge[:16], request.challenge[16:]
        if pending is None or not hmac.compare_digest(
            tag, await self._challenge_tag(request.key, nonce)
        ):
            raise RelayError("unknown, used or another key's challenge", code="auth.invalid")
        now = self._clock.now_ms()
        if now > pending.expires_at:
            raise RelayError("the challenge expired", code="auth.expired")
        verify_auth(
            key=request.key,
            origin=self._config.public_origin,
            challenge=request.challenge,
            expires_at=pending.expires_at,
            sig=request.sig,
        )
        until = await self._storage.revoked_until(request.key)
        if until is not None and now <= until:
            raise RelayError(
                "this key deleted its account: it cannot sign in again yet",
                code="auth.forbidden",
            )
        can_create = self._grant(request, pending)
        expires_at = now + self._config.token_ttl * 1000
        token = await self.issue(request.key, can_create=can_create, expires_at=expires_at)
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
        if len(token) != _TOKEN_CHARS:
            raise RelayError("not a session token", code="auth.invalid")
        try:
            raw = b64url_decode(token)
        except DecodeError as exc:
            raise RelayError("not a session token", code="auth.invalid") from exc
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(raw) != _TOKEN_BYTES or not hmac.compare_digest(mac, await self._mac(body)):
            raise RelayError("unknown session token", code="auth.invalid")
        version, flags, expires_at = _TOKEN_HEAD.unpack_from(body)
        if version != _TOKEN_VERSION or flags > 1:
            raise RelayError("unknown session token", code="auth.invalid")
        if self._clock.now_ms() >= expires_at:
            raise RelayError("the session expired: authenticate again", code="auth.expired")
        member = MemberId(b64url_encode(body[_TOKEN_HEAD.size :]))
        until = await self._storage.revoked_until(member)
        if until is not None and expires_at <= until:
            raise RelayError("unknown session token", code="auth.invalid")
        return SessionRecord(member=member, can_create=bool(flags), expires_at=expires_at)

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
