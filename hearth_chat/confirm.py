"""Asking before harm: the confirmation dialog, what each action takes away, the actions menu.

A person may be typing through tears, with focus where they did not put it. So
nothing that takes something away (delete, remove, mute, block, a role change)
happens on one key: it is reached through a modified key or the message actions
menu, and it always asks first in a :class:`ConfirmDialog` whose Cancel holds
the focus, with a question that says exactly what will happen. The questions
live here, in one place, so the members dialog and the room view say the same.

These screens stand on Textual alone (no session, no SDK call): the screens
that act import them, never the other way round.
"""

from __future__ import annotations

from typing import ClassVar, Literal, final

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from client_sdk import Role

__all__ = [
    "ConfirmDialog",
    "MessageAction",
    "MessageActionsDialog",
    "block_question",
    "delete_question",
    "mute_question",
    "remove_question",
    "role_question",
]

MessageAction = Literal["reply", "react", "edit", "report", "delete", "mute", "remove", "block"]
"""What the message actions menu can ask the room view to do."""


@final
class ConfirmDialog(ModalScreen[bool]):
    """A question before an action that cannot be taken back, with Cancel focused.

    The question says exactly what the action does; the button that does it names
    it ("Block 3fa9c2e1"). Cancel comes first and holds the focus, so a stray Enter
    or a sentence typed into the wrong place cancels; only a deliberate Tab (or a
    click) reaches the action. Escape cancels too. Dismisses with True only when
    the action's button is pressed.
    """

    AUTO_FOCUS = "#cancel"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, yes: str) -> None:
        super().__init__()
        self.question, self.yes = question, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="prose", markup=False, id="question")
            with Vertical(classes="choices"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.yes, id="yes", variant="error")

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)


def delete_question(who: str | None, quote: str) -> tuple[str, str]:
    """What deleting a message does (``who`` None: our own), and the button that does it."""
    whose = "your message" if who is None else f"{who}'s message"
    return (
        f"Delete {whose} “{quote}” for everyone in this room? The relay keeps only a "
        "signed note that it was deleted. This cannot be undone.",
        "Delete the message",
    )


def mute_question(who: str) -> tuple[str, str]:
    """What muting ``who`` does, and the button that does it."""
    return (
        f"Mute {who} in this room? Everyone's app hides what they post here from now "
        "on, and their app will not let them post, until a moderator unmutes them. "
        "They stay a member and can still read.",
        f"Mute {who}",
    )


def remove_question(who: str) -> tuple[str, str]:
    """What removing ``who`` does, and the button that does it."""
    return (
        f"Remove {who} from this room? The room moves to new keys: they cannot read "
        "anything sent from now on. They can come back only with a new invite link.",
        f"Remove {who}",
    )


def block_question(who: str) -> tuple[str, str]:
    """What blocking ``who`` does, and the button that does it."""
    return (
        f"Block {who}? Their messages and reactions stop showing on your devices, in "
        "every room. Nobody is told. You can unblock them later in Members (F5).",
        f"Block {who}",
    )


_ROLE_MEANING: dict[Role, str] = {
    "owner": "they can do everything you can",
    "moderator": "they can delete messages, mute and remove members",
    "supporter": "they take members' 1:1 support requests and read them",
    "member": "they keep no moderator or supporter powers",
}


def role_question(who: str, role: Role) -> tuple[str, str]:
    """What giving ``who`` the role ``role`` does, and the button that does it."""
    return (
        f"Make {who} a {role} of this room? From then on {_ROLE_MEANING[role]}. "
        "Every member sees the change.",
        f"Make {who} {role}",
    )


@final
class MessageActionsDialog(ModalScreen[MessageAction | None]):
    """Everything one can do with the highlighted message, as buttons (Ctrl+O).

    Offers only what this person may do with this message (their own: edit,
    delete; someone else's: report, block, and as a moderator delete, mute,
    remove). Cancel holds the focus; the actions marked "…" ask again before they
    act. Dismisses with the chosen action, or None.
    """

    AUTO_FOCUS = "#cancel"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, quote: str, *, mine: bool, moderator: bool) -> None:
        super().__init__()
        self._quote, self._mine, self._moderator = quote, mine, moderator

    def offered(self) -> list[tuple[MessageAction, str]]:
        """The actions this menu shows, with their labels, in order."""
        offer: list[tuple[MessageAction, str]] = [("reply", "Reply"), ("react", "React")]
        if self._mine:
            offer += [("edit", "Edit"), ("delete", "Delete…")]
            return offer
        offer.append(("report", "Report to moderators…"))
        if self._moderator:
            offer += [("delete", "Delete…"), ("mute", "Mute sender…"), ("remove", "Remove sender…")]
        offer.append(("block", "Block sender…"))
        return offer

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Message actions", classes="title")
            yield Static(self._quote, classes="quote", markup=False)
            with Vertical(classes="choices"):
                yield Button("Cancel", id="cancel", variant="primary")
                for action, label in self.offered():
                    yield Button(label, id=f"do-{action}", classes="action")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, ".action")
    def _chosen(self, event: Button.Pressed) -> None:
        chosen = (event.button.id or "").removeprefix("do-")
        for action, _ in self.offered():
            if action == chosen:
                self.dismiss(action)
                return
