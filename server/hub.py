"""Live fan-out of room events to the stream connections that follow a room.

:class:`Hub` is the small interface the relay publishes to and the websocket
subscribes through; :class:`MemoryHub` serves one process, and
``server.pubsub.ChannelsHub`` several relay instances over Redis or PostgreSQL
LISTEN/NOTIFY, behind the same interface. A hub that may miss events (a pub/sub
connection broke) says so with :meth:`Listener.lost`, and the listener catches up
from storage, which every instance shares; it also tells the relay which rooms'
cached logs another instance changed (:meth:`Hub.watch_logs`).

Why not Litestar's channels plugin: its subscribers drop events silently when their
backlog is full (``put_nowait``'s result is ignored) and its publish queue is
unbounded, while the stream must *notice* an overflow to close the consumer with
4409 and must bound memory. Here a publish hands each listener the pre-encoded
frame synchronously; the listener (a stream connection) keeps its own bounded
queue and marks itself behind when full, so a publish never blocks and never waits
on a slow consumer.

The relay publishes while it holds the room's lock, right after the commit, so each
room's events reach every listener of that process in sequence order. Events from
other instances may arrive out of order or not at all; listeners check ``seq``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Protocol, final

from protocol.ids import MemberId, RoomId

__all__ = ["Hub", "Listener", "LogWatcher", "MemoryHub", "personal_channel"]


def personal_channel(owner: MemberId) -> RoomId:
    """The channel of a personal store's writes (``~`` is outside the room-id alphabet).

    Its "seq" is the written document's version: listeners forward such frames as
    they come, since a client fetches whatever is newer than what it holds.
    """
    return RoomId("~personal/" + owner)


class Listener(Protocol):
    """Receives live events; ``deliver`` must return at once and never raise."""

    def deliver(self, room: RoomId, seq: int, frame: bytes) -> None:
        """Take one event frame (JSON text of an ``EventFrame``)."""

    def lost(self) -> None:
        """Events may have been missed: catch up from storage. Returns at once."""


LogWatcher = Callable[[RoomId | None], None]
"""Told a room whose log another instance changed, or ``None``: any room's may have."""


class Hub(abc.ABC):
    """Where committed room events are published for live listeners."""

    @abc.abstractmethod
    def subscribe(self, room: RoomId, listener: Listener) -> None:
        """Deliver ``room``'s events published from now on to ``listener``."""

    @abc.abstractmethod
    def unsubscribe(self, room: RoomId, listener: Listener) -> None:
        """Stop delivering ``room``'s events to ``listener`` (no error if it was not)."""

    @abc.abstractmethod
    def publish(self, room: RoomId, seq: int, frame: bytes, *, log: bool = False) -> None:
        """Hand a committed event to every listener of its room, without blocking.

        ``log`` says the event is a log operation (other instances drop their cached log).
        """

    async def start(self) -> None:  # noqa: B027 - a hook; the in-process hub needs none
        """Connect (called once the storage is open)."""

    async def stop(self) -> None:  # noqa: B027 - a hook
        """Disconnect (called before the storage closes)."""

    def watch_logs(self, watcher: LogWatcher) -> None:  # noqa: B027 - a hook
        """Have ``watcher`` told of log changes made by other instances (none here)."""

    @property
    def degraded(self) -> str | None:
        """Why live delivery between instances is degraded now (``/readyz``), or ``None``."""
        return None

    @abc.abstractmethod
    def listening(self) -> int:
        """How many listeners here follow at least one room (the relay's metrics)."""


@final
class MemoryHub(Hub):
    """The in-process hub for a single relay."""

    def __init__(self) -> None:
        self._listeners: dict[RoomId, set[Listener]] = {}

    def subscribe(self, room: RoomId, listener: Listener) -> None:
        self._listeners.setdefault(room, set()).add(listener)

    def unsubscribe(self, room: RoomId, listener: Listener) -> None:
        listeners = self._listeners.get(room)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[room]

    def publish(self, room: RoomId, seq: int, frame: bytes, *, log: bool = False) -> None:
        for listener in tuple(self._listeners.get(room, ())):
            listener.deliver(room, seq, frame)

    def listening(self) -> int:
        return len(self.all_listeners())

    def all_listeners(self) -> set[Listener]:
        """Every listener of every room."""
        return {listener for listeners in self._listeners.values() for listener in listeners}

    def listener_count(self, room: RoomId) -> int:
        """How many listeners follow ``room`` (for tests and diagnostics)."""
        return len(self._listeners.get(room, ()))
