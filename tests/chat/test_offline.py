"""Offline: the connection indicator says so, a message composed meanwhile is queued and
goes out when the relay is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from client_sdk import HearthClient, Identity, MessageReceived
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import (
    WAIT,
    create_room,
    make_app,
    make_invite,
    say,
    shows,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


@pytest.fixture
def own_relay(tmp_path: Path) -> Iterator[RelayProcess]:
    """A relay of this test's own, since the test takes it down."""
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_compose_offline_then_deliver(own_relay: RelayProcess, tmp_path: Path) -> None:
    relay = own_relay
    app = make_app(relay, tmp_path / "ana", identity=Identity.generate())
    async with (
        app.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "ben.db") as ben,
    ):
        await unlock(pilot)
        await create_room(pilot, "Late shift")
        ben_room = await ben.join(await make_invite(pilot))
        # Ana's app re-sends the room's name to the newcomer: let that go out first, so
        # that the only message queued below is the one composed offline.
        await wait_for(pilot, lambda: ben_room.name == "Late shift", "Ben has the room's name")
        main = app.screen
        assert isinstance(main, MainScreen)
        connection = main.query_one("#connection", Static)
        await wait_for(pilot, lambda: "online" in str(connection.render()), "online")

        await asyncio.to_thread(relay.kill)  # the connection is simply gone
        await wait_for(pilot, lambda: "offline" in str(connection.render()), "offline shown")
        await say(pilot, "written on the train")
        await wait_for(pilot, lambda: shows(app, "queued, sends when online"), "queued mark")
        await wait_for(pilot, lambda: "1 queued" in str(connection.render()), "queue count")

        await asyncio.to_thread(relay.start)
        await wait_for(pilot, lambda: "online" in str(connection.render()), "back online")
        await wait_for(pilot, lambda: not shows(app, "queued"), "the message delivered")
        assert shows(app, "you: written on the train")
        assert "queued" not in str(connection.render())
        async with asyncio.timeout(WAIT):
            async for event in ben.events():
                if isinstance(event, MessageReceived) and not event.message.mine:
                    assert event.message.text == "written on the train"
                    break


async def test_a_rate_limited_outbox_says_when_it_tries_again_and_clears(tmp_path: Path) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    relay = RelayProcess(data, HEARTH_RATE_SEND="1/1")  # one message a second
    relay.start()
    try:
        app = make_app(relay, tmp_path / "ana", identity=Identity.generate())
        async with app.run_test(size=(160, 40)) as pilot:
            await unlock(pilot)
            await create_room(pilot, "Slow lane")
            main = app.screen
            assert isinstance(main, MainScreen)
            connection = main.query_one("#connection", Static)
            await wait_for(pilot, lambda: "online" in str(connection.render()), "online")
            for i in range(4):
                await say(pilot, f"quick {i}")
            await wait_for(
                pilot, lambda: "next try in" in str(connection.render()), "the retry shown"
            )
            # Nothing but time: the SDK retries by itself and the status clears.
            await wait_for(
                pilot,
                lambda: (
                    "next try" not in str(connection.render())
                    and "queued" not in str(connection.render())
                ),
                "everything sent",
            )
            for i in range(4):
                assert shows(app, f"you: quick {i}")
    finally:
        relay.stop()
