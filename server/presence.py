"""Presence: which member keys hold a live stream, on this instance and on the others.

Push wakes a device only when its key has no live websocket anywhere. Each
instance counts its own streams per key here (in memory, changed synchronously by
the stream as it authenticates and closes) and mirrors the set of keys to storage
with an expiry, renewed every :data:`RENEW_S` seconds, so the notifier of any
instance can ask :meth:`server.storage.Storage.present`. On SQLite (one process)
the mirror is the storage's own memory; on PostgreSQL an UNLOGGED table.

Trade-offs, written down in docs/operator.md: writes happen in a background task,
so a stream that just opened or closed is seen by other instances a moment later
(the notifier waits ``push_delay`` before it asks, and asks again at every
delivery); an instance that dies without closing leaves its keys "present" until
their records expire (:data:`TTL_S`), so their devices are not woken meanwhile.
Nothing is tracked while push is off.

Every record of one instance carries the same expiry, that of its last renewal: a
key whose stream opens between renewals gets the expiry the others already have,
not "now plus TTL". One stream authenticates all of a person's keys at once, and
records stamped with the moment they were written would group them by that stamp
(PostgreSQL keeps them in a table, UNLOGGED but on disk). Renewals rewrite every
record in key order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Final, final

from protocol import crypto
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.ids import MemberId, b64url_encode
from server.errors import StorageError
from server.storage import Storage

__all__ = ["RENEW_S", "TTL_S", "Presence"]

TTL_S: Final = 60.0
"""How long a presence record lasts unless renewed."""

RENEW_S: Final = 20.0
"""How often an instance renews the records of its keys."""

_log = logging.getLogger("hearth.presence")


@final
class Presence:
    """This instance's live streams per key, mirrored to storage for every instance."""

    def __init__(self, storage: Storage, *, enabled: bool, clock: Clock = SYSTEM_CLOCK) -> None:
        self._storage = storage
        self._enabled = enabled
        self._clock = clock
        self.instance = b64url_encode(crypto.random_bytes(12))
        """A random name for this process's records."""
        self._counts: Counter[MemberId] = Counter()
        self._added: set[MemberId] = set()
        self._removed: set[MemberId] = set()
        self._expires_at = 0
        """The one expiry of this instance's records (its last renewal's)."""
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def local(self, member: MemberId) -> bool:
        """Whether this instance holds a live stream of ``member``."""
        return self._counts[member] > 0

    def connected(self, members: Iterable[MemberId]) -> None:
        """A stream of these keys authenticated. Returns at once."""
        if not self._enabled:
            return
        for member in members:
            self._counts[member] += 1
            if self._counts[member] == 1:
                self._removed.discard(member)
                self._added.add(member)
        self._wake.set()

    def disconnected(self, members: Iterable[MemberId]) -> None:
        """A stream of these keys closed. Returns at once."""
        if not self._enabled:
            return
        for member in members:
            if self._counts[member] <= 0:
                continue
            self._counts[member] -= 1
            if self._counts[member] == 0:
                del self._counts[member]
                self._added.discard(member)
                self._removed.add(member)
        self._wake.set()

    async def flush(self) -> None:
        """Write the changes since the last flush to storage."""
        added, self._added = sorted(self._added), set()
        removed, self._removed = sorted(self._removed), set()
        try:
            if added:
                if self._expires_at - self._clock.now_ms() < RENEW_S * 1000:
                    # No renewal yet (or it is overdue): this flush starts a new period.
                    await self.renew()
                else:
                    await self._storage.set_presence(
                        self.instance, added, expires_at=self._expires_at
                    )
            if removed:
                await self._storage.clear_presence(self.instance, removed)
        except BaseException:
            # Not written: try again on the next pass (unless the opposite came meanwhile).
            self._added.update(m for m in added if self._counts[m] > 0)
            self._removed.update(m for m in removed if self._counts[m] == 0)
            raise

    async def renew(self) -> None:
        """Extend the records of every key this instance holds a stream of."""
        members = sorted(self._counts)
        expires_at = self._clock.now_ms() + int(TTL_S * 1000)
        if members:
            await self._storage.set_presence(self.instance, members, expires_at=expires_at)
        self._expires_at = expires_at

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_renewal = loop.time() + RENEW_S
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self.flush()
                if loop.time() >= next_renewal:
                    next_renewal = loop.time() + RENEW_S
                    await self.renew()
            except StorageError as exc:
                if exc.closed:
                    return
                _log.warning("presence not recorded: %s", exc.message)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._stopping.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_renewal - loop.time())):
                    await self._wake.wait()

    def start(self) -> None:
        """Start mirroring (idempotent; nothing runs while push is off)."""
        if self._enabled and self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="presence")

    async def stop(self) -> None:
        """Stop mirroring and withdraw this instance's records."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        done, _ = await asyncio.wait([task], timeout=5)
        if not done:
            task.cancel()
            await asyncio.wait([task], timeout=5)
        with contextlib.suppress(StorageError):
            await self._storage.clear_presence(self.instance, sorted(self._counts))
