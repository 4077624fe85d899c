"""The live stream: one websocket, reconnected with backoff, feeding rooms in order.

:class:`LiveStream` owns the websocket and nothing else. Each connection
authenticates every followed room key (``auth``), lets the host catch up over
HTTP and flush its outbox, subscribes from the host's stored positions, then hands
room events to the host in batches, per room, in sequence order. A reader task
resolves send acknowledgements at once, so a send never waits behind event
processing; when the connection ends, the reader wakes every send still waiting
for its acknowledgement at once (it goes over HTTP), even while the connecting
loop is busy in the host's catch-up and flush. When the connection ends the loop
waits the next delay of a :class:`protocol.Backoff`
(``uniform(0, min(high, low * 2**attempt))`` seconds: exponential, full jitter;
reset once a connection is ready), or, when a relay shutting down gracefully
named its moment (1012, ``stream.shutdown retry_ms=<n>``), that moment within the
cap, and reconnects; a change of rooms reconnects at once, so the new room's key
is authenticated.

The host (the client) is reached only through the :class:`StreamHost` protocol:
dependency injection by constructor, no reach into the client's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Final, Protocol, final

from client_sdk._tasks import cancel_and_wait
from client_sdk._transport import StreamConnection, Transport
from client_sdk.errors import RelayError, RelayUnavailable
from protocol.api import (
    AckFrame,
    AuthFrame,
    ErrorFrame,
    EventFrame,
    EventsFrame,
    MessageAck,
    ReadyFrame,
    RoomEvent,
    SendFrame,
    SubscribeFrame,
)
from protocol.backoff import Backoff, Rng
from protocol.errors import HearthError
from protocol.ids import MessageId, RoomId
from protocol.messages import Envelope

__all__ = ["LiveStream", "StreamHost"]

_log = logging.getLogger("client_sdk.live")

_BATCH: Final = 256
_ACK_TIMEOUT: Final = 10.0


class StreamHost(Protocol):
    """What the stream needs from the client."""

    async def stream_tokens(self) -> dict[RoomId, str]:
        """A session token for every room to follow (empty: nothing to follow)."""
        ...

    async def stream_ready(self) -> dict[RoomId, int]:
        """Connected: catch up over HTTP, flush the outbox, return positions to resume from."""
        ...

    async def stream_events(self, room: RoomId, events: Sequence[RoomEvent]) -> None:
        """Room events in sequence order."""
        ...

    def stream_online(self, online: bool) -> None:
        """The connection came up or went down."""
        ...

    def stream_refused(self) -> None:
        """The relay refused our tokens (``auth.*``): sign in again before reconnecting."""
        ...


@final
class LiveStream:
    """The websocket driver. Start :meth:`run` as a task; cancel it to stop."""

    def __init__(
        self,
        transport: Transport,
        host: StreamHost,
        *,
        reconnect_delay: tuple[float, float],
        timeout: float,
        rng: Rng = random.random,
    ) -> None:
        self._transport = transport
        self._host = host
        self._backoff = Backoff(*reconnect_delay, rng=rng)
        self._timeout = timeout
        self._ws: StreamConnection | None = None
        self._rooms: set[RoomId] = set()
        self._acks: dict[MessageId, asyncio.Future[MessageAck]] = {}
        self._restart = asyncio.Event()
        self._wake = asyncio.Event()

    def restart(self) -> None:
        """Reconnect now (the set of rooms changed, or a frozen room was released)."""
        self._restart.set()
        self._wake.set()
        ws = self._ws
        if ws is not None:
            asyncio.get_running_loop().create_task(ws.close())

    def wake(self) -> None:
        """Cut a backoff delay short."""
        self._wake.set()

    async def send(self, envelope: Envelope) -> MessageAck | None:
        """Send over the stream and wait for the acknowledgement.

        Returns None if the stream cannot carry it (down, room not authenticated
        on this connection, no answer in time, closed under us): the caller falls
        back to HTTP with the identical envelope, which the relay deduplicates.

        Raises:
            RelayError: The relay's verdict on this message (an ``error`` frame).
        """
        ws = self._ws
        if ws is None or envelope.header.room not in self._rooms:
            return None
        message_id = envelope.header.id
        future: asyncio.Future[MessageAck] = asyncio.get_running_loop().create_future()
        self._acks[message_id] = future
        try:
            await ws.send(SendFrame(envelope=envelope))
            async with asyncio.timeout(_ACK_TIMEOUT):
                return await asyncio.shield(future)
        except (RelayUnavailable, TimeoutError):
            return None
        except RelayError as exc:
            if "close" not in exc.detail:
                raise
            return None  # the stream closed under us (shutdown, behind): not about the message
        finally:
            self._acks.pop(message_id, None)

    async def run(self) -> None:
        """Connect, follow, reconnect; forever."""
        while True:
            self._restart.clear()
            hint: float | None = None
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except HearthError as exc:
                _log.info("stream ended: %s", exc.code)
                if exc.code.startswith("auth."):
                    self._host.stream_refused()
                if isinstance(exc, RelayError) and exc.code == "stream.shutdown":
                    hint = exc.retry_after
            except Exception:  # a bug must not end the client's reconnecting for good
                _log.exception("stream failed")
            self._host.stream_online(False)
            if self._restart.is_set():
                continue
            # A relay going down gracefully says when to come back, a different
            # moment for each client: a restart's reconnects arrive spread out.
            delay = self._backoff.next_delay(hint)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _connect_once(self) -> None:
        tokens = await self._host.stream_tokens()
        if not tokens:
            self._wake.clear()
            await self._wake.wait()
            self._restart.set()  # a room appeared: come straight back, no backoff
            return
        ws = await self._transport.open_stream()
        frames: asyncio.Queue[EventFrame | BaseException] = asyncio.Queue()
        reader: asyncio.Task[None] | None = None
        try:
            await ws.send(AuthFrame(tokens=list(tokens.values()), batch=True))
            async with asyncio.timeout(self._timeout):
                ready = await ws.recv()
            if not isinstance(ready, ReadyFrame):
                raise RelayError("the stream did not authenticate", code="auth.invalid")
            reader = asyncio.create_task(self._read(ws, frames))
            self._ws, self._rooms = ws, set(tokens)
            self._host.stream_online(True)
            self._backoff.reset()
            positions = await self._host.stream_ready()
            await ws.send(SubscribeFrame(positions=positions))
            while True:
                batch = [await frames.get()]
                while len(batch) < _BATCH and not frames.empty():
                    batch.append(frames.get_nowait())
                by_room: dict[RoomId, list[RoomEvent]] = {}
                for item in batch:
                    if isinstance(item, BaseException):
                        raise item
                    by_room.setdefault(item.room, []).append(item.event)
                for room, events in by_room.items():
                    await self._host.stream_events(room, events)
        finally:
            self._ws, self._rooms = None, set()
            self._fail_waiters(RelayUnavailable("the stream closed"))
            if reader is not None:
                await cancel_and_wait([reader])
            await ws.close()

    async def _read(
        self, ws: StreamConnection, frames: asyncio.Queue[EventFrame | BaseException]
    ) -> None:
        """Resolve acknowledgements at once; queue room events for the ingesting loop."""
        try:
            while True:
                frame = await ws.recv()
                if isinstance(frame, EventFrame):
                    frames.put_nowait(frame)
                elif isinstance(frame, EventsFrame):
                    for event in frame.events:
                        frames.put_nowait(EventFrame(room=frame.room, event=event))
                elif isinstance(frame, AckFrame):
                    future = self._acks.get(frame.id)
                    if future is not None and not future.done():
                        future.set_result(
                            MessageAck(room=frame.room, id=frame.id, seq=frame.seq, ts=frame.ts)
                        )
                elif isinstance(frame, ErrorFrame):
                    future = self._acks.get(frame.id) if frame.id else None
                    if future is not None and not future.done():
                        future.set_exception(
                            RelayError(
                                frame.message, code=frame.code, retry_after=frame.retry_after
                            )
                        )
                    else:
                        _log.info("stream error frame: %s", frame.code)
        except HearthError as exc:
            # The connection is gone: every send waiting for an acknowledgement learns
            # it now (it goes over HTTP instead), not when the ingesting loop gets
            # here, which may be busy in the host's catch-up and flush for a while.
            if self._ws is ws:
                self._ws, self._rooms = None, set()
            self._fail_waiters(exc)
            frames.put_nowait(exc)

    def _fail_waiters(self, exc: HearthError) -> None:
        for future in self._acks.values():
            if not future.done():
                future.set_exception(RelayUnavailable(f"the stream closed: {exc.code}"))
