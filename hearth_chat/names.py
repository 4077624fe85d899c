"""Names in the chat: choosing one's own per room (F10), and renames in the timeline.

A person is a different key in every room, so a name is chosen per room too
(``Room.set_name``): nothing here carries a name from one room to another, which
would tell the other members (and no one else) that the two keys are one person.
Everyone is shown by the SDK's label with the role from the verified log
(``Message.sender_display``, ``RoomMember.display``), never by what a name claims.
"""

from __future__ import annotations

from typing import final

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, Input, Label, Static

from client_sdk import MemberRenamed, Room
from hearth_chat.dialogs import Dialog, describe, room_title
from protocol import HearthError

__all__ = ["NameDialog", "rename_line"]


def rename_line(event: MemberRenamed, room: Room) -> str:
    """The timeline's line for a rename: ``"JyTASTsA is now Sam (supporter)"``."""
    who = room.member(event.member)
    if who.is_me:
        return f"You are now {event.new} in this room."
    return f"{event.old} is now {who.display}."


@final
class NameDialog(Dialog[bool]):
    """Choose the name the other members of this room see (this room only)."""

    def __init__(self, room: Room) -> None:
        super().__init__()
        self._room = room

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Your name in {room_title(self._room)}", classes="title")
            yield Static(
                "Members of this room see this name, with your role beside it. Other "
                "rooms do not: you choose a name in each room, so nobody can tell that "
                "you are the same person in two rooms. Up to 64 characters.",
                classes="prose",
            )
            yield Input(value=self._room.my_name or "", placeholder="your name", id="my-name")
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save-name", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#my-name", Input).focus()

    @on(Input.Submitted, "#my-name")
    @on(Button.Pressed, "#save-name")
    async def _save(self) -> None:
        name = self.query_one("#my-name", Input).value
        try:
            await self._room.set_name(name)
        except ValueError as exc:
            self.error(escape(f"Not saved: {exc}."))
            return
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(True)
