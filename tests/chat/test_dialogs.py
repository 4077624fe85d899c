"""A dialog that closes itself never takes another screen with it.

A dialog closes itself after its SDK call returns; meanwhile the app may have
opened another screen over it (a security alarm, the help a supporter shared).
Textual's ``dismiss`` pops whatever is on top, so that screen vanished unseen;
the first run of ``test_risk.py`` lost the shared help this way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import ComposeResult
from textual.widgets import Button, Label

from client_sdk import Identity
from hearth_chat.crisis import CrisisScreen
from hearth_chat.dialogs import Dialog
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import click, make_app, unlock, wait_for
from tests.client_sdk.conftest import RelayProcess


class _Slow(Dialog[str]):
    """A dialog whose button waits for something, then closes (as an SDK call would)."""

    def __init__(self, answer: asyncio.Event) -> None:
        super().__init__()
        self.answer = answer
        self.closed_itself = False

    def compose(self) -> ComposeResult:
        yield Label("", id="error")
        yield Button("Go", id="go")

    async def on_button_pressed(self) -> None:
        await self.answer.wait()
        self.dismiss("done")
        self.closed_itself = True


async def test_a_dialog_closing_under_another_screen_waits_its_turn(
    relay: RelayProcess, tmp_path: Path
) -> None:
    app = make_app(relay, tmp_path / "uma", identity=Identity.generate())
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        answer, results = asyncio.Event(), []
        slow = _Slow(answer)
        app.push_screen(slow, results.append)
        await wait_for(pilot, lambda: app.screen is slow, "the dialog")
        await click(pilot, "#go")  # its handler now waits

        help_screen = CrisisScreen(app)
        app.push_screen(help_screen)  # as the app does when a supporter shares help
        await wait_for(pilot, lambda: app.screen is help_screen, "the help")
        answer.set()  # the dialog's call returns: it closes while under the help
        await wait_for(pilot, lambda: slow.closed_itself, "the dialog's handler")
        await pilot.pause()
        assert app.screen is help_screen, "the help stays on screen"

        await pilot.press("escape")  # the person closes the help themselves
        await wait_for(pilot, lambda: app.screen is main, "back to the room")
        assert slow not in app.screen_stack
        assert results == ["done"]  # the dialog closed with its result, in its turn
