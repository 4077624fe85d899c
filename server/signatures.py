"""Message signatures checked on a thread of their own, a batch at a time.

Ed25519 verification is the largest single cost of admitting a message (about
70 µs of a core, of under a millisecond in all), and libsodium runs it without
the GIL. :class:`SignatureChecker` gathers the envelopes that arrive in one turn
of the event loop and verifies them together on one worker thread, so the loop
goes on reading, committing and fanning out meanwhile, and the batch pays one
hand-off between threads instead of one per message. A lone envelope is checked
on the loop itself: for one message the hand-off costs more than it saves.

The result is the verdict, not a shortcut: the relay still runs every other
admission check under the room's lock and raises a bad signature at the same
point of that order as before (``docs/protocol.md`` 8.8, step 7).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final, final

from protocol.envelope import verify_signature
from protocol.errors import EnvelopeError
from protocol.messages import Envelope

__all__ = ["SignatureChecker"]

_THREAD_LOCK: Final = threading.Lock()
_thread: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    """The process's one verification thread (started on first use, shared)."""
    global _thread  # noqa: PLW0603 - one idle thread per process, not per relay
    with _THREAD_LOCK:
        if _thread is None:
            _thread = ThreadPoolExecutor(1, thread_name_prefix="hearth-verify")
        return _thread


def _verdict(envelope: Envelope) -> EnvelopeError | None:
    try:
        verify_signature(envelope)
    except EnvelopeError as exc:
        return exc
    return None


def _verdicts(envelopes: list[Envelope]) -> list[EnvelopeError | None]:
    return [_verdict(envelope) for envelope in envelopes]


_Waiting = tuple[Envelope, "asyncio.Future[EnvelopeError | None]"]


@final
class SignatureChecker:
    """Verifies envelopes' sender signatures off the event loop, batched per loop turn."""

    def __init__(self) -> None:
        self._waiting: list[_Waiting] = []

    async def check(self, envelope: Envelope) -> EnvelopeError | None:
        """``None`` if the sender's signature verifies, else the ``msg.bad_signature`` error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EnvelopeError | None] = loop.create_future()
        self._waiting.append((envelope, future))
        if len(self._waiting) == 1:
            # After the callbacks already due this turn: the other readers whose frames
            # arrived with this one join the batch.
            loop.call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        batch, self._waiting = self._waiting, []
        if len(batch) == 1:
            envelope, future = batch[0]
            if not future.done():
                future.set_result(_verdict(envelope))
            return
        done = asyncio.wrap_future(_worker().submit(_verdicts, [e for e, _ in batch]))
        done.add_done_callback(lambda outcome: _settle(batch, outcome))


def _settle(batch: list[_Waiting], outcome: asyncio.Future[list[EnvelopeError | None]]) -> None:
    if outcome.cancelled():
        for _, future in batch:
            future.cancel()
        return
    error = outcome.exception()
    verdicts = outcome.result() if error is None else [None] * len(batch)
    for (_, future), verdict in zip(batch, verdicts, strict=True):
        if future.done():
            continue  # its sender went away meanwhile
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(verdict)
