"""Drafts stay in their room; the rules dialog accepts explicitly and sends what waited.

The failures these reproduce (issue 19): Enter in the rules dialog closed it without
accepting and dropped the message; a draft left in one room was sent into a
private support chat that opened by itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import ListView

from client_sdk import HearthClient, Identity, SupportRequested
from hearth_chat import HearthChat
from hearth_chat.dialogs import RulesDialog
from hearth_chat.rooms import MainScreen, RoomItem
from tests.chat.conftest import (
    WAIT,
    click,
    composer,
    create_room,
    join,
    make_app,
    shows,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


def _focused_id(app: HearthChat) -> str | None:
    return app.focused.id if app.focused is not None else None


async def _open(app: HearthChat, name: str) -> None:
    """Open the room called ``name`` from the room list, as a person selects it."""
    main = app.screen
    assert isinstance(main, MainScreen)
    rooms = main.query_one("#rooms", ListView)
    client = app.require_client()
    for index, item in enumerate(rooms.query(RoomItem)):
        if client.room(item.room_id).name == name:
            rooms.index = index
            rooms.action_select_cursor()
            return
    raise AssertionError(f"no room {name!r}")


async def test_drafts_are_kept_per_room(relay: RelayProcess, tmp_path: Path) -> None:
    app = make_app(relay, tmp_path / "lou", identity=Identity.generate())
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await create_room(pilot, "Mornings")
        await create_room(pilot, "Nights")
        main = app.screen
        assert isinstance(main, MainScreen)
        await type_into(pilot, "#composer", "for the night people")
        await _open(app, "Mornings")
        await wait_for(pilot, lambda: main.room().name == "Mornings", "Mornings open")
        assert composer(app).value == ""
        await pilot.press("enter")  # an empty composer sends nothing
        await type_into(pilot, "#composer", "good morning")
        await _open(app, "Nights")
        await wait_for(pilot, lambda: main.room().name == "Nights", "Nights open")
        assert composer(app).value == "for the night people"
        await _open(app, "Mornings")
        await wait_for(pilot, lambda: composer(app).value == "good morning", "its own draft")
        assert not shows(app, "for the night people")


async def test_a_support_chat_opening_by_itself_takes_no_draft(
    relay: RelayProcess, tmp_path: Path
) -> None:
    async with (
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "owner.db") as owner,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "sam.db") as sam,
    ):
        program = await owner.create_program("Peer line")
        sam_program = await sam.join(await program.create_invite(role="supporter"))
        await sam_program.set_availability(True, max_open=2)
        mia = make_app(relay, tmp_path / "mia", identity=Identity.generate())
        async with mia.run_test(size=(120, 40)) as m:
            await unlock(m)
            await join(m, await program.create_invite())
            main = mia.screen
            assert isinstance(main, MainScreen)
            program_id = main.room().id

            await m.press("f9")
            await wait_for(m, lambda: mia.screen.query("#request-text"), "the support dialog")
            await type_into(m, "#request-text", "can't sleep, scared")
            await click(m, "#ask")
            await wait_for(m, lambda: mia.screen.query("#withdraw"), "the request sent")
            await m.press("escape")
            await wait_for(m, lambda: _focused_id(mia) == "composer", "back in the program")

            # Mia starts a message to the whole program room; a supporter claims meanwhile.
            await type_into(m, "#composer", "does anyone else feel like this")
            async with asyncio.timeout(WAIT):
                async for event in sam.events():
                    if isinstance(event, SupportRequested) and event.room_id == sam_program.id:
                        request = event.request.id
                        break
            buddy = await sam_program.claim(request)
            await wait_for(
                m, lambda: main.room() is not None and main.room().id == buddy.id, "the chat"
            )
            # The private chat opened with an empty composer: Enter sends nothing there.
            assert composer(mia).value == ""
            await m.press("enter")
            assert await main.room().pending() == 0
            assert not shows(mia, "does anyone else")
            # The draft is where it was written.
            assert main.draft(program_id) == "does anyone else feel like this"
            await _open(mia, "Peer line")
            await wait_for(m, lambda: main.room().id == program_id, "the program again")
            assert composer(mia).value == "does anyone else feel like this"


async def test_the_rules_dialog_accepts_explicitly_and_sends_what_waited(
    relay: RelayProcess, tmp_path: Path
) -> None:
    async with HearthClient(
        relay.url, Identity.generate(), store_path=tmp_path / "owner.db"
    ) as owner:
        room = await owner.create_group("Circle", rules="Be kind. What is said here stays here.")
        app = make_app(relay, tmp_path / "ned", identity=Identity.generate())
        async with app.run_test(size=(120, 40)) as pilot:
            await unlock(pilot)
            await join(pilot, await room.create_invite())
            main = app.screen
            assert isinstance(main, MainScreen)

            await type_into(pilot, "#composer", "first time here, hello")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RulesDialog), "the rules")
            await wait_for(pilot, lambda: _focused_id(app) == "accept", "Accept rules focused")
            # Escape keeps the draft and accepts nothing.
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "back")
            assert composer(app).value == "first time here, hello"
            assert not main.room().rules_accepted
            await wait_for(pilot, lambda: _focused_id(app) == "composer", "composer focused")
            # The draft is not selected on focus: the next key adds to it, never replaces it.
            await pilot.press("!")
            assert composer(app).value == "first time here, hello!"

            # Enter again, then Enter on "Accept rules": accepted, and the message goes out.
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RulesDialog), "the rules")
            await wait_for(pilot, lambda: _focused_id(app) == "accept", "Accept rules focused")
            await pilot.press("enter")
            await wait_for(pilot, lambda: shows(app, "you: first time here, hello!"), "sent")
            assert main.room().rules_accepted
            assert composer(app).value == ""
