"""Ending background tasks without losing a cancellation on either side.

``with suppress(CancelledError): await task`` after ``task.cancel()`` also
swallows a cancellation of the *caller*, so a ``close()`` that is itself cancelled
(an app quitting, a timeout around it) would carry on as if nothing happened.
``asyncio.wait`` waits without raising the tasks' outcomes and still lets the
caller's own cancellation through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]

_log = logging.getLogger("client_sdk")


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], *, again_after: float | None = None
) -> None:
    """Cancel ``tasks`` and return once every one has ended; their outcomes are dropped.

    With ``again_after``, a task still running that many seconds after its
    cancellation (it lost the cancellation, which must not happen) is logged and
    cancelled again, so that the caller cannot wait forever.

    Raises:
        CancelledError: The caller itself was cancelled (the tasks are cancelled
            but may not have ended yet).
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=again_after)
        for task in pending:
            _log.warning(
                "task %s still runs %.0f s after it was cancelled; cancelling it again",
                task.get_name(),
                again_after,
            )
            task.cancel()
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so that asyncio does not report it unhandled
