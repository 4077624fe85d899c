"""Joining with an invite link (F3), however the link was copied.

A link copied with the mouse from a terminal comes over several lines (the invite
dialog wraps it, :mod:`hearth_chat.invite`), with the dialog's border around each
piece, and Textual's one-line field keeps only the first line of a paste; the
join field here takes the whole paste and puts the link back together.
"""

from __future__ import annotations

from typing import final

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Paste
from textual.widgets import Button, Input, Label

from client_sdk import Room
from hearth_chat.dialogs import Dialog, describe
from protocol import HearthError

__all__ = ["JoinDialog", "LinkInput", "clean_link"]


def clean_link(pasted: str) -> str:
    """An invite link as pasted, whole again.

    A link copied with the mouse from a terminal comes over several lines (the
    invite dialog wraps it), with spaces and the dialog's border characters
    (box drawing and block elements) around each piece. A link holds none of
    these, so they all go.
    """
    return "".join(ch for ch in pasted if not ch.isspace() and not "\u2500" <= ch <= "\u259f")


@final
class LinkInput(Input):
    """A one-line field that keeps every line of a paste (Textual keeps the first)."""

    def _on_paste(self, event: Paste) -> None:
        event.stop()
        event.prevent_default()  # Input's own handler would paste the first line again
        self.insert_text_at_cursor(clean_link(event.text))


@final
class JoinDialog(Dialog[Room | None]):
    """Join a room with an invite link someone gave you."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Join with an invite link", classes="title")
            yield LinkInput(placeholder="https://relay.example/join/…#…", id="link")
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Join", id="join", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#join")
    async def _join(self) -> None:
        invite_link = clean_link(self.query_one("#link", Input).value)
        if "#" not in invite_link:
            self.error("An invite link ends with '#' and a secret; paste all of it.")
            return
        self.error("Joining…")
        try:
            room = await self.chat.require_client().join(invite_link)
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(room)
