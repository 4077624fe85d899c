"""Live fan-out of room events to the stream connections that follow a room.

:class:`Hub` is the small interface the relay publishes to and the websocket
subscribes through; :class:`MemoryHub` serves one process. A later issue adds hubs
over Redis or PostgreSQL LISTEN/NOTIFY for several relay instances behind the same
interface.

Why not Litestar's channels plugin: its subscribers drop events silently when their
backlog is full (``put_nowait``'s result is ignored) and its publish queue is
unbounded, while the stream must *notice* an overflow to close the consumer with
4409 and must bound memory. Here a publish hands each listener the pre-encoded
frame synchronously; the listener (a stream connection) keeps its own bounded
queue and marks itself behind when full, so a publish never blocks and never waits
on a slow consumer.

The relay publishes while it holds the room's lock, right after the commit, so each
room's events reach every listener in sequence order.
"""

from __future__ import annotations

import abc
from typing import Protocol, final

from protocol.ids import RoomId

__all__ = ["Hub", "Listener", "MemoryHub"]


class Listener(Protocol):
    """Receives live events; ``deliver`` must return at once and never raise."""

    def deliver(self, room: RoomId, seq: int, frame: bytes) -> None:
        """Take one event frame (JSON text of an ``EventFrame``)."""


class Hub(abc.ABC):
    """Where committed room events are published for live listeners."""

    @abc.abstractmethod
    def subscribe(self, room: RoomId, listener: Listener) -> None:
        """Deliver ``room``'s events published from now on to ``listener``."""

    @abc.abstractmethod
    def unsubscribe(self, room: RoomId, listener: Listener) -> None:
        """Stop delivering ``room``'s events to ``listener`` (no error if it was not)."""

    @abc.abstractmethod
    def publish(self, room: RoomId, seq: int, frame: bytes) -> None:
        """Hand a committed event to every listener of its room, without blocking."""


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

    def publish(self, room: RoomId, seq: int, frame: bytes) -> None:
        for listener in tuple(self._listeners.get(room, ())):
            listener.deliver(room, seq, frame)

    def listener_count(self, room: RoomId) -> int:
        """How many listeners follow ``room`` (for tests and diagnostics)."""
        return len(self._listeners.get(room, ()))
