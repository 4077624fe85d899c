"""Two profiles talk: each is a whole app on the same relay, driven by its own pilot."""

from __future__ import annotations

from pathlib import Path

from client_sdk import Identity
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import (
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

        # Ana replies to Ben's message: select it, press r, type.
        select_message(ana, "hello from ben")
        await a.press("r")
        await say(a, "welcome, Ben")
        await wait_for(b, lambda: shows(ben, "welcome, Ben"), "Ben reads the reply")
        assert shows(ben, "replying to: hello from ben")

        # A content warning hides the text until it is opened.
        await say(b, "/cw exam stress | I failed the exam")
        await wait_for(a, lambda: shows(ana, "Content warning: exam stress"), "the warning")
        assert not shows(ana, "I failed the exam")
        select_message(ana, "Content warning: exam stress")
        await a.press("enter")
        await wait_for(a, lambda: shows(ana, "I failed the exam"), "the opened message")
