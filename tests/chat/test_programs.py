"""A program room: a member asks for 1:1 support and sees their place; a supporter claims."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import ListView, Static

from client_sdk import HearthClient, Identity
from hearth_chat.rooms import MainScreen
from hearth_chat.support import SupportDialog
from tests.chat.conftest import (
    click,
    join,
    make_app,
    say,
    shows,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


def _text(app_screen: object) -> str:
    assert isinstance(app_screen, SupportDialog)
    return " ".join(str(s.render()) for s in app_screen.query(Static))


async def test_ask_for_support_see_the_queue_and_get_claimed(
    relay: RelayProcess, tmp_path: Path
) -> None:
    async with HearthClient(
        relay.url, Identity.generate(), store_path=tmp_path / "owner.db"
    ) as owner:
        program = await owner.create_program("Peer line", topic="trained peers, 7pm to 11pm")
        supporter_link = await program.create_invite(role="supporter")
        member_link = await program.create_invite()
        sam, mia = (
            make_app(relay, tmp_path / "sam", identity=Identity.generate()),
            make_app(relay, tmp_path / "mia", identity=Identity.generate()),
        )
        async with sam.run_test(size=(120, 40)) as s, mia.run_test(size=(120, 40)) as m:
            await unlock(s)
            await unlock(m)
            await join(s, supporter_link)
            await join(m, member_link)

            # The supporter goes on duty.
            await s.press("f9")
            await wait_for(s, lambda: isinstance(sam.screen, SupportDialog), "support dialog")
            await click(s, "#available")
            await type_into(s, "#max-open", "2")
            await click(s, "#save-availability")
            await wait_for(s, lambda: "Saved" in str(sam.screen.query_one("#error").render()), "")

            # The member asks and sees their place in the queue.
            await m.press("f9")
            await wait_for(m, lambda: isinstance(mia.screen, SupportDialog), "support dialog")
            await wait_for(m, lambda: "1 of 1 supporters" in _text(mia.screen), "on duty")
            await type_into(m, "#request-text", "panicky tonight, would like to talk")
            await click(m, "#ask")
            await wait_for(m, lambda: "number 1 in the queue" in _text(mia.screen), "place")
            await m.press("escape")
            main = mia.screen
            assert isinstance(main, MainScreen)
            banner = main.query_one("#room-banner", Static)
            assert "number 1 in the queue" in str(banner.render())

            # The supporter's dialog shows the request (supporters read it) and claims it.
            dialog = sam.screen
            await wait_for(s, lambda: dialog.query("#queue ListItem"), "the request")
            assert "panicky tonight" in str(dialog.query_one("#queue ListItem Label").render())
            dialog.query_one("#queue", ListView).index = 0
            await click(s, "#claim")
            await wait_for(
                s,
                lambda: (
                    isinstance(sam.screen, MainScreen)
                    and sam.screen.room() is not None
                    and sam.screen.room().kind == "buddy"
                ),
                "the supporter's buddy chat",
            )

            # The member's app opens the same chat by itself; they talk.
            await wait_for(
                m,
                lambda: main.room() is not None and main.room().kind == "buddy",
                "the member's buddy chat",
            )
            assert main.room() is not None
            assert sam.screen.room() is not None
            assert main.room().id == sam.screen.room().id
            await say(s, "Hi, I'm Sam. I'm here.")
            await wait_for(m, lambda: shows(mia, "Hi, I'm Sam"), "the supporter's hello")
