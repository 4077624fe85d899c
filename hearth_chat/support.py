"""A program room's 1:1 support: ask and see your place, or (supporters) take requests.

Everything shown comes from the SDK's verified program state: the queue every
member computes in the same room order, the supporters' published availability.
A member sees that others asked, never what; the request's text is shown only
to supporters (the SDK gives everyone else ``None``). The dialog redraws itself
from that state whenever a support event arrives (a supporter going available
or away changes the count at once), keeping what the person was typing.

A program's owners and moderators also find its risk plan here
(:class:`hearth_chat.risk.RiskPlanDialog`). A supporter who is away, or at their
cap, and tries to claim is told what to do first (switch on availability and
save, or raise the cap), not shown a code.

When no supporter is available, a member is told so plainly, before asking and
while waiting, with the first crisis line listed for their region
(:func:`hearth_chat.crisis.first_line`) and F1 for more: a place in a queue that
nobody serves is not help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import final

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, Input, Label, ListItem, ListView, Static, Switch

from client_sdk import MessageId, Room, SupporterInfo, SupportRequest
from hearth_chat.crisis import first_line, saved_directory
from hearth_chat.dialogs import Dialog, describe, room_title
from hearth_chat.risk import RiskPlanDialog
from hearth_chat.texts import short_id
from protocol import HearthError

__all__ = [
    "AT_CAPACITY",
    "AWAY",
    "SupportDialog",
    "help_meanwhile",
    "nobody_available",
    "queue_note",
]

AWAY = (
    "You are set as away, so you cannot take a request yet. Switch on "
    "“I take 1:1 chats now”, press Save, then claim."
)
AT_CAPACITY = (
    "You already carry as many open 1:1 chats as your cap. Raise “max open chats” "
    "and press Save, or close a chat first."
)


def nobody_available(room: Room) -> bool:
    """True if no supporter of the program says they take 1:1 chats now."""
    return not any(s.available for s in room.supporters)


def help_meanwhile(help_now: str) -> str:
    """What to do while no supporter is available: a listed line, and F1."""
    return (
        f"No supporter is available right now. If you need someone now: {help_now}, "
        "or F1 for more people you can talk to."
    )


def queue_note(room: Room, help_now: Callable[[], str]) -> str | None:
    """One line for the room banner: our place in the queue, or the queue a supporter sees.

    ``help_now`` names the first crisis line for the person's region; it is asked
    for only when no supporter is available.
    """
    if room.kind != "program":
        return None
    if room.role == "supporter":
        waiting = len(room.support_queue)
        return f"Support queue: {waiting} waiting (F9)." if waiting else None
    for request in room.support_requests:
        if request.mine and request.status in {"waiting", "sending"}:
            if request.position is None:
                note = "You asked for 1:1 support; your request is on its way."
            else:
                note = f"You asked for 1:1 support: you are number {request.position} in the queue."
            if nobody_available(room):
                note += " " + help_meanwhile(help_now())
            return note
    return None


@final
class _RequestItem(ListItem):
    def __init__(self, request: SupportRequest) -> None:
        text = request.text if request.text is not None else "(only supporters read this)"
        super().__init__(
            Label(f"{request.position}. {short_id(request.requester)}: {text}", markup=False)
        )
        self.request_id: MessageId = request.id


@final
class SupportDialog(Dialog[Room | None]):
    """Ask for support (members) or set availability and claim (supporters).

    Closes with the buddy chat a claim opened, so the main screen can open it.
    """

    def __init__(self, room: Room) -> None:
        super().__init__()
        self._room = room
        self._mine: MessageId | None = None  # our waiting request, if any

    def compose(self) -> ComposeResult:
        room = self._room
        supporters = room.supporters
        on_duty = [s for s in supporters if s.available]
        with Vertical(classes="dialog"):
            yield Label(f"1:1 support in {room_title(room)}", classes="title")
            yield Static(
                f"{len(on_duty)} of {len(supporters)} supporters are available now.",
                id="on-duty",
                classes="prose",
            )
            if not on_duty and room.role != "supporter":
                yield Static(
                    escape(
                        help_meanwhile(first_line(saved_directory(self.chat), self.chat.region))
                    ),
                    id="meanwhile",
                    classes="prose emergency",
                )
            if room.role == "supporter":
                yield from self._supporter_view()
            else:
                yield from self._member_view()
            if room.role in {"owner", "moderator"}:
                plan = "published" if room.risk_plan is not None else "none yet"
                yield Button(f"Risk plan ({plan})…", id="risk-plan")
            yield Label("", id="error", classes="error")
            yield Button("Close", id="cancel")

    def _member_view(self) -> ComposeResult:
        mine = [
            r for r in self._room.support_requests if r.mine and r.status in {"waiting", "sending"}
        ]
        if mine:
            request = mine[-1]
            place = (
                f"You are number {request.position} in the queue."
                if request.position is not None
                else "Your request is on its way to the relay."
            )
            later = (
                "You keep your place: when a supporter is available, they will open a "
                "private chat with you."
                if nobody_available(self._room)
                else "A supporter will open a private chat with you."
            )
            yield Static(
                f"{place} {later} You can close this and keep using Hearth meanwhile.",
                id="place",
                classes="prose",
            )
            yield Button("Withdraw my request", id="withdraw", variant="warning")
            self._mine = request.id
            return
        self._mine = None
        yield Static(
            "Ask for a private 1:1 chat with a trained peer supporter. Only the "
            "supporters read what you write here; other members see only that someone asked.",
            classes="prose",
        )
        yield Input(placeholder="what you would like to talk about", id="request-text")
        yield Button("Ask for 1:1 support", id="ask", variant="primary")

    def _supporter_view(self) -> ComposeResult:
        me = self._my_status()
        available = me.available if me is not None else False
        cap = me.max_open if me is not None and me.max_open is not None else ""
        with Horizontal(classes="availability"):
            yield Label("I take 1:1 chats now")
            yield Switch(value=available, id="available")
            yield Input(value=str(cap), placeholder="max open chats", id="max-open")
            yield Button("Save", id="save-availability")
        yield Static(
            f"You have {self._room.open_support_chats} open support chats.", classes="prose"
        )
        queue = self._room.support_queue
        yield Label(f"Waiting: {len(queue)}" if queue else "Nobody is waiting.")
        yield ListView(*(_RequestItem(r) for r in queue), id="queue")
        yield Button("Claim the selected request", id="claim", variant="primary")

    async def redraw(self) -> None:
        """Show the program's current state (the app calls this on support events).

        What the person typed but did not send or save stays in its field, and the
        field they were typing in keeps the focus.
        """
        typed = {field.id: field.value for field in self.query(Input) if field.id}
        focused = self.focused.id if self.focused is not None else None
        await self.recompose()
        for field in self.query(Input):
            if field.id in typed:
                field.value = typed[field.id]
                field.cursor_position = len(field.value)
            if field.id is not None and field.id == focused:
                field.focus()

    def _my_status(self) -> SupporterInfo | None:
        return next((s for s in self._room.supporters if s.member == self._room.me), None)

    @on(Input.Submitted, "#request-text")
    @on(Button.Pressed, "#ask")
    async def _ask(self) -> None:
        text = self.query_one("#request-text", Input).value.strip()
        if not text:
            self.error("Write a few words, so a supporter knows what you would like to talk about.")
            return
        try:
            await self._room.request_support(text)
        except HearthError as exc:
            self.error(describe(exc))
            return
        await self.redraw()

    @on(Button.Pressed, "#withdraw")
    async def _withdraw(self) -> None:
        if self._mine is None:
            return
        try:
            await self._room.withdraw_request(self._mine)
        except HearthError as exc:
            self.error(describe(exc))
            return
        await self.redraw()

    @on(Button.Pressed, "#save-availability")
    async def _save(self) -> None:
        available = self.query_one("#available", Switch).value
        raw = self.query_one("#max-open", Input).value.strip()
        try:
            cap = int(raw) if raw else None
        except ValueError:
            self.error("Max open chats: a whole number, or empty for no cap.")
            return
        try:
            await self._room.set_availability(available, max_open=cap)
        except HearthError as exc:
            self.error(describe(exc))
            return
        # Our own status is in the program state from the moment it is sent, so its
        # echo from the relay changes nothing and raises no event: redraw now.
        await self.redraw()
        self.error(escape("Saved: you are " + ("available." if available else "away.")))

    @on(Button.Pressed, "#risk-plan")
    def _risk_plan(self) -> None:
        async def done(published: bool | None) -> None:
            if published:
                await self.redraw()
                self.error("Published: supporters and moderators read the new plan.")

        self.app.push_screen(RiskPlanDialog(self._room), done)

    @on(Button.Pressed, "#claim")
    async def _claim(self) -> None:
        item = self.query_one("#queue", ListView).highlighted_child
        if not isinstance(item, _RequestItem):
            self.error("Pick a request first.")
            return
        me = self._my_status()
        if me is None or not me.available:
            self.error(AWAY)
            return
        self.error("Opening a private chat…")
        try:
            buddy = await self._room.claim(item.request_id)
        except HearthError as exc:
            if exc.code == "support.away":
                self.error(AWAY)
            elif exc.code == "support.at_capacity":
                self.error(AT_CAPACITY)
            else:
                self.error(describe(exc))
            return
        self.dismiss(buddy)
