"""The relay's verified room logs, loaded from storage on first use and cached.

Each room has one :class:`RoomState`: a ``protocol.RoomLog`` the relay verified
itself, and an ``asyncio.Lock`` that serialises every change to the room (log
appends, messages, deletions), so sequence numbers and log indexes are assigned in
one order and events are published in that order. A change verifies against the
cached log (mutating it), persists, and publishes; if persisting fails the state is
dropped (``valid`` turns false) and the next user reloads it from storage, so the
cache never holds an operation the database does not.

With several relay instances over one database, another instance may extend a log
this cache holds. The cache then lags, never disagrees: logs only grow. It catches
up when the hub reports another instance's log event (``drop``), when the hub may
have missed one (``drop_all``), and wherever a stale answer would refuse a caller
(``refresh``: one indexed read for the operation after the cached head). Writes
are safe regardless: storage refuses a write verified against an outgrown log.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, final

from protocol.ids import MemberId, RoomId
from protocol.roomlog import RoomLog
from server.errors import RelayError
from server.storage import Storage

__all__ = ["RoomState", "Rooms"]

_CACHE_SIZE: Final = 10_000


@final
@dataclass(slots=True, eq=False)
class RoomState:
    """A cached, verified room log and the lock that guards changes to it."""

    log: RoomLog
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    valid: bool = True


def not_found() -> RelayError:
    """The one answer for a room that does not exist or that the caller is not in."""
    return RelayError("no such room", code="room.not_found")


@final
class Rooms:
    """The cache of verified room logs."""

    def __init__(self, storage: Storage, *, capacity: int = _CACHE_SIZE) -> None:
        self._storage = storage
        self._capacity = capacity
        self._cache: OrderedDict[RoomId, RoomState] = OrderedDict()
        self._load_lock = asyncio.Lock()

    async def get(self, room: RoomId) -> RoomState | None:
        """The room's state, loading and verifying its log if needed (None: no room)."""
        state = self._cache.get(room)
        if state is not None:
            self._cache.move_to_end(room)
            return state
        async with self._load_lock:
            state = self._cache.get(room)
            if state is not None:
                return state
            ops = await self._storage.load_ops(room)
            if not ops:
                return None
            # The relay verified every operation before storing it; verifying again
            # on load also catches a database edited behind its back.
            state = RoomState(log=RoomLog.from_ops(ops))
            self.put(room, state)
            return state

    def cached(self, room: RoomId) -> RoomState | None:
        """The room's state if it is cached (no load, no await: for per-event checks)."""
        return self._cache.get(room)

    def put(self, room: RoomId, state: RoomState) -> None:
        """Cache a state (a newly created room)."""
        self._cache[room] = state
        self._cache.move_to_end(room)
        while len(self._cache) > self._capacity:
            oldest, victim = next(iter(self._cache.items()))
            if victim.lock.locked():
                break
            del self._cache[oldest]

    def drop(self, room: RoomId) -> None:
        """Forget a room's state after a failed write; the next user reloads it."""
        state = self._cache.pop(room, None)
        if state is not None:
            state.valid = False

    def drop_all(self) -> None:
        """Forget every room's state (another instance may have changed any of them)."""
        for room in list(self._cache):
            self.drop(room)

    async def refresh(self, room: RoomId, state: RoomState) -> RoomState | None:
        """``state``, or the room reloaded if storage holds an operation past its head."""
        newer = await self._storage.op_seqs(room, [state.log.index + 1])
        if not newer and state.valid:
            return state
        if self._cache.get(room) is state:
            self.drop(room)
        return await self.get(room)

    async def member_state(self, room: RoomId, members: list[MemberId]) -> RoomState:
        """The room's state if one of ``members`` is in it, else ``room.not_found``."""
        state = await self.get(room)
        if state is not None and not any(m in state.log.members for m in members):
            state = await self.refresh(room, state)  # joined through another instance?
        if state is None or not any(m in state.log.members for m in members):
            raise not_found()
        return state

    @asynccontextmanager
    async def locked(self, room: RoomId) -> AsyncIterator[RoomState]:
        """Hold the room's lock on a valid state (reloading one dropped meanwhile)."""
        while True:
            state = await self.get(room)
            if state is None:
                raise not_found()
            async with state.lock:
                if not state.valid:
                    continue
                yield state
                return
