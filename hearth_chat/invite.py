"""The invite dialog: make a link, show all of it and the role it grants, copy it.

A person hands the link on by copying it, from the clipboard or from the
screen: so the whole link is on screen, wrapped over as many lines as it needs
(a link cut short fails as ``invite.malformed``), and the dialog says what the
link grants before it is sent anywhere.
"""

from __future__ import annotations

from typing import final

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from client_sdk import Role, Room
from hearth_chat.dialogs import Dialog, describe, room_title
from protocol import HearthError

__all__ = ["COPY_NOTE", "InviteDialog"]


COPY_NOTE = (
    "Sent to your terminal's clipboard (if your terminal allows it: Hearth cannot "
    "tell). If pasting gives nothing, select the link above with the mouse "
    "(Shift+drag in most terminals) and copy it from there."
)


@final
class InviteDialog(Dialog[None]):
    """Make an invite link for the room; show all of it, the role it grants, and copy it.

    The link is shown whole, wrapped over as many lines as it needs (a link cut
    short fails as ``invite.malformed``). Copying goes through the terminal
    (OSC 52), which gives no answer, so the dialog says so instead of claiming
    success.
    """

    def __init__(self, room: Room) -> None:
        super().__init__()
        self._room = room
        self.link: str | None = None
        """The link made last, once made."""

    def compose(self) -> ComposeResult:
        roles: list[Role] = ["member", "moderator"]
        if self._room.kind == "program":
            roles.insert(1, "supporter")
        with Vertical(classes="dialog"):
            yield Label(f"Invite to {room_title(self._room)}", classes="title")
            with RadioSet(id="role"):
                for role in roles:
                    yield RadioButton(f"as {role}", value=role == "member", id=f"role-{role}")
            # A label of its own: the placeholder hides behind the value "1".
            yield Label("How many people may join with this link:")
            yield Input(value="1", placeholder="how many people may use it", id="uses")
            yield Static("No link made yet.", id="grants", classes="prose", markup=False)
            yield Static("", id="link", classes="link", markup=False)
            yield Static(
                "Only the part after '#' is secret; it never reaches the relay. Send the "
                "whole link privately.",
                classes="prose",
            )
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Make link", id="make", variant="primary")
                yield Button("Copy link", id="copy", disabled=True)
                yield Button("Close", id="cancel")

    @on(Button.Pressed, "#make")
    async def _make(self) -> None:
        try:
            uses = max(int(self.query_one("#uses", Input).value), 1)
        except ValueError:
            self.error("How many people may use the link: a whole number.")
            return
        pressed = self.query_one("#role", RadioSet).pressed_button
        role: Role = "member"
        if pressed is not None and pressed.id in {"role-moderator", "role-supporter"}:
            role = "moderator" if pressed.id == "role-moderator" else "supporter"
        try:
            link = await self._room.create_invite(max_uses=uses, role=role)
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.link = link
        people = "1 person" if uses == 1 else f"up to {uses} people"
        article = "an" if role[0] in "aeiou" else "a"
        self.query_one("#grants", Static).update(
            f"This link lets {people} join {self._room.name or 'this room'} as {article} {role}."
        )
        self.query_one("#link", Static).update(link)
        self.query_one("#copy", Button).disabled = False
        self.error("")

    @on(Button.Pressed, "#copy")
    def _copy(self) -> None:
        if self.link is None:
            self.error("Make a link first.")
            return
        self.app.copy_to_clipboard(self.link)
        self.error(COPY_NOTE)
