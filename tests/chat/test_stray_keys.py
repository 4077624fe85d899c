"""No harm from a stray key: a sentence typed anywhere in the room view never acts.

The failures these reproduce (issue 19): focus came back to the message list after
a dialog, where single letters acted, so a moderator typing "Remember to breathe"
blocked a member; confirmation dialogs focused the destructive button; mute and
block in the members dialog asked nothing.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Label, ListItem, ListView

from client_sdk import HearthClient, Identity
from hearth_chat import HearthChat
from hearth_chat.dialogs import ConfirmDialog, MembersDialog
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import (
    click,
    composer,
    create_room,
    make_app,
    make_invite,
    select_message,
    shows,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess

SENTENCE = "Remember to breathe, you matter"


async def type_keys(pilot: Pilot[None], text: str) -> None:
    """Press one key per character, as a person types (not a paste)."""
    for character in text:
        await pilot.press(character)


def _focused_id(app: HearthChat) -> str | None:
    return app.focused.id if app.focused is not None else None


async def test_a_sentence_typed_on_the_message_list_goes_to_the_composer(
    relay: RelayProcess, tmp_path: Path
) -> None:
    mod = make_app(relay, tmp_path / "mod", identity=Identity.generate())
    async with (
        mod.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "gus.db") as gus,
    ):
        await unlock(pilot)
        await create_room(pilot, "Evenings")
        gus_room = await gus.join(await make_invite(pilot))
        await gus_room.send("rough night again")
        await wait_for(pilot, lambda: shows(mod, "rough night again"), "Gus's message")
        main = mod.screen
        assert isinstance(main, MainScreen)

        # Focus on the message list, Gus's message highlighted; the moderator types.
        select_message(mod, "rough night again")
        await type_keys(pilot, SENTENCE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: shows(mod, f"you: {SENTENCE}"), "the sentence sent")
        assert isinstance(mod.screen, MainScreen), "no dialog opened"
        assert mod.client is not None
        room = main.room()
        assert room is not None
        assert gus_room.me not in mod.client.blocked
        assert gus_room.me not in room.muted
        assert gus_room.me in room.members
        assert shows(mod, "rough night again")
        assert composer(mod).value == ""


async def test_confirmations_focus_cancel_and_focus_returns_to_the_composer(
    relay: RelayProcess, tmp_path: Path
) -> None:
    mod = make_app(relay, tmp_path / "mod", identity=Identity.generate())
    async with (
        mod.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "gus.db") as gus,
    ):
        await unlock(pilot)
        await create_room(pilot, "Evenings")
        gus_room = await gus.join(await make_invite(pilot))
        await gus_room.send("I want it all to stop")
        await wait_for(pilot, lambda: shows(mod, "I want it all to stop"), "Gus's message")

        # Delete asks; Cancel holds the focus, so a stray Enter cancels.
        select_message(mod, "I want it all to stop")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(mod.screen, ConfirmDialog), "the question")
        question = mod.screen
        assert isinstance(question, ConfirmDialog)
        assert "for everyone in this room" in question.question
        assert "cannot be undone" in question.question
        await wait_for(pilot, lambda: _focused_id(mod) == "cancel", "Cancel focused")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(mod.screen, MainScreen), "back to the room")
        # The dialog was opened from the message list; focus comes back to the composer.
        await wait_for(pilot, lambda: _focused_id(mod) == "composer", "the composer focused")
        assert shows(mod, "I want it all to stop")

        # The actions menu: Cancel focused too; a stray Enter closes it, back to the composer.
        select_message(mod, "I want it all to stop")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: _focused_id(mod) == "cancel", "the menu, Cancel focused")
        assert mod.screen.query("#do-block")
        assert mod.screen.query("#do-mute")
        await pilot.press("enter")
        await wait_for(pilot, lambda: _focused_id(mod) == "composer", "the composer focused")

        # Blocking from the menu asks first, then says exactly what it does.
        select_message(mod, "I want it all to stop")
        await pilot.press("ctrl+o")
        await click(pilot, "#do-block")
        await wait_for(pilot, lambda: isinstance(mod.screen, ConfirmDialog), "the question")
        assert isinstance(mod.screen, ConfirmDialog)
        assert "Nobody is told" in mod.screen.question
        await wait_for(pilot, lambda: _focused_id(mod) == "cancel", "Cancel focused")
        await pilot.press("escape")
        await wait_for(pilot, lambda: _focused_id(mod) == "composer", "the composer focused")
        assert mod.client is not None
        assert gus_room.me not in mod.client.blocked


async def test_members_dialog_asks_before_mute_and_block(
    relay: RelayProcess, tmp_path: Path
) -> None:
    mod = make_app(relay, tmp_path / "mod", identity=Identity.generate())
    async with (
        mod.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "gus.db") as gus,
    ):
        await unlock(pilot)
        await create_room(pilot, "Evenings")
        gus_room = await gus.join(await make_invite(pilot))
        main = mod.screen
        assert isinstance(main, MainScreen)
        await wait_for(pilot, lambda: gus_room.me in main.room().members, "Gus in the room")

        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(mod.screen, MembersDialog), "the members")
        members = mod.screen.query_one("#members", ListView)
        for index, item in enumerate(members.query(ListItem)):
            if gus_room.me[:8] in str(item.query_one(Label).render()):
                members.index = index
        members.focus()
        # A sentence typed in the members list does nothing at all.
        await type_keys(pilot, SENTENCE)
        await pilot.press("enter")
        assert isinstance(mod.screen, MembersDialog)
        room = main.room()
        assert room is not None
        assert mod.client is not None
        assert gus_room.me not in room.muted
        assert gus_room.me not in mod.client.blocked

        # Mute asks; Enter on the focused Cancel keeps Gus unmuted.
        await click(pilot, "#mute")
        await wait_for(pilot, lambda: isinstance(mod.screen, ConfirmDialog), "the question")
        assert isinstance(mod.screen, ConfirmDialog)
        assert "hides what they post" in mod.screen.question
        await wait_for(pilot, lambda: _focused_id(mod) == "cancel", "Cancel focused")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(mod.screen, MembersDialog), "back")
        assert gus_room.me not in room.muted

        # Block asks too; only the named button blocks.
        await click(pilot, "#block")
        await wait_for(pilot, lambda: isinstance(mod.screen, ConfirmDialog), "the question")
        assert isinstance(mod.screen, ConfirmDialog)
        assert mod.screen.yes == f"Block {room.member(gus_room.me).display}"
        await click(pilot, "#yes")
        await wait_for(pilot, lambda: gus_room.me in mod.client.blocked, "blocked")
        await pilot.press("escape")
        await wait_for(pilot, lambda: _focused_id(mod) == "composer", "the composer focused")


async def test_tab_from_the_composer_reaches_the_messages_and_enter_opens_a_warning(
    relay: RelayProcess, tmp_path: Path
) -> None:
    """Keys alone, as in a real terminal: the composer's placeholder says Tab moves to
    the messages; a walk of docs/try-it.md found it moved to the room list, where
    Enter re-opened the room instead of opening the warned message."""
    ana = make_app(relay, tmp_path / "ana", identity=Identity.generate())
    async with (
        ana.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "ben.db") as ben,
    ):
        await unlock(pilot)
        await create_room(pilot, "Evenings")
        ben_room = await ben.join(await make_invite(pilot))
        await ben_room.send("I could not breathe on the bus", content_warning="panic")
        await wait_for(pilot, lambda: shows(ana, "Content warning: panic"), "the warning")
        assert ana.focused is composer(ana)

        await pilot.press("tab")
        assert ana.focused is not None
        assert ana.focused.id == "messages"
        await pilot.press("end")  # the newest message
        await pilot.press("enter")
        await wait_for(pilot, lambda: shows(ana, "I could not breathe on the bus"), "opened")
