"""Quick exit and the app lock: a blank, neutral screen over everything, until the passphrase.

Crisis and domestic-abuse sites offer a quick exit: one gesture that hides the
page at once, for when someone walks in. Here it is Escape pressed twice in a
row (within :data:`QUICK_EXIT_WINDOW` seconds; the key a panicking hand finds
without looking, on every keyboard, no Fn needed). It covers the app with
:class:`LockScreen`: no room names, no messages, no title, nothing that says
what the app is. The app also locks itself after an idle time
(``hearth chat --lock-after MINUTES``). Unlocking needs the identity keystore's
passphrase again, checked by opening the keystore (``Profile.load_identity``),
exactly as at start.

While locked, the session keeps running (messages arrive and are stored), but
nothing shows: notifications and security alarms wait until the person
unlocks. F1 (crisis help) still opens over the lock screen, and closes back to
it.
"""

from __future__ import annotations

from typing import ClassVar, final

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from hearth_chat._session import session_of

__all__ = ["QUICK_EXIT_WINDOW", "LockScreen"]

QUICK_EXIT_WINDOW = 0.8
"""Seconds within which a second Escape makes a quick exit."""


@final
class LockScreen(Screen[None]):
    """A blank screen with one passphrase field; it leaves only by the passphrase.

    It has no bindings of its own (Escape does nothing here); the app's F1 still
    opens crisis help over it.
    """

    BINDINGS: ClassVar[list[BindingType]] = []
    AUTO_FOCUS = "#lock-passphrase"

    def compose(self) -> ComposeResult:
        with Vertical(id="lock"):
            yield Static("", id="lock-blank")
            yield Label("", id="lock-error")
            yield Input(placeholder="passphrase", password=True, id="lock-passphrase")
            yield Static("Enter: unlock · F1: help now", id="lock-hint")

    @on(Input.Submitted, "#lock-passphrase")
    async def _unlock(self) -> None:
        field = self.query_one("#lock-passphrase", Input)
        passphrase, field.value = field.value, ""
        error = self.query_one("#lock-error", Label)
        error.update("Checking…")
        problem = await session_of(self.app).unlock(passphrase)
        if problem is not None and self.is_attached:
            error.update(problem)
