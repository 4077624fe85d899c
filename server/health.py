"""What ``/readyz`` says: whether the relay can take writes, and whether live delivery
between instances works.

A relay whose every write fails (a full disk, an unreachable database) must leave
its load balancer's rotation, and the operator must learn why from one log line,
not from a thousand identical ones. :class:`Readiness` is the state machine:

- **The last write outcome.** The storage reports every write it commits or fails
  (``Storage.write_observer``): a failure makes the relay *unavailable* at once, with
  the failure's cause; the next write that commits makes it ready again.
- **A write probe.** Every ``interval`` seconds in which no write committed, one
  small write (``Storage.probe_write``: a row of its own, no time, nothing about
  anyone) finds out whether writes work: so a relay nobody writes to still notices
  a full disk, and a failing one notices by itself that the disk has room again.
- **Reads.** ``/readyz`` also asks the storage to answer a query, as before, and
  waits at most ``READ_CHECK_TIMEOUT`` for it: a database that accepts connections
  but never answers (a network that drops packets, a stalled server) makes the
  relay unavailable, instead of a readiness check that hangs.
- **Pub/sub.** A hub whose connection between instances is down
  (:attr:`server.hub.Hub.degraded`) leaves the relay *degraded*: it still serves
  every request and every stream (sync and catch-up read storage), so ``/readyz``
  stays 200, with ``status: "degraded"`` and the reason in its body.

Each cause is logged once when it appears, then at most once a minute while it
lasts (:class:`server.repeats.Repeats`), and once when it is over; the requests
that fail meanwhile log nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, final

from protocol.api import Health
from protocol.clock import SYSTEM_CLOCK, Clock
from server.errors import StorageError
from server.hub import Hub
from server.repeats import Repeats
from server.storage import Storage

__all__ = ["PROBE_INTERVAL", "READ_CHECK_TIMEOUT", "Readiness"]

PROBE_INTERVAL: Final = 5.0
"""Default seconds between write probes (``health_probe_interval``)."""

READ_CHECK_TIMEOUT: Final = 2.0
"""Seconds ``/readyz`` waits for the storage to answer its read."""

_log = logging.getLogger("hearth.health")


@final
class Readiness:
    """Whether writes work, from their outcomes and a periodic probe; see the module doc."""

    def __init__(
        self,
        storage: Storage,
        hub: Hub,
        *,
        interval: float = PROBE_INTERVAL,
        read_timeout: float = READ_CHECK_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._storage = storage
        self._hub = hub
        self._interval = interval
        self._read_timeout = read_timeout
        self._reading: asyncio.Task[None] | None = None
        """The read check in progress, if one is still out (:meth:`_read`)."""
        self._trouble = Repeats(
            _log, f"storage failing ({storage.location})", level=logging.ERROR, clock=clock
        )
        """One log line per cause, whether reads, writes or probes meet it."""
        self._failed_write: str | None = None
        """What the last write failed with, or ``None`` if it committed."""
        self._wrote = False
        """A write committed since the last probe (so the next one is not needed)."""
        self._task: asyncio.Task[None] | None = None
        storage.write_observer = self.observe

    # -- what the storage and the handlers report ---------------------------

    def observe(self, error: StorageError | None) -> None:
        """The outcome of one write: ``None`` if it committed, else its error."""
        if error is None:
            self._wrote = True
            self._failed_write = None
            self._trouble.ok()
        else:
            self._failed_write = error.message
            self._trouble.failed(error.cause, error.message)

    def request_failed(self, error: StorageError) -> None:
        """A request or stream failed on storage: logged here, once per cause, instead
        of once per request. (A storage closed on purpose is no failure.)"""
        if not error.closed:
            self._trouble.failed(error.cause, error.message)

    # -- the probe ----------------------------------------------------------

    def start(self) -> None:
        """Start probing writes every ``interval`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._probes(), name="hearth-write-probe")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            reading.cancel()  # not awaited: it may be the check that never answers

    async def _probes(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._wrote and self._failed_write is None:
                self._wrote = False
                continue
            await self.probe()

    async def probe(self) -> None:
        """One write probe now; its outcome reaches :meth:`observe`."""
        with contextlib.suppress(StorageError):
            await self._storage.probe_write()

    # -- the answer ---------------------------------------------------------

    async def _read(self) -> None:
        """The storage's read check, given at most ``read_timeout`` seconds.

        Not cancelled at the deadline but left to finish on its own: a database
        driver cancelling a query on a connection that forwards nothing can itself
        wait for ever. One check at a time: while one is still out, the next
        ``/readyz`` says so at once instead of starting another.

        Raises:
            StorageError: The read failed, or no answer came in time.
        """
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._storage.ping(), name="hearth-read-check")
            self._reading.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({self._reading}, timeout=self._read_timeout)
        if not done:
            raise StorageError(f"no answer within {self._read_timeout:g} s")
        self._reading.result()

    async def check(self) -> tuple[bool, Health]:
        """Whether the relay is ready, and the body ``/readyz`` answers with."""
        reasons: list[str] = []
        if self._failed_write is not None:
            reasons.append(f"storage writes fail: {self._failed_write}")
        else:
            try:
                await self._read()
            except StorageError as exc:
                self.request_failed(exc)
                reasons.append(f"storage does not answer: {exc.message}")
            else:
                self._trouble.ok()
        if reasons:
            return False, Health(status="unavailable", reasons=reasons)
        degraded = self._hub.degraded  # server.pubsub logs its own transitions
        if degraded is not None:
            return True, Health(status="degraded", reasons=[degraded])
        return True, Health(status="ok")


def _retrieve(task: asyncio.Task[None]) -> None:
    """Read a finished read check's outcome, so an unawaited failure is not reported."""
    if not task.cancelled():
        task.exception()
