"""Connection hygiene at the relay itself: a deadline on request heads, caps on streams.

**Request heads.** uvicorn's HTTP/1.1 protocol (h11) bounds a request head's *size*
but not its *time*: ``timeout_keep_alive`` only closes a connection idle between
requests, and the first byte of a request cancels it. A client that opens a
connection and sends nothing, or trickles a head a byte a second, holds a socket,
a protocol object and a parser for ever, and a few hundred such clients hold them
all. :func:`http_protocol_class` returns uvicorn's h11 protocol with one change:
from the moment a connection is made, and from the first byte of each later
request on it, the request's whole head must arrive within ``header_timeout``
seconds, or the connection is closed. A websocket's handshake is such a head, so
the same deadline bounds it; after the upgrade, ``server.websocket`` bounds frames
and ``auth_timeout`` the first frame. Bodies are not covered here (the relay's are
at most ``max_body_bytes``, read by handlers as they come).

**Streams.** :class:`StreamLimits` counts open ``/v1/stream`` websockets per member
key (``ws_max_per_key``: a person's devices with some overlap while they
reconnect) and, as a generous backstop only, per client address
(``ws_max_per_address``: a carrier NAT puts thousands of phones behind one
address). A stream past either cap is closed with ``stream.too_many`` (4430).
The counts live in this process; each relay instance applies them to its own
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from protocol.ids import MemberId
from server.errors import RelayError

__all__ = ["StreamLimits", "http_protocol_class"]


class _HeadDeadlineProtocol(H11Protocol):
    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of a later request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is complete (or the connection failed)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Part of the next (pipelined) request came already: its clock runs now.
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self._arm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the websocket protocol takes the connection over
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _expire(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def http_protocol_class(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol (``uvicorn.Config(http=...)``) with a deadline on heads."""
    return type("HearthHttpProtocol", (_HeadDeadlineProtocol,), {"header_timeout": header_timeout})


@final
class StreamLimits:
    """Open streams per member key and per client address, and their caps."""

    def __init__(self, *, per_key: int, per_address: int) -> None:
        self._per_key = per_key
        self._per_address = per_address
        self._keys: Counter[MemberId] = Counter()
        self._addresses: Counter[str] = Counter()

    @contextlib.contextmanager
    def address(self, address: str | None) -> Iterator[None]:
        """Hold one of ``address``'s stream slots; ``stream.too_many`` if none is free."""
        if address is None:
            yield
            return
        if self._addresses[address] >= self._per_address:
            raise RelayError("too many streams from this address", code="stream.too_many")
        self._addresses[address] += 1
        try:
            yield
        finally:
            self._release(self._addresses, [address])

    @contextlib.contextmanager
    def keys(self, members: Sequence[MemberId]) -> Iterator[None]:
        """Hold a stream slot of every key in ``members``, or of none (``stream.too_many``)."""
        if any(self._keys[m] >= self._per_key for m in members):
            raise RelayError(
                f"a key of this stream has {self._per_key} streams open already",
                code="stream.too_many",
            )
        self._keys.update(members)
        try:
            yield
        finally:
            self._release(self._keys, members)

    @staticmethod
    def _release(counts: Counter[Any], names: Sequence[Any]) -> None:
        for name in names:
            counts[name] -= 1
            if counts[name] <= 0:
                del counts[name]
