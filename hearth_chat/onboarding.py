"""First run and unlock: create an identity behind a passphrase, or restore one.

Creating shows the recovery phrase exactly once and asks the person to type its
last group back before anything is saved: a person who never confirms keeps no
identity (nothing was joined yet, so nothing is lost), and one who confirms has
provably looked at the phrase. Key derivation (Argon2id) runs in a thread so the
screen stays responsive.

The welcome and unlock screens, the first a person sees, show crisis lines
(:class:`hearth_chat.crisis.CrisisPanel`) before any sign-in and without the
relay: the lines built into the SDK at once, the relay's when fetched.
"""

from __future__ import annotations

import asyncio
from typing import final

from textual import on
from textual.app import ComposeResult
from textual.containers import Center, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from client_sdk import Identity, KeystoreError
from hearth_chat._session import session_of
from hearth_chat.crisis import CrisisPanel
from protocol import HearthError

__all__ = ["CreateScreen", "PhraseScreen", "RestoreScreen", "UnlockScreen", "WelcomeScreen"]

MIN_PASSPHRASE = 8


def _passphrase_problem(first: str, second: str) -> str | None:
    if len(first) < MIN_PASSPHRASE:
        return f"Use at least {MIN_PASSPHRASE} characters; a few words are easiest."
    if first != second:
        return "The two passphrases differ."
    return None


@final
class WelcomeScreen(Screen[None]):
    """The first screen of a new profile: create an identity or restore one."""

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card"):
            yield Label("Welcome to Hearth", classes="title")
            yield Static(
                "Hearth keeps your conversations end-to-end encrypted: the relay stores "
                "only what it cannot read. You need an identity on this device; it is "
                "protected by a passphrase and can be restored from a recovery phrase.",
                classes="prose",
            )
            with Horizontal(classes="buttons"):
                yield Button("Create a new identity", id="create", variant="primary")
                yield Button("Restore from a recovery phrase", id="restore")
            yield CrisisPanel(id="crisis-panel")

    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        self.app.push_screen(CreateScreen())

    @on(Button.Pressed, "#restore")
    def _restore(self) -> None:
        self.app.push_screen(RestoreScreen())


@final
class CreateScreen(Screen[None]):
    """Choose the passphrase that protects the new identity on this device."""

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card"):
            yield Label("Protect your identity", classes="title")
            yield Static(
                "Choose a passphrase. It unlocks Hearth on this device; it never leaves it.",
                classes="prose",
            )
            yield Input(placeholder="passphrase", password=True, id="pass1")
            yield Input(placeholder="the same passphrase again", password=True, id="pass2")
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Continue", id="continue", variant="primary")
                yield Button("Back", id="back")

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.app.pop_screen()

    @on(Input.Submitted)
    @on(Button.Pressed, "#continue")
    def _continue(self) -> None:
        first = self.query_one("#pass1", Input).value
        second = self.query_one("#pass2", Input).value
        problem = _passphrase_problem(first, second)
        if problem is not None:
            self.query_one("#error", Label).update(problem)
            return
        self.app.switch_screen(PhraseScreen(Identity.generate(), first))


@final
class PhraseScreen(Screen[None]):
    """The recovery phrase, shown once; the person types its last group back to confirm."""

    def __init__(self, identity: Identity, passphrase: str) -> None:
        super().__init__()
        self._identity = identity
        self._passphrase = passphrase

    def compose(self) -> ComposeResult:
        phrase = self._identity.recovery_phrase
        with Center(), Vertical(classes="card"):
            yield Label("Your recovery phrase", classes="title")
            yield Static(
                "Write it down on paper and keep it somewhere safe. It is shown only this "
                "once. With it you can restore your identity and rooms on a new device; "
                "anyone who has it can act as you.",
                classes="prose",
            )
            yield Static(phrase.replace("-", " "), id="phrase", classes="phrase")
            yield Label("To confirm you kept it, type its last group of four:")
            yield Input(placeholder="last group", id="confirm", max_length=4)
            yield Label("", id="error", classes="error")
            yield Button("I have kept it", id="kept", variant="primary")

    @on(Input.Submitted)
    @on(Button.Pressed, "#kept")
    async def _kept(self) -> None:
        typed = self.query_one("#confirm", Input).value.strip().upper()
        if typed != self._identity.recovery_phrase.split("-")[-1]:
            self.query_one("#error", Label).update(
                "That is not the last group. Look at the phrase again."
            )
            return
        self.query_one("#kept", Button).disabled = True
        self.query_one("#error", Label).update("Saving your identity…")
        app = session_of(self.app)
        await asyncio.to_thread(app.profile.save_identity, self._identity, self._passphrase)
        await app.start_session(self._identity)


@final
class RestoreScreen(Screen[None]):
    """Restore an identity from its recovery phrase, under a new passphrase."""

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card"):
            yield Label("Restore your identity", classes="title")
            yield Input(placeholder="recovery phrase (14 groups of 4)", id="phrase")
            yield Input(placeholder="new passphrase", password=True, id="pass1")
            yield Input(placeholder="the same passphrase again", password=True, id="pass2")
            yield Label("", id="error", classes="error")
            yield Static(
                "Your rooms come back by themselves once you are in: your devices keep a "
                "list of them on the relay, encrypted so that only you can read it.",
                id="rooms-note",
                classes="prose",
            )
            with Horizontal(classes="buttons"):
                yield Button("Restore", id="restore", variant="primary")
                yield Button("Back", id="back")

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.app.pop_screen()

    @on(Input.Submitted)
    @on(Button.Pressed, "#restore")
    async def _restore(self) -> None:
        error = self.query_one("#error", Label)
        try:
            identity = Identity.from_recovery_phrase(self.query_one("#phrase", Input).value)
        except HearthError:
            error.update("That recovery phrase is not valid (a group is mistyped or missing).")
            return
        first = self.query_one("#pass1", Input).value
        problem = _passphrase_problem(first, self.query_one("#pass2", Input).value)
        if problem is not None:
            error.update(problem)
            return
        error.update("Saving your identity…")
        app = session_of(self.app)
        await asyncio.to_thread(app.profile.save_identity, identity, first)
        await app.start_session(identity)


@final
class UnlockScreen(Screen[None]):
    """Unlock the profile's identity with its passphrase."""

    def compose(self) -> ComposeResult:
        with Center(), Vertical(classes="card"):
            yield Label("Unlock Hearth", classes="title")
            yield Input(placeholder="passphrase", password=True, id="passphrase")
            yield Label("", id="error", classes="error")
            yield Button("Unlock", id="unlock", variant="primary")
            yield CrisisPanel(id="crisis-panel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#unlock")
    async def _unlock(self) -> None:
        error = self.query_one("#error", Label)
        error.update("Unlocking…")
        app = session_of(self.app)
        passphrase = self.query_one("#passphrase", Input).value
        try:
            identity = await asyncio.to_thread(app.profile.load_identity, passphrase)
        except KeystoreError as exc:
            if exc.code == "keystore.wrong_passphrase":
                error.update("Wrong passphrase.")
            else:
                error.update(f"The keystore cannot be opened ({exc.code}).")
            return
        await app.start_session(identity)
