"""Linking a device: both screens show a short code before the root moves.

:class:`DeviceLink` is the existing device's side: it filed a hello (its
ephemeral X25519 key) under the code's first rendezvous id; it waits for the new
device's answer, shows the short code computed from the code and both keys, and
seals the root only when the person confirms that the new device shows the same
digits (:meth:`DeviceLink.confirm`), or files a refusal (:meth:`DeviceLink.refuse`).
:class:`~client_sdk.client.PendingDeviceLink` (in ``client.py``: it returns a
:class:`HearthClient`, and this module does not import the client) is the new
device's side: it claimed the hello (:func:`answer_link`) and filed its answer
(under a throwaway key of its own: it has no other), shows its short code, and
waits for the root box (:func:`claim_when_filed`).

Someone who learned the code and answers first takes the answer id: the real new
device then fails (``link.taken``, or ``link.used`` if the hello was claimed too)
and shows no code, while the existing device shows the intruder's code. The
person refuses, and the root is never sealed for the intruder. The relay sees
three rendezvous ids and three boxes; it knows neither the code nor any key.

The two sides wait for each other by claiming with a short backoff (a claim of
a box not filed yet is ``link.not_found``), within the offer's lifetime.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Final, final

from client_sdk._sessions import sign_in
from client_sdk._transport import Transport
from client_sdk.errors import RelayError
from client_sdk.identity import Identity
from protocol import crypto
from protocol.api import LinkOffer
from protocol.backoff import Backoff, Rng
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.errors import LinkError
from protocol.personal import (
    LinkAnswer,
    LinkCode,
    LinkRefusal,
    LinkRoom,
    PersonalKeys,
    open_answer,
    open_hello,
    seal_answer,
    seal_link,
    short_code,
)

__all__ = ["LINK_WAIT", "DeviceLink", "answer_link", "claim_when_filed"]

LINK_WAIT: Final = 600.0
"""Seconds either side waits for the other by default (the relay's default ``link_ttl``)."""
_FIRST_DELAY: Final = 0.2
_MAX_DELAY: Final = 5.0


async def claim_when_filed(
    transport: Transport, link: str, *, timeout: float, rng: Rng = random.random
) -> bytes:
    """Claim the box under ``link``, waiting (with backoff) until it is filed.

    The waits are a :class:`protocol.Backoff` from 0.2 s up to 5 s with full jitter
    (they used to double without jitter: a jittered poll notices the filed box
    sooner on average, and the relay's ``rate.limited`` answer still holds a poll
    back for its ``retry_after``).

    Raises:
        LinkError: ``link.used``, ``link.expired`` (or nothing filed within
            ``timeout``).
        RelayError: another refusal of the relay.
    """
    backoff = Backoff(_FIRST_DELAY, _MAX_DELAY, rng=rng)
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    return (await transport.claim_link(link)).box
                except RelayError as exc:
                    if exc.code == "rate.limited":
                        await asyncio.sleep(max(exc.retry_after or 0, backoff.next_delay()))
                    elif exc.code == "link.not_found":
                        await asyncio.sleep(backoff.next_delay())
                    elif exc.code.startswith("link."):
                        raise LinkError(exc.message, code=exc.code) from exc
                    else:
                        raise
    except TimeoutError:
        raise LinkError("the other device did not answer in time", code="link.expired") from None


@final
class DeviceLink:
    """The existing device's side of a device link; from :meth:`HearthClient.offer_device_link`.

    Show :attr:`code` (as text or a QR code) to the new device. Then
    ``await claimant_code()`` and show the digits; the person compares them with
    the new device's screen and you call :meth:`confirm` (the same digits) or
    :meth:`refuse` (anything else, or no digits there at all).
    """

    def __init__(  # noqa: PLR0917 - built by HearthClient.offer_device_link only
        self,
        code: LinkCode,
        hello: crypto.BoxPrivateKey,
        transport: Transport,
        file: Callable[[LinkOffer], Awaitable[object]],
        rooms: Callable[[], list[LinkRoom]],
        identity: Identity,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: Rng = random.random,
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._code = code
        self._hello = hello
        self._transport = transport
        self._file = file
        self._rooms = rooms
        self._identity = identity
        self._answer: bytes | None = None
        self._done = False

    def __repr__(self) -> str:
        return "DeviceLink(<code>)"

    @property
    def code(self) -> str:
        """``HL2-`` and 10 groups of 4 characters: what the new device types or scans."""
        return self._code.text

    async def claimant_code(self, *, timeout: float = LINK_WAIT) -> str:
        """Wait for the new device's answer; return the short code it must show (``123 456``).

        Raises:
            LinkError: ``link.used`` (someone else read the answer: refuse),
                ``link.expired`` (no answer within ``timeout``), ``link.bad_box``.
            RelayUnavailable: The relay cannot be reached.
        """
        if self._answer is None:
            box = await claim_when_filed(
                self._transport, self._code.answer_rendezvous, timeout=timeout, rng=self._rng
            )
            self._answer = open_answer(self._code, box).box_key
        return short_code(self._code, crypto.box_public(self._hello), self._answer)

    async def confirm(self) -> None:
        """The new device shows the same short code: seal the root and the rooms to it.

        Raises:
            LinkError: ``link.no_claimant`` before :meth:`claimant_code` returned,
                ``link.closed`` after a confirm or refuse.
            RelayError: ``link.too_many``, ``rate.limited``.
            RelayUnavailable: The relay cannot be reached.
        """
        answer = self._require_answer()
        box = self._identity.seal_link(
            self._code,
            self._rooms(),
            hello=self._hello,
            answer_key=answer,
            now=self._clock.now_ms(),
        )
        await self._file_root(box)

    async def refuse(self) -> None:
        """The codes differ (or the new device shows none): the root never moves.

        The claimant is told ``link.refused``. Raises as :meth:`confirm`.
        """
        answer = self._require_answer()
        box = seal_link(self._code, LinkRefusal(), hello=self._hello, answer_key=answer)
        await self._file_root(box)

    def _require_answer(self) -> bytes:
        if self._done:
            raise LinkError("this link was confirmed or refused already", code="link.closed")
        if self._answer is None:
            raise LinkError(
                "no device has answered yet: await claimant_code() first",
                code="link.no_claimant",
            )
        return self._answer

    async def _file_root(self, box: bytes) -> None:
        self._done = True
        await self._file(LinkOffer(id=self._code.root_rendezvous, box=box))


async def answer_link(transport: Transport, code: LinkCode) -> tuple[crypto.BoxPrivateKey, bytes]:
    """Claim the hello and file this device's answer; return the answer key and the hello's.

    Raises:
        LinkError: ``link.not_found``, ``link.used``, ``link.expired`` (the hello),
            ``link.taken`` (another device answered this code first: the other
            screen shows that device's short code; refuse there), ``link.bad_box``.
    """
    try:
        hello = open_hello(code, (await transport.claim_link(code.rendezvous)).box)
    except RelayError as exc:
        if exc.code.startswith("link."):
            raise LinkError(exc.message, code=exc.code) from exc
        raise
    answer = crypto.box_keypair_from_seed(crypto.random_bytes(32))
    # A throwaway key files the answer: this device holds no other key yet.
    keys = PersonalKeys.derive(crypto.random_bytes(32))
    session = await sign_in(transport, keys)
    offer = LinkOffer(
        id=code.answer_rendezvous,
        box=seal_answer(code, LinkAnswer(box_key=crypto.box_public(answer))),
    )
    try:
        await transport.offer_link(session.token, offer)
    except RelayError as exc:
        if exc.code == "link.exists":
            raise LinkError(
                "another device answered this code first: refuse on the other device",
                code="link.taken",
            ) from exc
        raise
    return answer, hello.box_key
