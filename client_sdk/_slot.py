"""A room's plain state together with the two locks that serialise work on it.

Lock order, everywhere: ``send_lock`` (the outbox of the room, one delivery at a
time, in order) before ``lock`` (the room's state: events, our operations,
sealing). Code holding ``lock`` never waits for ``send_lock``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from client_sdk._core.state import RoomState
from protocol.ids import RoomId

__all__ = ["Slot"]


@dataclass(slots=True)
class Slot:
    """A room's state with its locks."""

    state: RoomState
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def room(self) -> RoomId:
        return self.state.room
