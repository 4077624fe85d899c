"""The websocket ``/v1/stream``: authenticate, replay, then follow rooms live.

A connection runs two coroutines. The *reader* takes client frames in order:
``auth`` first (within ``auth_timeout``), then ``subscribe`` and ``send``. The
*pump* is the only one that sends room events, from one :class:`_Outbox`:

- On ``subscribe`` the reader, without yielding to the loop in between, registers
  the connection with the hub and queues a replay command. Every event committed
  after that point is delivered live into the outbox, behind the command.
- The pump runs the replay from storage (everything after the client's position),
  recording the last ``seq`` it sent per room, then drains live events, skipping
  any ``seq`` it already sent. An event is either committed before the replay's
  last read (so replayed) or published after the registration (so queued): no gap,
  and the skip removes the overlap: no duplicate.

Across relay instances (``server.pubsub``) live events of one room may arrive out of
order, late, or (when a pub/sub connection breaks) not at all. The pump never trusts
that order: a live event past the next expected ``seq`` makes it read the gap from
storage first, which every instance shares, and an event at or below what it sent is
dropped. When the hub says it may have missed events (``lost``), the pump reads
every followed room from storage after what it sent.

A client that asked for batches (``AuthFrame.batch``) gets the live events of a
room that are queued together as one ``events`` frame: the events' JSON, encoded
once by the publisher, joined (``protocol.api.join_event_frames``). Each event
passes the same checks, in the same order, as when it is sent alone.

Live events wait in the outbox, at most ``stream_queue_cap`` of them. The hub's
``deliver`` never blocks: past the cap the connection is marked behind and closed
with 4409, and the client resumes from its positions. So a slow consumer costs a
bounded amount of memory and never delays the publisher or other consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, final

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.types import WebSocketSendEvent

from protocol.api import (
    AckFrame,
    AuthFrame,
    ClientFrame,
    ErrorFrame,
    EventFrame,
    PersonalFrame,
    PersonalSubscribeFrame,
    ReadyFrame,
    SendFrame,
    SubscribeFrame,
    join_event_frames,
)
from protocol.encoding import from_json, to_json
from protocol.errors import HearthError
from protocol.ids import MemberId, RoomId
from server.auth import Authenticator
from server.errors import CLOSE_NORMAL, RelayError, StorageError, closing_code
from server.hub import personal_channel
from server.limits import StreamLimits
from server.personal import PersonalStore
from server.presence import Presence
from server.ratelimit import RateLimiter, address_subject, key_subject
from server.relay import Relay

__all__ = ["REPLAY_PAGE", "serve_stream", "token_in_query"]

REPLAY_PAGE: Final = 500
"""Events read from storage at a time while replaying."""

BATCH_EVENTS: Final = 64
"""Events (live or replayed) in one ``events`` frame at most."""
BATCH_BYTES: Final = 64 * 1024
"""Bytes of events in one ``events`` frame at most (a larger event goes alone)."""

_log = logging.getLogger("hearth.stream")

_URL_TOKEN_KEYS: Final = frozenset({"token", "access_token", "auth", "authorization"})


def token_in_query(query: bytes | str) -> bool:
    """Whether a query string carries something that looks like a credential."""
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    for part in text.split("&"):
        name = part.split("=", 1)[0].strip().lower()
        if name in _URL_TOKEN_KEYS:
            return True
    return False


class _Closing(Exception):
    """Close the connection with the close code the error table gives ``code``.

    ``otherwise`` names the code whose close code applies if ``code`` closes no stream.
    """

    def __init__(self, code: str, message: str, *, otherwise: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.close = closing_code(code, otherwise=otherwise or code)


def _close_pair(code: str) -> tuple[int, str]:
    """How a stream closes on ``code``: its close code from the error table, and the code."""
    return closing_code(code, otherwise=code), code


@dataclass(frozen=True, slots=True)
class _Replay:
    room: RoomId
    after: int


@dataclass(frozen=True, slots=True)
class _CatchUp:
    """Read the room from storage after what was sent (the hub may have missed events)."""

    room: RoomId


@dataclass(frozen=True, slots=True)
class _PersonalIndex:
    """Send a ``personal`` frame for every document of the followed store."""


@dataclass(frozen=True, slots=True)
class _Live:
    room: RoomId
    seq: int
    frame: bytes


@final
class _Outbox:
    """The connection's queue: replay commands, and at most ``cap`` live events."""

    def __init__(self, cap: int) -> None:
        self._items: deque[_Replay | _CatchUp | _PersonalIndex | _Live] = deque()
        self._cap = cap
        self._live = 0
        self._wake = asyncio.Event()
        self.behind = False
        self.on_behind: Callable[[], None] = lambda: None

    def deliver(self, room: RoomId, seq: int, frame: bytes) -> None:
        if self.behind:
            return
        if self._live >= self._cap:
            self.behind = True
            self._items.clear()
            self._wake.set()
            self.on_behind()
            return
        self._items.append(_Live(room, seq, frame))
        self._live += 1
        self._wake.set()

    def command(self, item: _Replay | _CatchUp | _PersonalIndex) -> None:
        self._items.append(item)
        self._wake.set()

    def take_live(self, room: RoomId, count: int, budget: int) -> list[_Live]:
        """The live events of ``room`` queued right behind, up to ``count`` and ``budget`` bytes."""
        taken: list[_Live] = []
        while self._items and len(taken) < count:
            item = self._items[0]
            if not isinstance(item, _Live) or item.room != room or len(item.frame) > budget:
                break
            budget -= len(item.frame)
            self._items.popleft()
            self._live -= 1
            taken.append(item)
        return taken

    async def get(self) -> _Replay | _CatchUp | _PersonalIndex | _Live:
        while not self._items and not self.behind:
            self._wake.clear()
            await self._wake.wait()
        if self.behind:
            raise _Closing("stream.behind", "resume from your positions")
        item = self._items.popleft()
        if isinstance(item, _Live):
            self._live -= 1
        return item


