"""Modal dialogs: create, rules, report, schedule, members, alarms, reports (join: join.py).

Each dialog does its own SDK call and shows the SDK's error (its message and its
stable code) in place instead of closing, so a person always sees why something
did not happen. Dialogs close with Escape.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, TypeVar, final

from textual import on, work
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    Label,
    ListItem,
    ListView,
    RadioButton,
    RadioSet,
    Static,
    TextArea,
)

from client_sdk import MemberId, Message, ReportReceived, Role, Room, SecurityAlarm
from hearth_chat._session import ChatSession, session_of
from hearth_chat.confirm import (
    ConfirmDialog,
    block_question,
    mute_question,
    remove_question,
    role_question,
)
from hearth_chat.texts import ALARM_TEXT, format_room_fingerprint, format_safety_number, short_id
from protocol import HearthError

__all__ = [
    "AlarmDialog",
    "ConfirmDialog",
    "CreateRoomDialog",
    "Dialog",
    "MembersDialog",
    "ReactDialog",
    "ReportDialog",
    "ReportsDialog",
    "RulesDialog",
    "ScheduleDialog",
    "describe",
    "room_title",
]


_T = TypeVar("_T")


def describe(exc: HearthError) -> str:
    """An SDK error as a person reads it: what went wrong, with its stable code."""
    return escape(f"{exc} ({exc.code})")


def room_title(room: Room) -> str:
    """The room's name, escaped for markup (room names come from other people)."""
    return escape(room.name) if room.name else "this room"


class Dialog(ModalScreen[_T]):
    """A modal dialog that closes with Escape and shows errors in its ``#error`` label.

    A dialog that closes itself after an SDK call may find another screen opened
    over it meanwhile (a security alarm, help a supporter shared). Textual's
    ``dismiss`` pops whatever screen is on top, so that screen would vanish unseen;
    here the dialog waits until it is on top again and only then closes.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    _close_with: tuple[_T | None] | None = None
    """The result to close with once this dialog is on top again."""

    def action_close(self) -> None:
        self.dismiss(None)

    def dismiss(self, result: _T | None = None) -> AwaitComplete:
        """Close with ``result``: now if this dialog is on top, else once it is again."""
        if self.app.screen is self:
            return super().dismiss(result)
        self._close_with = (result,)
        return AwaitComplete()

    def on_screen_resume(self) -> None:
        if self._close_with is not None:
            (result,), self._close_with = self._close_with, None
            super().dismiss(result)

    @property
    def chat(self) -> ChatSession:
        """The session of the app this dialog is shown in."""
        return session_of(self.app)

    def error(self, text: str) -> None:
        """Show ``text`` (markup) in the dialog's message line."""
        self.query_one("#error", Label).update(text)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_close()


