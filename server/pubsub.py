"""Live fan-out across relay instances, over Litestar's channels backends.

:class:`ChannelsHub` is the :class:`~server.hub.Hub` of a relay that shares its
storage with other instances. It delivers its own instance's events to its own
listeners at once, as :class:`~server.hub.MemoryHub` does, and publishes them on
one channel of a Litestar ``ChannelsBackend``: Redis pub/sub
(``RedisChannelsPubSubBackend``) or PostgreSQL LISTEN/NOTIFY (``AsyncPgChannelsBackend``,
with a publish that keeps its connection). Every instance subscribes to that one
channel at startup and hands other instances' events to its listeners.

Why the backends and not ``ChannelsPlugin`` itself: the plugin's workers end
silently on the first backend error (a dead publisher then queues for ever, and
shutdown waits on that queue), and its subscribers drop events when their backlog
is full. Here a failure is noticed, and a missed event is never silent:

- Every message carries its publisher's instance id and a counter of the events
  that instance published. A heartbeat every ``heartbeat`` seconds repeats the
  counter. A receiver that sees a counter jump, from any instance, missed events.
- Each instance also receives its own messages (and ignores their content). When
  its own heartbeat stops coming back, its subscription or its publishing is
  broken: it reconnects, with backoff (exponential with full jitter, so the
  instances of a deployment do not come back in step after the backend
  restarts), until its messages flow again.
- Whenever events may have been missed (a counter jump, going down, coming back),
  every listener is told :meth:`~server.hub.Listener.lost` and catches up from
  storage, and the relay drops its cached room logs. Storage is the truth; pub/sub
  only makes it arrive early.

Why one channel for every room, not one per room: each instance sees every event,
which for the handful of instances a community runs costs less than subscribing
per room, and it has no window in which an instance has a listener but not yet a
subscription (the stream's hand-over needs every event published after a
listener registered to reach it). Per-room channels are an optimisation for later.

A message is the header (JSON) and the event frame, joined by a newline. NOTIFY
payloads stay under 8000 bytes, so on PostgreSQL a larger event travels as a
reference (room and seq) and the receiving hub reads it from storage, once per
instance, before handing it on. Within one instance, events from one publisher
are handed on in the order published; events of one room from several publishers
may interleave out of ``seq`` order, which listeners put right (``server.stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final, Literal, final

import asyncpg
import msgspec
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

from protocol.api import EventFrame
from protocol.backoff import Backoff, Rng
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.encoding import to_json
from protocol.errors import HearthError
from protocol.ids import RoomId
from server.config import Config
from server.errors import StorageError
from server.hub import Hub, Listener, LogWatcher, MemoryHub
from server.storage import Storage

__all__ = ["NOTIFY_PAYLOAD_MAX", "ChannelsHub", "PubSubError", "make_hub"]

NOTIFY_PAYLOAD_MAX: Final = 7900
"""Bytes of a PostgreSQL NOTIFY message (the server's limit is 8000)."""

_QUEUE_CAP: Final = 10_000
_PEER_TTL: Final = 60.0
_START_TIMEOUT: Final = 10.0
_BACKOFF: Final = (0.2, 5.0)
"""Bounds (first, largest) of the reconnect and republish delays, full jitter (protocol.backoff)."""
_DRAIN_S: Final = 2.0
"""How long stopping waits for committed events to leave for the other instances."""

_log = logging.getLogger("hearth.pubsub")


@final
class PubSubError(HearthError):
    """The pub/sub backend did not answer when the relay started."""

    default_code = "pubsub.unavailable"


class _Header(msgspec.Struct, frozen=True, array_like=True):
    instance: str
    n: int
    """How many events the instance published up to and including this one."""
    kind: Literal["event", "ref", "beat"]
    room: str = ""
    seq: int = 0
    log: bool = False


_encode_header = msgspec.json.Encoder().encode
_decode_header = msgspec.json.Decoder(_Header).decode


class _NotifyBackend(AsyncPgChannelsBackend):
    """Litestar's LISTEN/NOTIFY backend, publishing on one kept connection.

    The stock backend opens a new connection for every message it publishes.
    """

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn=dsn)
        self._dsn = dsn
        self._publisher: asyncpg.Connection | None = None

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        if self._publisher is None or self._publisher.is_closed():
            self._publisher = await asyncpg.connect(self._dsn)
        for channel in channels:
            await self._publisher.execute("SELECT pg_notify($1, $2)", channel, data.decode())

    async def on_shutdown(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                await publisher.close(timeout=2)
        await super().on_shutdown()


class _RedisBackend(RedisChannelsPubSubBackend):
    """Litestar's Redis pub/sub backend, closing its client's connections too."""

    def __init__(self, url: str) -> None:
        super().__init__(redis=Redis.from_url(url))

    async def on_shutdown(self) -> None:
        try:
            await super().on_shutdown()
        finally:
            await self._redis.aclose()


@final
class ChannelsHub(Hub):
    """The hub of one of several relay instances (see the module docstring).

    Args:
        connect: Makes a fresh, not yet started backend (called again to reconnect).
        storage: The shared storage, to read events sent by reference.
        channel: The channel every instance of one deployment uses.
        max_payload: Largest message the backend carries (``None``: no limit).
        heartbeat: Seconds between heartbeats; silence for 3 of them (at least 3 s)
            means the connection is broken.
        queue_cap: Messages waiting to be published before the oldest is dropped.
        clock: Where heartbeat silence and peers' last sightings are measured
            (``clock.monotonic``).
        rng: The randomness of the retry delays (``protocol.backoff.Rng``).
    """

    def __init__(
        self,
        connect: Callable[[], ChannelsBackend],
        *,
        storage: Storage,
        channel: str = "hearth",
        max_payload: int | None = None,
        heartbeat: float = 1.0,
        queue_cap: int = _QUEUE_CAP,
        clock: Clock = SYSTEM_CLOCK,
        rng: Rng = random.random,
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._rng = rng
        self._storage = storage
        self._channel = channel
        self._max_payload = max_payload
        self._heartbeat = heartbeat
        self._timeout = max(3.0 * heartbeat, 3.0)
        self._queue_cap = queue_cap
        self._local = MemoryHub()
        self._watchers: list[LogWatcher] = []
        self.instance = secrets.token_hex(8)
        self._published = 0
        self._outgoing: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._backend: ChannelsBackend | None = None
        self._peers: dict[str, tuple[int, float]] = {}
        self._echoed = 0
        self._echo_at = 0.0
        self._restarted_at = 0.0
        self._up = False
        self._down_why = "not connected yet"
        self._ready = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.losses = 0
        """How many times listeners were told to catch up (for tests and diagnostics)."""

    # -- Hub -----------------------------------------------------------------

    def subscribe(self, room: RoomId, listener: Listener) -> None:
        self._local.subscribe(room, listener)

    def unsubscribe(self, room: RoomId, listener: Listener) -> None:
        self._local.unsubscribe(room, listener)

    def publish(self, room: RoomId, seq: int, frame: bytes, *, log: bool = False) -> None:
        self._local.publish(room, seq, frame)
        self._published += 1
        header = _Header(self.instance, self._published, "event", room, seq, log)
        message = _encode_header(header) + b"\n" + frame
        if self._max_payload is not None and len(message) > self._max_payload:
            message = _encode_header(_Header(self.instance, self._published, "ref", room, seq, log))
        self._enqueue(message)

    def watch_logs(self, watcher: LogWatcher) -> None:
        self._watchers.append(watcher)

    def listener_count(self, room: RoomId) -> int:
        """How many local listeners follow ``room``."""
        return self._local.listener_count(room)

    def listening(self) -> int:
        return self._local.listening()

    @property
    def up(self) -> bool:
        """Whether this instance's own messages come back through the backend."""
        return self._up

    @property
    def degraded(self) -> str | None:
        if self._up:
            return None
        return (
            f"pub/sub is down ({self._down_why}): events from other instances reach "
            "live streams only once it is back (sync still serves them)"
        )

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        self._tasks = {
            "receive": asyncio.create_task(self._receive_loop(), name="pubsub-receive"),
            "publish": asyncio.create_task(self._publish_loop(), name="pubsub-publish"),
            "beat": asyncio.create_task(self._beat_loop(), name="pubsub-beat"),
        }
        self._enqueue(self._beat())
        try:
            async with asyncio.timeout(_START_TIMEOUT):
                await self._ready.wait()
        except TimeoutError as exc:
            await self.stop()
            raise PubSubError(
                f"the pub/sub backend did not answer within {_START_TIMEOUT:.0f} s"
            ) from exc

    async def stop(self) -> None:
        beat = self._tasks.pop("beat", None)
        if beat is not None:
            beat.cancel()
        # Give the events already committed a moment to reach the other instances
        # (a deadline of the event loop's, which a manual test clock cannot stall).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_S):
                while self._outgoing and self._up:
                    await asyncio.sleep(0.01)
        tasks = [t for t in (beat, *self._tasks.values()) if t is not None]
        self._tasks = {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._discard_backend()

    # -- publishing ----------------------------------------------------------

    def _beat(self) -> bytes:
        return _encode_header(_Header(self.instance, self._published, "beat"))

    def _enqueue(self, message: bytes) -> None:
        if len(self._outgoing) >= self._queue_cap:
            # The others will see this instance's counter jump and catch up from storage.
            self._outgoing.popleft()
        self._outgoing.append(message)
        self._wake.set()

    async def _publish_loop(self) -> None:
        backoff = Backoff(*_BACKOFF, rng=self._rng)
        while True:
            while not self._outgoing:
                self._wake.clear()
                await self._wake.wait()
            backend = self._backend
            if backend is None:  # (re)connecting
                await asyncio.sleep(0.05)
                continue
            try:
                await backend.publish(self._outgoing[0], [self._channel])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any backend failure: retry, never die
                _log.warning("pub/sub publish failed: %s", type(exc).__name__)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            if self._outgoing:
                self._outgoing.popleft()

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            self._enqueue(self._beat())
            now = self._clock.monotonic()
            for peer in [p for p, (_, seen) in self._peers.items() if now - seen > _PEER_TTL]:
                del self._peers[peer]  # an instance that stopped
            silent = now - max(self._echo_at, self._restarted_at)
            if self._ready.is_set() and silent > self._timeout:
                self._down("no heartbeat came back")
                self._restart_receiver()

    # -- receiving -----------------------------------------------------------

    def _restart_receiver(self) -> None:
        self._restarted_at = self._clock.monotonic()
        task = self._tasks.get("receive")
        if task is not None:
            task.cancel()
        self._tasks["receive"] = asyncio.create_task(self._receive_loop(), name="pubsub-receive")

    async def _discard_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await backend.on_shutdown()

    async def _receive_loop(self) -> None:
        await self._discard_backend()
        backoff = Backoff(*_BACKOFF, rng=self._rng)
        while True:
            try:
                backend = self._connect()
                await backend.on_startup()
                self._backend = backend
                await backend.subscribe([self._channel])
                async for _, data in backend.stream_events():
                    backoff.reset()
                    await self._receive(data)
                raise ConnectionError("the pub/sub stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any backend failure: reconnect
                _log.warning("pub/sub connection failed: %s", type(exc).__name__)
                self._down("the connection failed")
                await self._discard_backend()
                await asyncio.sleep(backoff.next_delay())

    async def _receive(self, data: bytes) -> None:
        head, _, frame = data.partition(b"\n")
        try:
            header = _decode_header(head)
        except msgspec.DecodeError:
            _log.warning("ignoring a message on the pub/sub channel that is not Hearth's")
            return
        now = self._clock.monotonic()
        if header.instance == self.instance:
            self._echo(header, now)
            return
        known = self._peers.get(header.instance)
        expected = header.n if header.kind == "beat" else header.n - 1
        self._peers[header.instance] = (header.n if known is None else max(known[0], header.n), now)
        if known is not None and expected != known[0]:
            self._lost(f"instance {header.instance} skipped events")
        if header.kind == "beat":
            return
        room = RoomId(header.room)
        if header.log:
            for watcher in self._watchers:
                watcher(room)
        if header.kind == "ref":
            resolved = await self._fetch(room, header.seq)
            if resolved is None:
                return
            frame = resolved
        self._local.publish(room, header.seq, frame)

    def _echo(self, header: _Header, now: float) -> None:
        # Our own messages come back in the order we published them.
        if self._up and header.n != self._echoed and header.n != self._echoed + 1:
            self._lost("this instance's own events did not all come back")
        self._echoed = header.n
        self._echo_at = now
        if not self._up:
            self._up = True
            if self._ready.is_set():
                _log.warning("pub/sub is back: streams catch up from storage")
                self._lost(None)
            self._ready.set()

    async def _fetch(self, room: RoomId, seq: int) -> bytes | None:
        try:
            events = await self._storage.events_after(room, seq - 1, 1)
        except StorageError:
            self._lost("an event sent by reference could not be read")
            return None
        if not events or events[0].seq != seq:
            return None  # purged meanwhile, or a room of another deployment
        return to_json(EventFrame(room=room, event=events[0]))

    def _down(self, why: str) -> None:
        self._down_why = why
        if self._up:
            self._up = False
            _log.warning("pub/sub is down (%s): streams catch up from storage", why)
            self._lost(None)

    def _lost(self, why: str | None) -> None:
        if why is not None:
            _log.warning("pub/sub lost events (%s): streams catch up from storage", why)
        self.losses += 1
        for watcher in self._watchers:
            watcher(None)
        for listener in self._local.all_listeners():
            listener.lost()


def make_hub(config: Config, storage: Storage, *, clock: Clock = SYSTEM_CLOCK) -> Hub:
    """The hub ``config.pubsub`` names: in-process, Redis or PostgreSQL LISTEN/NOTIFY."""
    if config.pubsub == "redis":
        url = config.pubsub_url

        def redis() -> ChannelsBackend:
            return _RedisBackend(url)

        return ChannelsHub(redis, storage=storage, channel=config.pubsub_channel, clock=clock)
    if config.pubsub == "postgres":
        dsn = config.pubsub_target

        def notify() -> ChannelsBackend:
            return _NotifyBackend(dsn)

        return ChannelsHub(
            notify,
            storage=storage,
            channel=config.pubsub_channel,
            max_payload=NOTIFY_PAYLOAD_MAX,
            clock=clock,
        )
    return MemoryHub()