@final
class _Connection:
    """One authenticated stream."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        relay: Relay,
        store: PersonalStore,
        *,
        limiter: RateLimiter,
        members: list[MemberId],
        address: str | None,
        batch: bool = False,
    ) -> None:
        self.socket = socket
        self.batch = batch
        """The client takes ``events`` frames (``AuthFrame.batch``)."""
        self.relay = relay
        self.store = store
        """The personal stores, whose writes this connection may follow."""
        self.limiter = limiter
        self.members = members
        self.address = address
        self.outbox = _Outbox(relay.config.stream_queue_cap)
        self.rooms: dict[RoomId, MemberId] = {}
        self.sent: dict[RoomId, int] = {}
        self.personal: MemberId | None = None
        """The owner whose personal store this connection follows, if any."""
        self._send_lock = asyncio.Lock()

    async def send(self, data: bytes) -> None:
        # Straight to the ASGI send: WebSocket.send_text only checks a state that
        # cannot have changed here and wraps the same event, ten times per message.
        event: WebSocketSendEvent = {"type": "websocket.send", "bytes": None, "text": data.decode()}
        async with self._send_lock:
            try:
                await self.socket.send(event)
            except OSError as exc:
                # ASGI servers raise an OSError for a send on a connection that is gone
                # (the peer reset it, or the keepalive gave up): a disconnect, not a failure.
                raise WebSocketDisconnect(detail="peer gone") from exc

    def deliver(self, room: RoomId, seq: int, frame: bytes) -> None:
        self.outbox.deliver(room, seq, frame)

    def lost(self) -> None:
        for room in self.rooms:
            self.outbox.command(_CatchUp(room))
        if self.personal is not None:
            self.outbox.command(_PersonalIndex())

    def detach(self) -> None:
        for room in self.rooms:
            self.relay.unsubscribe(room, self)
        if self.personal is not None:
            self.store.unfollow(self.personal, self)

    # -- pump ----------------------------------------------------------------

    async def pump(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, _Replay):
                await self._replay(item.room, item.after)
            elif isinstance(item, _CatchUp):
                if item.room in self.rooms and await self._still_member(item.room):
                    await self._replay(item.room, self.sent.get(item.room, 0))
            elif isinstance(item, _PersonalIndex):
                await self._personal_index()
            elif self.personal is not None and item.room == personal_channel(self.personal):
                # A version number only: the client fetches what is newer than it holds,
                # so order and repeats do not matter here.
                await self.send(item.frame)
            else:
                await self._live(item)

    async def _replay(self, room: RoomId, after: int) -> None:
        """The room's stored events after ``after``, in order: as ``events`` frames
        for a batching client (at most ``BATCH_EVENTS`` and ``BATCH_BYTES`` each)."""
        position = after
        while True:
            events = await self.relay.events_after(room, position, REPLAY_PAGE)
            frames = [to_json(EventFrame(room=room, event=event)) for event in events]
            for chunk in _batches(frames) if self.batch else ([f] for f in frames):
                await self._send_frames(room, chunk)
            if events:
                position = events[-1].seq
            self.sent[room] = position
            if len(events) < REPLAY_PAGE:
                return

    async def _personal_index(self) -> None:
        owner = self.personal
        if owner is None:
            return
        for doc in await self.store.index(owner):
            frame = PersonalFrame(owner=owner, id=doc.doc, version=doc.version)
            await self.send(to_json(frame))

    async def _live(self, first: _Live) -> None:
        """``first``, and for a batching client the events of its room queued behind it.

        Each event is checked in order: still followed, not sent yet, the key still a
        member, and no gap before it (storage fills a gap first). What passes goes out
        in as few frames as may be: one ``events`` frame, or the event's own frame.
        """
        room = first.room
        items = [first]
        if self.batch:
            items += self.outbox.take_live(room, BATCH_EVENTS - 1, BATCH_BYTES - len(first.frame))
        passed: list[bytes] = []  # the frames of the events that passed
        for item in items:
            if room not in self.rooms:
                break
            last = self.sent.get(room, 0)
            if item.seq <= last:
                continue
            if not await self._still_member(room):
                break  # what passed before it goes out below, in order
            if item.seq > last + 1:
                # Another instance's event overtook one, or pub/sub lost one: every event
                # below a published one is committed, so storage fills the gap.
                await self._send_frames(room, passed)
                passed = []
                await self._replay(room, last)
                if item.seq <= self.sent[room]:
                    continue
            passed.append(item.frame)
            self.sent[room] = item.seq
        await self._send_frames(room, passed)

    async def _send_frames(self, room: RoomId, frames: list[bytes]) -> None:
        """``event`` frames of ``room``, in order: several as one ``events`` frame."""
        batch = join_event_frames(room, frames) if len(frames) > 1 else None
        if batch is not None:
            await self.send(batch)
            return
        for frame in frames:
            await self.send(frame)

    async def _still_member(self, room: RoomId) -> bool:
        # Once per event and connection: the cached state without a coroutine, if any.
        state = self.relay.cached_state(room) or await self.relay.room_state(room)
        if state is not None and self.rooms[room] in state.log.members:
            return True
        # Removed or gone: stop serving the room at once.
        self.relay.unsubscribe(room, self)
        del self.rooms[room]
        return False

    # -- reader --------------------------------------------------------------

    async def read(self) -> None:
        while True:
            frame = await _receive(self.socket, self.relay.config.max_frame_bytes)
            if isinstance(frame, SubscribeFrame):
                await self._subscribe(frame.positions)
            elif isinstance(frame, SendFrame):
                await self._send_message(frame)
            elif isinstance(frame, PersonalSubscribeFrame):
                await self._subscribe_personal(frame.owner)
            else:
                await self.send(
                    to_json(ErrorFrame(code="request.invalid", message="already authenticated"))
                )

    async def _subscribe(self, positions: Mapping[RoomId, int]) -> None:
        try:
            self.limiter.hit(
                "subscribe", address_subject(self.address), *map(key_subject, self.members)
            )
        except RelayError as exc:
            raise _Closing(exc.code, exc.message, otherwise="rate.limited") from exc
        for room, position in positions.items():
            if room in self.rooms:
                continue
            member = await self._member_of(room)
            if member is None:
                await self.send(
                    to_json(ErrorFrame(code="room.not_found", message=f"no such room: {room}"))
                )
                continue
            # No await between these two lines: see the module docstring.
            self.relay.subscribe(room, self)
            self.outbox.command(_Replay(room, position))
            self.rooms[room] = member

    async def _subscribe_personal(self, owner: MemberId) -> None:
        if owner not in self.members:
            await self.send(
                to_json(ErrorFrame(code="auth.forbidden", message="not one of this stream's keys"))
            )
            return
        if self.personal is not None:
            return
        # Registered before the index is read (no await in between): a write after
        # the read is delivered live, one before it is in the index.
        self.personal = owner
        self.store.follow(owner, self)
        self.outbox.command(_PersonalIndex())

    async def _member_of(self, room: RoomId) -> MemberId | None:
        try:
            state = await self.relay.member_state(room, self.members)
        except RelayError:
            return None
        return next((m for m in self.members if m in state.log.members), None)

    async def _send_message(self, frame: SendFrame) -> None:
        header = frame.envelope.header
        try:
            if header.sender not in self.members:
                raise RelayError(
                    "the sender is not one of this stream's keys", code="auth.forbidden"
                )
            self.limiter.hit("send", key_subject(header.sender))
            ack = await self.relay.send(header.sender, None, frame.envelope)
        except StorageError:
            raise
        except HearthError as exc:
            retry = exc.retry_after if isinstance(exc, RelayError) else None
            error = ErrorFrame(code=exc.code, message=exc.message, id=header.id, retry_after=retry)
            await self.send(to_json(error))
            return
        await self.send(to_json(AckFrame(room=ack.room, id=ack.id, seq=ack.seq, ts=ack.ts)))


def _batches(frames: list[bytes]) -> list[list[bytes]]:
    """``frames`` in order, cut into runs of at most ``BATCH_EVENTS`` frames and
    ``BATCH_BYTES`` bytes (a larger frame is a run of its own)."""
    runs: list[list[bytes]] = []
    size = 0
    for frame in frames:
        if not runs or len(runs[-1]) >= BATCH_EVENTS or size + len(frame) > BATCH_BYTES:
            runs.append([])
            size = 0
        runs[-1].append(frame)
        size += len(frame)
    return runs


async def _receive(socket: WebSocket[Any, Any, Any], limit: int) -> ClientFrame:
    message = await socket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="client closed", code=message.get("code", CLOSE_NORMAL))
    text = message.get("text")
    if not isinstance(text, str):
        raise _Closing("wire.malformed", "frames are JSON text")
    if len(text) > limit or len(text.encode("utf-8")) > limit:
        raise _Closing("request.too_large", "frame too large")
    try:
        return from_json(text, ClientFrame)  # type: ignore[arg-type]
    except HearthError as exc:
        raise _Closing("wire.malformed", exc.message[:120]) from exc


async def _authenticate(
    socket: WebSocket[Any, Any, Any], relay: Relay, auth: Authenticator
) -> tuple[list[MemberId], bool]:
    try:
        async with asyncio.timeout(relay.config.auth_timeout):
            frame = await _receive(socket, relay.config.max_frame_bytes)
    except TimeoutError as exc:
        raise _Closing("auth.required", "authenticate in the first frame") from exc
    if not isinstance(frame, AuthFrame):
        raise _Closing("auth.required", "the first frame must be auth")
    members: list[MemberId] = []
    try:
        for token in frame.tokens:
            record = await auth.resolve(token)
            if record.member not in members:
                members.append(record.member)
    except RelayError as exc:
        raise _Closing(exc.code, exc.message, otherwise="auth.invalid") from exc
    return members, frame.batch


async def serve_stream(
    socket: WebSocket[Any, Any, Any],
    relay: Relay,
    *,
    store: PersonalStore,
    presence: Presence,
    auth: Authenticator,
    limiter: RateLimiter,
    limits: StreamLimits | None = None,
) -> None:
    """Run one stream connection until either side closes it.

    ``limits`` caps the streams open per client address and per member key
    (``server.limits``); past a cap the stream closes with ``stream.too_many``.
    """
    address = socket.client.host if socket.client else None
    await socket.accept()
    connection: _Connection | None = None
    close = (CLOSE_NORMAL, "")
    slots = contextlib.ExitStack()  # this stream's places under the caps, until it ends
    try:
        if token_in_query(socket.scope.get("query_string", b"")):
            raise _Closing("auth.token_in_url", "never put a token in a URL")
        if limits is not None:
            _hold(slots, limits.address, address)
        members, batch = await _authenticate(socket, relay, auth)
        if limits is not None:
            _hold(slots, limits.keys, members)
        connection = _Connection(
            socket, relay, store, limiter=limiter, members=members, address=address, batch=batch
        )
        presence.connected(members)  # no push to these keys' devices meanwhile
        await connection.send(to_json(ReadyFrame(members=members)))
        close = await _run(connection)
    except _Closing as exc:
        close = (exc.close, exc.code)
        if exc.code == "wire.malformed":
            # The close reason is the code (api.md); the message names the failing path.
            frame = to_json(ErrorFrame(code=exc.code, message=str(exc)))
            with contextlib.suppress(Exception):
                if connection is not None:
                    await connection.send(frame)
                else:
                    await socket.send_text(frame.decode())
    except WebSocketDisconnect:
        return
    except StorageError:
        close = _close_pair("storage.unavailable")
    finally:
        slots.close()
        if connection is not None:
            connection.detach()
            presence.disconnected(connection.members)
    with contextlib.suppress(Exception):
        await socket.close(code=close[0], reason=close[1])


def _hold(slots: contextlib.ExitStack, take: Callable[[Any], Any], what: Any) -> None:
    """Enter ``take(what)`` (a cap of ``server.limits``) into ``slots``, or close the stream."""
    try:
        slots.enter_context(take(what))
    except RelayError as exc:
        raise _Closing(exc.code, exc.message) from exc


async def _run(connection: _Connection) -> tuple[int, str]:
    reader = asyncio.ensure_future(connection.read())
    pump = asyncio.ensure_future(connection.pump())

    # A consumer that fell behind is usually stuck in a send its peer does not
    # read: stop it at once rather than when that send completes.
    def stop_pump() -> None:
        pump.cancel()

    connection.outbox.on_behind = stop_pump
    try:
        done, _ = await asyncio.wait([reader, pump], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, pump):
            task.cancel()
        await asyncio.gather(reader, pump, return_exceptions=True)
    if connection.outbox.behind:
        return _close_pair("stream.behind")
    first = next(iter(done))
    if first.cancelled():
        raise WebSocketDisconnect(detail="closed")
    exc = first.exception()
    if isinstance(exc, _Closing):
        raise exc
    if isinstance(exc, WebSocketDisconnect) or exc is None:
        raise WebSocketDisconnect(detail="closed")
    if isinstance(exc, StorageError):
        raise exc
    _log.error("stream failed: %s", type(exc).__name__)
    return _close_pair("internal")
