"""Group commit: messages from concurrent senders share one durable transaction.

With ``synchronous=FULL`` every transaction pays its own round trips to the
database thread and its own commit; one transaction per message made the room's
lock, held across that write, the relay's bottleneck (about 600 messages/s on two
cores, most of it waiting). The :class:`Committer` takes messages that the relay
has checked under the room's lock, queues them in that order, and writes whatever
has queued up in one transaction (:meth:`Storage.add_messages`) while the next
senders check theirs. Invariants:

- Nothing is acknowledged or published before its transaction committed: a
  sender's future resolves only after the commit, never with a weaker guarantee.
- Sequence numbers follow the queue order, which per room is the order in which
  the relay checked the messages under the room's lock; events are published in
  that order, once, right after their commit, before any task runs, so before
  any sender's ack is written.
- A change that is not a message (a log operation, a deletion, an erasure) first
  calls :meth:`drain` under the room's lock, so it is checked and numbered after
  every message checked before it, exactly as with one transaction per message.
- A failed transaction fails every message in it (nothing of it happened) and
  leaves the queue working for the next ones. A message checked against a log
  that another relay instance has extended meanwhile fails alone, with
  ``log.conflict``, and the relay checks it again.

**Gathering under load.** Ten programs that each send their next message as soon
as the last is acknowledged fall into two groups of five that take turns: while
one group's transaction commits, the other's messages queue, so each message
waits for a whole commit ahead of its own. After a commit of messages from two
or more *streaming* senders (each of whom sent within :data:`GATHER` of its
previous acknowledgement), the committer therefore waits until those senders
have queued their next messages, or until :data:`GATHER` after their
acknowledgement, and commits them together with whatever else queued meanwhile.
A person typing never answers an ack within milliseconds, so their messages never
wait for this, nor does a lone sender (a batch needs two streaming senders), nor
does storage that writes one message per transaction (``Storage.group_commit``).
Measured in ``docs/performance.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, final

from protocol.api import MessageEvent, RoomEvent
from protocol.clock import Clock
from protocol.ids import MemberId, RoomId
from protocol.messages import Envelope
from server.errors import RelayError
from server.storage import MessageRecord, Storage

__all__ = ["GATHER", "MAX_BATCH", "Committer", "Stored"]

MAX_BATCH: Final = 256
"""Messages per transaction at most: bounds the time one commit holds the writer."""

GATHER: Final = 0.003
"""Seconds after an ack within which its sender counts as streaming if it sends again,
and until which the next commit waits for the streaming senders of that batch."""

Stored = MessageEvent | MessageRecord
"""A new event, or the record of a message already stored under that id."""


@dataclass(frozen=True, slots=True)
class _Pending:
    envelope: Envelope
    digest: bytes
    log_index: int | None
    future: asyncio.Future[Stored]
    """The sender's: it may cancel it (hang up); the message is committed all the same."""
    settled: asyncio.Future[None]
    """The committer's own: done once the message is committed or failed (``drain``)."""
    streaming: bool
    """Its sender was acknowledged at most ``GATHER`` before it was queued."""


