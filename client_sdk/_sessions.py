"""Session tokens: one per room key, obtained by challenge-response, kept in memory only.

Each room key authenticates on its own (the relay must not learn that two keys
belong to one person), so there is one :class:`protocol.api.Session` per room.
A key signs in lazily, when its room is first used, and every sign-in of one
client (room keys and the personal store's key) goes through one
:class:`SignInPacer`: one at a time, and a sign-in that follows another within
:data:`PACE_S` seconds first waits a random while, so a person's keys are not
signed in as one burst. A challenge is answered only if it names the relay's own
origin (``protocol.signing.canonical_origin`` of the configured URL, compared
character for character): the signature is bound to that origin, and a relay
naming another one wants a signature it can replay elsewhere
(``auth.origin_mismatch``, nothing signed). The proof of work is solved (in a
thread) only when the session must create a room. Tokens never touch the disk;
they last the relay's ``token_ttl`` (a week by default), across relay restarts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Final, TypeVar, final

from client_sdk._transport import Transport
from client_sdk.errors import RelayError
from protocol import crypto
from protocol.api import AuthRequest, Challenge, Session
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.ids import RoomId, b64url_decode
from protocol.keys import RoomKeys
from protocol.personal import PersonalKeys
from protocol.signing import sign_auth

__all__ = ["PACE_S", "Sessions", "SignInPacer", "check_origin", "sign_in"]

T = TypeVar("T")

_MARGIN_MS: Final = 60_000
"""Sign in again this long before a token expires."""


PACE_S: Final = 0.3
"""A sign-in this soon after the previous one first waits up to this long (at random)."""


def check_origin(challenge: Challenge, transport: Transport) -> None:
    """Refuse a challenge that names another origin than the configured relay's."""
    if challenge.origin != transport.origin:
        raise RelayError(
            f"the relay signs in as {challenge.origin!r}, not {transport.origin!r}",
            code="auth.origin_mismatch",
        )


async def sign_in(
    transport: Transport,
    keys: RoomKeys | PersonalKeys,
    *,
    create: bool = False,
    registration_token: str | None = None,
) -> Session:
    """Challenge, check the origin, answer (with proof of work if ``create``), get a session.

    The one sign-in of every key the SDK holds: room keys, the personal store's key,
    and a new device's throwaway key. Pacing is the caller's (:class:`SignInPacer`).
    """
    challenge = await transport.challenge(keys.member)
    check_origin(challenge, transport)
    nonce = 0
    if create and challenge.pow_difficulty:
        nonce = await asyncio.to_thread(
            crypto.pow_solve,
            challenge.challenge,
            b64url_decode(keys.member),
            challenge.pow_difficulty,
        )
    sig = sign_auth(
        keys,
        origin=challenge.origin,
        challenge=challenge.challenge,
        expires_at=challenge.expires_at,
    )
    return await transport.session(
        AuthRequest(
            key=keys.member,
            challenge=challenge.challenge,
            sig=sig,
            pow_nonce=nonce,
            registration_token=registration_token if create else None,
        )
    )


@final
class SignInPacer:
    """Spaces out one client's sign-ins: one at a time, with random gaps between close ones.

    "Close" is measured on ``clock.monotonic``.
    """

    def __init__(self, pace: float = PACE_S, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._pace = pace
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last = -float("inf")
        self._random = random.SystemRandom()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn to sign in; wait a random while if another sign-in just ended."""
        async with self._lock:
            if self._clock.monotonic() - self._last < self._pace:
                await asyncio.sleep(self._random.uniform(self._pace / 4, self._pace))
            try:
                yield
            finally:
                self._last = self._clock.monotonic()


@final
class Sessions:
    """The in-memory session of every room key.

    A token is used until :data:`_MARGIN_MS` before its expiry by ``clock.now_ms``.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        registration_token: str | None,
        pacer: SignInPacer | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._registration_token = registration_token
        self._pacer = pacer if pacer is not None else SignInPacer(clock=clock)
        self._sessions: dict[RoomId, Session] = {}

    def forget(self, rooms: Iterable[RoomId] | None = None) -> None:
        """Drop sessions (all if ``rooms`` is None): the next call signs in again."""
        if rooms is None:
            self._sessions.clear()
        for room in rooms or ():
            self._sessions.pop(room, None)

    async def token(self, keys: RoomKeys, *, create: bool = False) -> str:
        """A valid token for ``keys`` (one that may create rooms if ``create``)."""
        session = self._sessions.get(keys.room)
        if (
            session is not None
            and session.expires_at - self._clock.now_ms() > _MARGIN_MS
            and (session.can_create or not create)
        ):
            return session.token
        return await self._sign_in(keys, create=create)

    async def call(
        self, keys: RoomKeys, call: Callable[[str], Awaitable[T]], *, create: bool = False
    ) -> T:
        """Run ``call`` with the key's token; sign in again once if the relay refuses it."""
        try:
            return await call(await self.token(keys, create=create))
        except RelayError as exc:
            if exc.code not in ("auth.invalid", "auth.expired"):
                raise
        self.forget([keys.room])
        return await call(await self.token(keys, create=create))

    async def _sign_in(self, keys: RoomKeys, *, create: bool) -> str:
        async with self._pacer.turn():
            session = self._sessions.get(keys.room)
            if (
                session is not None
                and session.expires_at - self._clock.now_ms() > _MARGIN_MS
                and (session.can_create or not create)
            ):
                return session.token  # signed in while this call waited its turn
            session = await sign_in(
                self._transport, keys, create=create, registration_token=self._registration_token
            )
            self._sessions[keys.room] = session
            return session.token
