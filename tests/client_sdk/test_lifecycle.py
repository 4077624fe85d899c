"""Closing a client ends, whenever it lands, against a real relay.

``close()`` cancels the client's background tasks and waits for them. A task that
lost that cancellation would keep following its stream and ``close()`` would
never return: the app could not quit, and a test suite would hang in its
teardown. The riskiest moment is a stream's authentication, when the relay's
``ready`` frame and the cancellation arrive in the same turn of the event loop
(``asyncio.wait_for`` on Python 3.11 returned the frame and dropped the
cancellation). These tests put ``close()`` exactly there, for the personal
stream and for the rooms' stream, and cancel a ``close()`` in progress.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from client_sdk import HearthClient, Identity
from client_sdk._transport import StreamConnection
from protocol.api import ReadyFrame, ServerFrame
from tests.client_sdk.conftest import RelayProcess


@pytest.mark.parametrize("stream", ["personal", "rooms"])
async def test_close_ends_when_it_lands_as_a_stream_authenticates(
    relay: RelayProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stream: str,
) -> None:
    me = Identity.generate()
    personal = me.personal_keys().member
    async with HearthClient(relay.url, me, store_path=tmp_path / "me.db") as first:
        await first.create_group("Evening circle")  # so the rooms' stream has a room

    client = HearthClient(relay.url, me, store_path=tmp_path / "me.db")
    closing: list[asyncio.Task[None]] = []
    real_recv = StreamConnection.recv

    async def recv(self: StreamConnection) -> ServerFrame:
        frame = await real_recv(self)
        ours = isinstance(frame, ReadyFrame) and (frame.members == [personal]) == (
            stream == "personal"
        )
        if ours and not closing:
            # Scheduled now, so its cancellation reaches the stream's task in the
            # same turn of the loop as this frame does.
            closing.append(asyncio.get_running_loop().create_task(client.close()))
        return frame

    monkeypatch.setattr(StreamConnection, "recv", recv)
    await client.open()
    async with asyncio.timeout(15):
        while not closing:
            await asyncio.sleep(0.01)
    try:
        async with asyncio.timeout(15):
            await closing[0]
    except TimeoutError:
        pytest.fail(f"close() did not end: the {stream} stream lost its cancellation")
    # It ended because the tasks took the first cancellation, not the second that
    # close() sends a task still running after a grace period.
    assert not [r for r in caplog.records if "cancelling it again" in r.getMessage()]
    # Closed for good: nothing of the client is left running.
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("hearth-")]
    assert left == []


async def test_a_cancelled_close_raises_and_a_second_close_finishes(
    relay: RelayProcess, tmp_path: Path
) -> None:
    me = Identity.generate()
    client = HearthClient(relay.url, me, store_path=tmp_path / "me.db")
    await client.open()
    await client.create_group("Evening circle")
    closing = asyncio.get_running_loop().create_task(client.close())
    await asyncio.sleep(0)  # close() is now waiting for its background tasks
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing  # the app's cancellation is not swallowed
    async with asyncio.timeout(15):
        await client.close()
    # The store was closed: the same identity opens it again at once.
    async with HearthClient(relay.url, me, store_path=tmp_path / "me.db") as again:
        assert [r.name for r in again.rooms] == ["Evening circle"]
