"""Crisis resources one key away, the opt-in draft check, reactions and blocking."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Static, Switch

from client_sdk import HearthClient, Identity, ReactionChanged
from hearth_chat import HearthChat, Profile
from hearth_chat.crisis import CrisisScreen
from hearth_chat.dialogs import ConfirmDialog, ReactDialog
from hearth_chat.onboarding import CreateScreen
from tests.chat.conftest import (
    WAIT,
    click,
    create_room,
    join,
    make_app,
    make_invite,
    say,
    select_message,
    shows,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


def _resources(app: HearthChat) -> str:
    return str(app.screen.query_one("#resources-text", Static).render())


async def test_crisis_screen_from_everywhere_and_the_draft_check(
    relay: RelayProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "eve"
    app = make_app(relay, folder, identity=Identity.generate())
    app.region = "GB"
    async with app.run_test(size=(120, 40)) as pilot:
        # Before unlocking, with nothing saved yet: the emergency advice and the lines
        # built into the SDK for the region, at once.
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "crisis screen")
        assert "emergency number" in " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Samaritans" in _resources(app)
        await pilot.press("escape")

        await unlock(pilot)
        await create_room(pilot, "Quiet room")
        await pilot.press("f1")
        await wait_for(pilot, lambda: "Samaritans" in _resources(app), "the relay's list")
        assert "116 123" in _resources(app)
        assert "findahelpline.com" in _resources(app)  # listed for every region

        # Opt in to the on-device draft check; a draft in crisis words gets a suggestion.
        await click(pilot, "#draft-check")
        assert app.screen.query_one("#draft-check", Switch).value
        assert app.client is not None
        await wait_for(pilot, lambda: app.client is not None and app.client.draft_check, "on")
        await pilot.press("escape")
        await say(pilot, "honestly I can't go on like this")
        suggestion = app.screen.query_one("#suggestion", Static)
        await wait_for(pilot, lambda: "not alone" in str(suggestion.render()), "the suggestion")
        # A suggestion only: the message went out as written.
        await wait_for(pilot, lambda: shows(app, "you: honestly I can't go on"), "sent")

    # The list was saved: the next start shows it before unlocking, and F1 works on
    # the first-run screens of a new profile too.
    again = HearthChat(relay.url, Profile(folder, strength="interactive"), region="GB")
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(again.screen, CrisisScreen), "crisis screen")
        assert "support lines in many countries" in _resources(again)  # the relay's words
    fresh = make_app(relay, tmp_path / "new")
    async with fresh.run_test(size=(120, 40)) as pilot:
        await click(pilot, "#create")
        await wait_for(pilot, lambda: isinstance(fresh.screen, CreateScreen), "first run")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(fresh.screen, CrisisScreen), "crisis screen")


async def test_react_and_block(relay: RelayProcess, tmp_path: Path) -> None:
    app = make_app(relay, tmp_path / "fay", identity=Identity.generate())
    async with (
        app.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "gus.db") as gus,
    ):
        await unlock(pilot)
        await create_room(pilot, "Evenings")
        gus_room = await gus.join(await make_invite(pilot))
        await gus_room.send("made it through today")
        await wait_for(pilot, lambda: shows(app, "made it through today"), "Gus's message")

        select_message(app, "made it through today")
        await pilot.press("ctrl+o")
        await click(pilot, "#do-react")
        await wait_for(pilot, lambda: isinstance(app.screen, ReactDialog), "the reactions")
        await click(pilot, "#emoji-0")
        await wait_for(pilot, lambda: shows(app, "💛 1"), "the reaction shown")
        async with asyncio.timeout(WAIT):  # Gus's app sees Fay's reaction too
            async for event in gus.events():
                if isinstance(event, ReactionChanged) and event.emoji == "💛":
                    assert event.member != gus_room.me
                    assert not event.removed
                    break

        # Block Gus: his messages stop showing here; nobody is told.
        select_message(app, "made it through today")
        await pilot.press("ctrl+o")
        await click(pilot, "#do-block")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "confirm")
        await click(pilot, "#yes")
        await wait_for(pilot, lambda: not shows(app, "made it through today"), "hidden")
        assert app.client is not None
        assert gus_room.me in app.client.blocked


async def test_a_rooms_retention_is_shown(relay: RelayProcess, tmp_path: Path) -> None:
    async with HearthClient(
        relay.url, Identity.generate(), store_path=tmp_path / "owner.db"
    ) as owner:
        room = await owner.create_group("Short memory", retention_days=7)
        app = make_app(relay, tmp_path / "hal", identity=Identity.generate())
        async with app.run_test(size=(120, 40)) as pilot:
            await unlock(pilot)
            await join(pilot, await room.create_invite())
            banner = app.screen.query_one("#room-banner", Static)
            await wait_for(
                pilot, lambda: "disappear after 7 days" in str(banner.render()), "the retention"
            )
