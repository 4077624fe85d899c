"""Two profiles talk: each is a whole app on the same relay, driven by its own pilot."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Label, ListItem, ListView, Static

from client_sdk import HearthClient, Identity
from hearth_chat.dialogs import MembersDialog
from hearth_chat.rooms import MainScreen, MessageList
from tests.chat.conftest import (
    PAGE,
    create_room,
    join,
    make_app,
    make_invite,
    message_lines,
    say,
    select_message,
    shows,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


async def test_two_apps_chat_with_reply_and_content_warning(
    relay: RelayProcess, tmp_path: Path
) -> None:
    ana, ben = (
        make_app(relay, tmp_path / "ana", identity=Identity.generate()),
        make_app(relay, tmp_path / "ben", identity=Identity.generate()),
    )
    async with ana.run_test(size=(120, 40)) as a, ben.run_test(size=(120, 40)) as b:
        await unlock(a)
        await unlock(b)
        await create_room(a, "Night owls", topic="for sleepless weeks")
        link = await make_invite(a)
        assert link.startswith(relay.url + "/join/")

        await join(b, link)
        b_main = ben.screen
        assert isinstance(b_main, MainScreen)
        await wait_for(
            b, lambda: b_main.room() is not None and b_main.room().name == "Night owls", "name"
        )

        await say(b, "hello from ben")
        await wait_for(a, lambda: shows(ana, "hello from ben"), "Ana reads Ben")
        await wait_for(b, lambda: shows(ben, "you: hello from ben"), "Ben's own copy")

        # Ana replies to Ben's message: select it, press Ctrl+R, type.
        select_message(ana, "hello from ben")
        await a.press("ctrl+r")
        await say(a, "welcome, Ben")
        await wait_for(b, lambda: shows(ben, "welcome, Ben"), "Ben reads the reply")
        assert shows(ben, "replying to: hello from ben")

        # Ben edits his message: Ctrl+E puts it in the composer; Enter sends the edit.
        select_message(ben, "you: hello from ben")
        await b.press("ctrl+e")
        await type_into(b, "#composer", " (and hi Ana)")
        await b.press("enter")
        await wait_for(a, lambda: shows(ana, "hello from ben (and hi Ana) (edited)"), "the edit")
        assert shows(ana, "replying to: hello from ben (and hi Ana)")

        # A content warning hides the text until it is opened.
        await say(b, "/cw exam stress | I failed the exam")
        await wait_for(a, lambda: shows(ana, "Content warning: exam stress"), "the warning")
        assert not shows(ana, "I failed the exam")
        select_message(ana, "Content warning: exam stress")
        await a.press("enter")
        await wait_for(a, lambda: shows(ana, "I failed the exam"), "the opened message")


async def test_safety_numbers_history_on_scroll_up_and_catch_up(
    relay: RelayProcess, tmp_path: Path
) -> None:
    ana = make_app(relay, tmp_path / "ana", identity=Identity.generate())
    async with HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "cy.db") as cy:
        async with ana.run_test(size=(120, 40)) as a:
            await unlock(a)
            await create_room(a, "Long talks")
            cy_room = await cy.join(await make_invite(a))
            for n in range(PAGE + 4):
                await cy_room.send(f"line {n:03d}")
            await wait_for(a, lambda: shows(ana, "line 011"), "the last line")

            # F5: the safety number Ana's app shows for Cy is the one Cy computes for Ana.
            await a.press("f5")
            await wait_for(a, lambda: isinstance(ana.screen, MembersDialog), "the members")
            members = ana.screen.query_one("#members", ListView)
            for index, item in enumerate(members.query(ListItem)):
                if cy_room.me[:8] in str(item.query_one(Label).render()):
                    members.index = index
            safety = ana.screen.query_one("#safety", Static)
            await wait_for(a, lambda: "Safety number" in str(safety.render()), "the number")
            shown = "".join(c for c in str(safety.render()).split(":", 1)[1] if c.isdigit())
            main = ana.screen_stack[-2]
            assert isinstance(main, MainScreen)
            room = main.room()
            assert room is not None
            assert shown == "".join(c for c in cy_room.safety_number(room.me) if c.isdigit())
            assert len(shown) == 60
            # Beside it, the room fingerprint: the log index and the digits Cy computes.
            fingerprint = str(ana.screen.query_one("#fingerprint", Static).render())
            theirs = cy_room.fingerprint()
            assert f"log entry {theirs.index}:" in fingerprint
            digits = "".join(c for c in fingerprint.split(":", 1)[1] if c.isdigit())
            assert digits == theirs.digits.replace(" ", "")
            await a.press("escape")

        # Cy goes on while Ana's app is closed: the next start catches up, counting.
        for n in range(PAGE + 4, PAGE + 8):
            await cy_room.send(f"line {n:03d}")

        # The next start shows the newest page; moving up past the top loads more.
        again = make_app(relay, tmp_path / "ana")
        async with again.run_test(size=(120, 40)) as a:
            await unlock(a)
            await wait_for(a, lambda: not again.catching_up, "the catch-up")
            assert again.caught_up >= 4  # the four messages sent while the app was closed
            await wait_for(a, lambda: shows(again, "line 015"), "the newest page")
            # The newest page, plus what arrived since (the catch-up may end after it loads).
            assert not shows(again, "line 000")
            view = again.screen.query_one("#messages", MessageList)
            view.focus()
            view.index = 1
            await a.press("up")
            await wait_for(a, lambda: shows(again, "line 000"), "older messages")
            assert len(message_lines(again)) == PAGE + 8