@final
class Committer:
    """The relay's one queue of messages waiting for their transaction."""

    def __init__(
        self,
        storage: Storage,
        publish: Callable[[RoomId, RoomEvent], None],
        clock: Clock,
        *,
        gather: float = GATHER,
        on_commit: Callable[[float, int, bool], None] | None = None,
    ) -> None:
        self._storage = storage
        self._on_commit = on_commit or (lambda seconds, stored, failed: None)
        """Told each commit's duration (loop time), messages stored, and whether it failed."""
        self._publish = publish
        self._clock = clock
        self._gather = gather if storage.group_commit else 0.0
        self._queue: list[_Pending] = []
        self._last: dict[RoomId, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._acked: dict[MemberId, float] = {}
        """Senders acknowledged within the last ``gather`` seconds, and when (loop time)."""
        self._expected: set[MemberId] = set()
        """Streaming senders of the last commit whose next message the next one waits for."""
        self._deadline = 0.0
        """Until when (loop time) the next commit waits for ``_expected``."""
        self._gathered: asyncio.Future[None] | None = None

    def submit(
        self, envelope: Envelope, digest: bytes, *, log_index: int | None = None
    ) -> asyncio.Future[Stored]:
        """Queue a checked message; the future resolves once it is durable and published.

        Call it without awaiting anything between the checks and this call, under
        the room's lock, so that queue order is check order. ``log_index`` is the
        last index of the log the message was checked against (storage refuses
        the message with ``log.conflict`` if the log has moved on).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Stored] = loop.create_future()
        sender = envelope.header.sender
        acked = self._acked.get(sender)
        streaming = acked is not None and loop.time() - acked <= self._gather
        settled: asyncio.Future[None] = loop.create_future()
        self._queue.append(_Pending(envelope, digest, log_index, future, settled, streaming))
        self._last[envelope.header.room] = settled
        self._expected.discard(sender)
        if self._gathered is not None and (not self._expected or len(self._queue) >= MAX_BATCH):
            self._stop_gathering()  # everyone it waited for is here, or the batch is full
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="hearth-committer")
        return future

    async def drain(self, room: RoomId) -> None:
        """Wait until every message of ``room`` queued so far is committed (or failed)."""
        last = self._last.get(room)
        if last is not None and not last.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(last)

    def _stop_gathering(self) -> None:
        if self._gathered is not None and not self._gathered.done():
            self._gathered.set_result(None)

    async def _gather_expected(self) -> None:
        """Wait until the expected senders have queued, or the deadline."""
        loop = asyncio.get_running_loop()
        self._gathered = loop.create_future()
        timer = loop.call_at(self._deadline, self._stop_gathering)
        try:
            await self._gathered
        finally:
            timer.cancel()
            self._gathered = None

    def _expect(self, batch: list[_Pending]) -> None:
        """Note who was just acknowledged, and whom the next commit waits for."""
        if not self._gather:
            return
        now = asyncio.get_running_loop().time()
        horizon = now - self._gather
        self._acked = {m: t for m, t in self._acked.items() if t >= horizon}
        streaming: set[MemberId] = set()
        for p in batch:
            self._acked[p.envelope.header.sender] = now
            if p.streaming:
                streaming.add(p.envelope.header.sender)
        if len(streaming) >= 2:
            self._expected = streaming - {p.envelope.header.sender for p in self._queue}
            self._deadline = now + self._gather

    async def _run(self) -> None:
        while self._queue:
            if (
                self._expected
                and len(self._queue) < MAX_BATCH
                and asyncio.get_running_loop().time() < self._deadline
            ):
                await self._gather_expected()
            self._expected.clear()
            batch = self._queue[:MAX_BATCH]
            del self._queue[:MAX_BATCH]
            started = asyncio.get_running_loop().time()
            try:
                results = await self._storage.add_messages(
                    [(p.envelope, p.digest, p.log_index) for p in batch], ts=self._clock.now_ms()
                )
            except BaseException as exc:
                if not isinstance(exc, asyncio.CancelledError):
                    self._on_commit(asyncio.get_running_loop().time() - started, 0, True)
                for p in batch:
                    if isinstance(exc, asyncio.CancelledError):
                        p.future.cancel()
                    elif not p.future.done():
                        p.future.set_exception(exc)
                        p.future.exception()  # retrieved: a sender that hung up is not an error
                    self._forget(p)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            stored = sum(isinstance(r, MessageEvent) for r in results)
            self._on_commit(asyncio.get_running_loop().time() - started, stored, False)
            # Senders first, then the events, in one stretch without a yield: every
            # event is published before any task runs, so before any ack is written,
            # but the senders' tasks are queued ahead of the connections' pumps. Each
            # sender gets its ack without waiting behind the batch's fan-out, and its
            # client seals the next message while the relay writes the deliveries.
            for p, result in zip(batch, results, strict=True):
                if p.future.done():
                    pass
                elif isinstance(result, RelayError):
                    p.future.set_exception(result)
                    p.future.exception()
                else:
                    p.future.set_result(result)
                self._forget(p)
            for result in results:
                if isinstance(result, MessageEvent):
                    self._publish(result.envelope.header.room, result)
            self._expect(batch)

    def _forget(self, pending: _Pending) -> None:
        if not pending.settled.done():
            pending.settled.set_result(None)
        room = pending.envelope.header.room
        if self._last.get(room) is pending.settled:
            del self._last[room]