@final
class CreateRoomDialog(Dialog[Room | None]):
    """Create a support group, a buddy chat or a program."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("New room", classes="title")
            with RadioSet(id="kind"):
                yield RadioButton("Support group", value=True, id="group")
                yield RadioButton("Buddy chat (two people)", id="buddy")
                yield RadioButton("Program (peer supporters)", id="program")
            yield Input(placeholder="name", id="name")
            yield Input(placeholder="topic (optional)", id="topic")
            yield Label("Ground rules (optional; members accept them before posting):")
            yield TextArea(id="rules")
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#create")
    async def _create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.error("Give the room a name (only members will ever see it).")
            return
        topic = self.query_one("#topic", Input).value.strip()
        rules = self.query_one("#rules", TextArea).text.strip() or None
        pressed = self.query_one("#kind", RadioSet).pressed_button
        kind = pressed.id if pressed is not None else "group"
        client = self.chat.require_client()
        self.error("Creating…")
        try:
            if kind == "buddy":
                room = await client.create_buddy_chat(name, topic=topic, rules=rules)
            elif kind == "program":
                room = await client.create_program(name, topic=topic, rules=rules)
            else:
                room = await client.create_group(name, topic=topic, rules=rules)
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(room)


@final
class RulesDialog(Dialog[bool]):
    """The room's ground rules; posting waits until the person accepts them.

    Accepting is explicit: the "Accept rules" button, which holds the focus, so
    Enter on it accepts (and the message that was waiting goes out). Escape or
    "Not now" closes without accepting and the draft stays in the composer.
    """

    def __init__(self, room: Room) -> None:
        super().__init__()
        self._room = room

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Ground rules of {room_title(self._room)}", classes="title")
            with VerticalScroll(classes="rules-text"):
                yield Static(self._room.rules or "This room has no ground rules yet.", markup=False)
            accepted = self._room.rules_accepted
            yield Label(
                "You accepted these rules."
                if accepted
                else "Please read them. You can post once you accept them; what you "
                "wrote waits in the composer.",
                id="error",
            )
            with Horizontal(classes="buttons"):
                if not accepted:
                    yield Button("Accept rules", id="accept", variant="primary")
                yield Button("Not now" if not accepted else "Close", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel" if self._room.rules_accepted else "#accept", Button).focus()

    def action_close(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#accept")
    async def _accept(self) -> None:
        try:
            await self._room.accept_rules()
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(True)


REACTIONS = ("💛", "🙏", "🤗", "👍", "😢", "💪")


@final
class ReactDialog(Dialog[str | None]):
    """Pick a reaction; picking one you already gave takes it back."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("React", classes="title")
            with Horizontal(classes="buttons"):
                for index, emoji in enumerate(REACTIONS):
                    yield Button(emoji, id=f"emoji-{index}")
            yield Button("Cancel", id="cancel")

    @on(Button.Pressed, ".buttons Button")
    def _picked(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("emoji-"):
            self.dismiss(REACTIONS[int(event.button.id.removeprefix("emoji-"))])


@final
class ReportDialog(Dialog[bool]):
    """Report a message to the room's moderators (sealed to them; nobody else reads it)."""

    def __init__(self, room: Room, message: Message) -> None:
        super().__init__()
        self._room, self._message = room, message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Report this message", classes="title")
            yield Static(f"“{self._message.text[:300]}”", classes="quote", markup=False)
            yield Static(
                "Your report and the signed message go only to this room's moderators, "
                "owners and supporters. Other members can see that a report was sent, "
                "not what it says.",
                classes="prose",
            )
            yield Input(placeholder="why (optional)", id="reason")
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Send report", id="send", variant="warning")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#send")
    async def _send(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        try:
            await self._room.report(self._message.id, reason)
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(True)


@final
class ScheduleDialog(Dialog[None]):
    """The room's recurring meetings, and an iCalendar export for calendar apps."""

    def __init__(self, room: Room) -> None:
        super().__init__()
        self._room = room

    def compose(self) -> ComposeResult:
        schedule = self._room.schedule
        with Vertical(classes="dialog"):
            yield Label(f"Meetings of {room_title(self._room)}", classes="title")
            if schedule is None or not schedule.active:
                yield Static("This room has no meeting schedule.", classes="prose")
            else:
                yield Static(
                    f"{escape(schedule.title)}: {schedule.frequency}, {schedule.duration_minutes} "
                    f"minutes ({schedule.timezone})",
                    classes="prose",
                )
                lines = [
                    f"• {m.start:%a %d %b %Y, %H:%M} to {m.end:%H:%M}"
                    for m in self._room.next_meetings(5)
                ]
                yield Static("\n".join(lines) or "No upcoming meetings.", id="meetings")
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                if schedule is not None and schedule.active:
                    yield Button("Export to calendar (.ics)", id="export", variant="primary")
                yield Button("Close", id="cancel")

    @on(Button.Pressed, "#export")
    async def _export(self) -> None:
        try:
            text = self._room.export_ical()
        except HearthError as exc:
            self.error(describe(exc))
            return
        path = self.chat.profile.export_path(self._room.name or str(self._room.id), ".ics")
        await asyncio.to_thread(path.write_text, text, "utf-8", None, "")
        self.error(f"Saved to {path}")


@final
class _MemberItem(ListItem):
    def __init__(self, member: MemberId, label: str) -> None:
        super().__init__(Label(label, markup=False))
        self.member = member


@final
class MembersDialog(Dialog[None]):
    """Members and roles from the verified log; safety numbers, the room fingerprint; moderation.

    Every action is a button, never a letter key (a sentence typed here does
    nothing), and each one that takes something away (block, mute, remove, a role
    change) asks first with Cancel focused. Unblocking and unmuting give back, so
    they act at once.
    """

    def __init__(self, room: Room) -> None:
        super().__init__()
        self._room = room

    def _label(self, member: MemberId, role: Role) -> str:
        marks = []
        if member in self._room.muted:
            marks.append("muted")
        if member in self.chat.require_client().blocked:
            marks.append("blocked by you")
        suffix = f" ({', '.join(marks)})" if marks else ""
        # The name the member chose (told apart from look-alikes), the log's role.
        return f"{self._room.member(member).display}{suffix}"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Members of {room_title(self._room)}", classes="title")
            yield ListView(
                *(_MemberItem(m, self._label(m, r)) for m, r in self._room.members.items()),
                id="members",
            )
            yield Static(
                format_room_fingerprint(self._room.fingerprint())
                + "\nAnother member who sees the same entry and digits sees the same room.",
                id="fingerprint",
                classes="prose",
            )
            yield Static(
                "Pick a member to see your safety number with them. Compare it in person "
                "or by phone: if both of you see the same digits, nobody is in the middle. "
                "Block hides them from you only. Every button asks before it acts.",
                id="safety",
                classes="prose",
            )
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Block / unblock…", id="block")
                if self._can_moderate():
                    yield Button("Mute / unmute…", id="mute")
                    yield Button("Remove…", id="remove", variant="error")
            if self._can_moderate():
                with Horizontal(classes="buttons"):
                    yield Button("Make moderator…", id="role-moderator", classes="role")
                    if self._room.kind == "program":
                        yield Button("Make supporter…", id="role-supporter", classes="role")
                    yield Button("Make member…", id="role-member", classes="role")
            yield Button("Close", id="cancel")

    def _selected(self) -> MemberId | None:
        item = self.query_one("#members", ListView).highlighted_child
        return item.member if isinstance(item, _MemberItem) else None

    def _relabel(self, member: MemberId, role: Role) -> None:
        for item in self.query("#members _MemberItem").results(_MemberItem):
            if item.member == member:
                item.query_one(Label).update(self._label(member, role))

    @on(ListView.Highlighted, "#members")
    def _show_number(self) -> None:
        member = self._selected()
        if member is None:
            return
        safety = self.query_one("#safety", Static)
        if member == self._room.me:
            safety.update("This is you. Pick someone else to compare safety numbers.")
            return
        digits = format_safety_number(self._room.safety_number(member))
        safety.update(f"Safety number with {self._room.member(member).display}:\n{digits}")

    def _can_moderate(self) -> bool:
        return self._room.role in {"owner", "moderator"}

    def _other(self) -> MemberId | None:
        """The highlighted member, unless it is nobody or ourselves (then say so)."""
        member = self._selected()
        if member is None or member == self._room.me:
            self.error("Pick someone else first.")
            return None
        return member

    async def _confirm(self, question: tuple[str, str]) -> bool:
        confirmed: bool = await self.app.push_screen_wait(ConfirmDialog(*question))
        return confirmed

    @on(Button.Pressed, "#mute")
    @work(exclusive=True, group="members")
    async def _mute(self) -> None:
        member = self._other()
        if member is None:
            return
        who = self._room.member(member).display
        try:
            if member in self._room.muted:
                await self._room.unmute(member)
                self.error(f"Unmuted {who}.")
            elif await self._confirm(mute_question(who)):
                await self._room.mute(member)
                self.error(f"Muted {who}: everyone's app hides their posts.")
        except HearthError as exc:
            self.error(describe(exc))

    @on(Button.Pressed, "#block")
    @work(exclusive=True, group="members")
    async def _block(self) -> None:
        member = self._other()
        if member is None:
            return
        client, who = self.chat.require_client(), self._room.member(member).display
        try:
            if member in client.blocked:
                await client.unblock(member)
                self.error(f"Unblocked {who}: their messages show again.")
            elif await self._confirm(block_question(who)):
                await client.block(member)
                self.error(f"Blocked {who}: nobody is told.")
            else:
                return
        except HearthError as exc:
            self.error(describe(exc))
            return
        self._relabel(member, self._room.members[member])

    @on(Button.Pressed, ".role")
    @work(exclusive=True, group="members")
    async def _role(self, event: Button.Pressed) -> None:
        role: Role = "member"
        if event.button.id in {"role-moderator", "role-supporter"}:
            role = "moderator" if event.button.id == "role-moderator" else "supporter"
        member = self._other()
        if member is None:
            return
        who = self._room.member(member).display
        if not await self._confirm(role_question(who, role)):
            return
        try:
            await self._room.set_role(member, role)
        except HearthError as exc:
            self.error(describe(exc))
            return
        self._relabel(member, role)
        self.error(f"{who} is now {role}.")

    @on(Button.Pressed, "#remove")
    @work(exclusive=True, group="members")
    async def _remove(self) -> None:
        member = self._other()
        if member is None or not await self._confirm(
            remove_question(self._room.member(member).display)
        ):
            return
        try:
            await self._room.remove(member)
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(None)


@final
class AlarmDialog(Dialog[None]):
    """A security alarm, plainly: what happened, what it means, what to do."""

    def __init__(self, room: Room, alarm: SecurityAlarm) -> None:
        super().__init__()
        self._room, self._alarm = room, alarm

    def compose(self) -> ComposeResult:
        title, meaning = ALARM_TEXT.get(self._alarm.kind, ("Security alarm", ""))
        with Vertical(classes="dialog alarm"):
            yield Label(f"⚠ Security alarm in {room_title(self._room)}", classes="title")
            yield Label(title, classes="alarm-title")
            yield Static(meaning, classes="prose")
            yield Static(f"Technical detail: {self._alarm.detail}", classes="detail", markup=False)
            yield Static(
                "Until you acknowledge it, this room will not send anything.", classes="prose"
            )
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("I understand", id="ack", variant="warning")
                yield Button("Later", id="cancel")

    @on(Button.Pressed, "#ack")
    async def _ack(self) -> None:
        try:
            await self._room.acknowledge_alarms([self._alarm.alarm_id])
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(None)


@final
class ReportsDialog(Dialog[None]):
    """Reports sent to this person as a moderator, owner or supporter (this session)."""

    def __init__(self, reports: list[tuple[str, ReportReceived]]) -> None:
        super().__init__()
        self._reports = reports

    def _shown(self, report: ReportReceived, member: MemberId) -> str:
        """A member as the room shows them now: name (or short key) and role."""
        client = self.chat.client
        if client is None:
            return short_id(member)
        try:
            return client.room(report.room_id).member(member).display
        except KeyError:
            return short_id(member)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Reports to you", classes="title")
            if not self._reports:
                yield Static("No reports reached you in this session.", classes="prose")
            with VerticalScroll(id="reports"):
                for room_name, report in reversed(self._reports):
                    text = report.text if report.text is not None else "(no longer readable)"
                    reporter, sender = (
                        self._shown(report, report.reporter),
                        self._shown(report, report.sender),
                    )
                    yield Static(
                        f"[b]{escape(room_name)}[/b]: {escape(reporter)} reported "
                        f"a message by {escape(sender)}\n“{escape(text)}”\n"
                        f"Reason: {escape(report.reason) or '(none given)'}",
                        classes="report",
                    )
            yield Static(
                "Open the room, select the message and press Ctrl+O to delete it or mute its "
                "sender, or "
                "use Members (F5) to remove someone. Reports are kept only while the app runs.",
                classes="prose",
            )
            yield Button("Close", id="cancel")
