"""Retention: purging what a room's policy says has expired, in the background.

For each room whose policy sets ``retention_days``, messages (and tombstones and
placeholders) older than that are deleted from the start of the room's sequence,
and the room's low-water mark moves up to the last purged ``seq``, so clients can
tell a purge from a withheld event. Log operations are never purged: the log must
verify from ``room.create``. Attachments older than the retention go too, and so
do lapsed token revocations, and the ciphertext of expired link offers (their rows,
which only answer ``link.used`` / ``link.expired``, a day later). Everything here
is idempotent: a pass cut short by a shutdown is simply done again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, final

from protocol.clock import SYSTEM_CLOCK, Clock
from server.errors import StorageError
from server.storage import Storage

__all__ = ["DAY_MS", "Retention"]

DAY_MS: Final = 24 * 3600 * 1000

_log = logging.getLogger("hearth.retention")


@final
class Retention:
    """Runs :meth:`run_once` every ``interval`` seconds while started."""

    def __init__(self, storage: Storage, *, interval: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self._storage = storage
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run_once(self) -> int:
        """One purge pass over every room; returns how many rooms moved their mark."""
        now = self._clock.now_ms()
        moved = 0
        for room, days in await self._storage.retention_rooms():
            cutoff = now - days * DAY_MS
            before = await self._storage.room_info(room)
            mark = await self._storage.purge(room, before_ts=cutoff)
            await self._storage.purge_blobs(room, before_ts=cutoff)
            if before is not None and mark > before.low_water:
                moved += 1
        await self._storage.purge_sessions(now=now)
        await self._storage.purge_links(now=now, keep_ms=DAY_MS)
        return moved

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                moved = await self.run_once()
                if moved:
                    _log.info("retention purged expired events in %d rooms", moved)
            except StorageError as exc:
                if exc.closed:
                    return
                _log.warning("retention pass failed: %s", exc.message)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stopping.wait()

    def start(self) -> None:
        """Start the background task (idempotent)."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        """Stop the background task after the pass in progress, and wait for it.

        The loop watches an event rather than relying on cancellation alone: a
        cancellation that lands inside a storage call must not leave it sleeping.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait([task], timeout=5)
        if not done:
            task.cancel()
            await asyncio.wait([task], timeout=5)
