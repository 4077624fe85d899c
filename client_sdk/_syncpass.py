"""The HTTP sync pass: every followed room caught up with the relay, page by page.

:func:`sync_pass` pages through ``POST /v1/sync`` for all followed rooms at once,
one page ahead of the one being stored. While a page is checked and stored (each
room's events through its :class:`~client_sdk._driver.RoomDriver`, under the room's
lock), the next is already requested with the positions the current page will
leave, and its messages verified and decrypted in a worker thread
(:func:`~client_sdk._core.step.open_ahead`). That page is used only if the
positions after storing match those it was asked with; otherwise it is dropped and
asked again, so the pass is exactly the sequential one. After a complete pass each
room judges its counter gaps and expires what its retention drops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from client_sdk._core.step import Opened, open_ahead
from client_sdk._tasks import cancel_and_wait
from client_sdk.errors import RelayError
from protocol.api import SyncRequest, SyncResponse
from protocol.ids import RoomId

if TYPE_CHECKING:
    from client_sdk._driver import RoomDriver
    from client_sdk._transport import Transport

__all__ = ["sync_pass"]

_SYNC_PAGE: Final = 500
_OPEN_AHEAD_MIN: Final = 16
"""Messages in a sync page below which they are opened on the event loop, not a thread."""
_Page = tuple[SyncResponse, dict[RoomId, dict[int, Opened]]]


@dataclass(frozen=True, slots=True)
class _Ahead:
    """The sync page requested ahead, and the positions it was requested with."""

    positions: dict[RoomId, int]
    task: asyncio.Task[_Page]


def _open_pages(
    response: SyncResponse, secrets: dict[RoomId, dict[int, bytes]]
) -> dict[RoomId, dict[int, Opened]]:
    """:func:`open_ahead` over every room of a sync page (runs in a worker thread)."""
    return {
        page.room: open_ahead(page.room, page.events, secrets[page.room])
        for page in response.rooms
        if page.room in secrets
    }


def _positions_after(positions: dict[RoomId, int], response: SyncResponse) -> dict[RoomId, int]:
    """The positions storing ``response`` should leave (if every event is taken)."""
    after = dict(positions)
    for page in response.rooms:
        if page.room in after and page.events:
            after[page.room] = max(after[page.room], page.events[-1].seq)
    return after


async def sync_pass(
    transport: Transport,
    rooms: Mapping[RoomId, RoomDriver],
    followed: Callable[[], list[RoomDriver]],
    *,
    refused: Callable[[], None],
) -> None:
    """Page through ``POST /v1/sync`` until the relay has nothing more (module docstring).

    ``followed`` gives the rooms to ask for, again before every page (a room can
    be left, frozen or taken up meanwhile); ``refused`` forgets the session
    tokens once, when the relay refuses them, before one more try.
    """
    reauthenticated = False
    ahead: _Ahead | None = None
    try:
        while True:
            drivers = followed()
            if not drivers:
                break
            positions = {d.room: d.state.position for d in drivers}
            if ahead is not None and ahead.positions == positions:
                task = ahead.task
            else:
                if ahead is not None:
                    await cancel_and_wait([ahead.task])  # not wanted: drop it
                tokens = [await d.token() for d in drivers]
                task = _fetch_page(transport, tokens, positions, drivers)
            ahead = None
            try:
                response, opened = await task
            except RelayError as exc:
                if exc.code in ("auth.invalid", "auth.expired") and not reauthenticated:
                    reauthenticated = True
                    refused()
                    continue
                lost = RoomId(str(exc.detail.get("room", "")))
                if exc.code == "room.not_found" and lost in rooms:
                    await rooms[lost].unreachable()
                    continue
                raise
            if response.more:
                guess = _positions_after(positions, response)
                if guess != positions:
                    tokens = [await d.token() for d in drivers]
                    ahead = _Ahead(guess, _fetch_page(transport, tokens, guess, drivers))
            for page in response.rooms:
                driver = rooms.get(page.room)
                if driver is None:
                    continue
                async with driver.slot.lock:
                    driver.state.note_low_water(page.low_water)
                    await driver.ingest(page.events, opened.get(page.room))
            progressed = any(d.state.position != positions.get(d.room) for d in drivers)
            if not response.more or not progressed:
                break  # a relay saying "more" without moving us on is not followed
    finally:
        if ahead is not None:
            await cancel_and_wait([ahead.task])  # not wanted: drop it
    for driver in followed():
        await driver.settle()


def _fetch_page(
    transport: Transport,
    tokens: list[str],
    positions: dict[RoomId, int],
    drivers: Sequence[RoomDriver],
) -> asyncio.Task[_Page]:
    """Request a sync page and open its messages off the event loop, as a task."""
    # Copies: the event loop may add secrets while the worker thread reads them.
    secrets = {d.room: dict(d.state.secrets) for d in drivers}
    request = SyncRequest(positions=positions, limit=_SYNC_PAGE)

    async def fetch() -> _Page:
        response = await transport.sync(tokens, request)
        count = sum(len(page.events) for page in response.rooms)
        if count < _OPEN_AHEAD_MIN:
            return response, {}  # not worth a thread hand-off: receive opens them
        return response, await asyncio.to_thread(_open_pages, response, secrets)

    return asyncio.get_running_loop().create_task(fetch(), name="hearth-sync-page")
