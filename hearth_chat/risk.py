"""A program's risk path: the supporter's "imminent risk" action, and the plan behind it.

A supporter who believes the person in a buddy chat is at imminent risk presses
F9 in that chat (it is only offered in a chat this device opened by claiming a
request). :class:`RiskDialog` says what will happen before anything does: the
program's help lines go to both of them in this chat, and an alert with the
supporter's note goes to the program's moderators alone. Cancel holds the focus
and Enter in the note does nothing, so a stray key raises nothing.

Both buddies' apps then open the crisis screen with the program's lines first
and this device's own lines beside them (:class:`hearth_chat.crisis.SharedHelp`),
and a line in the chat's timeline keeps what was shared. The program's
moderators see the alert as a notice in the program room and a notification.

A moderator or owner writes the plan (:class:`RiskPlanDialog`, from F9 in the
program room): the words for that moment and the help lines, one per line as
``name | phone or web address | regions``.
"""

from __future__ import annotations

from typing import ClassVar, Final, final

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Button, Input, Label, Static, TextArea

from client_sdk import CrisisResource, HearthClient, Room, SupportRequest
from hearth_chat.dialogs import Dialog, describe, room_title
from protocol import HearthError

__all__ = [
    "RiskDialog",
    "RiskPlanDialog",
    "claimed_request",
    "format_plan_lines",
    "parse_plan_lines",
    "raise_alert",
]

MAX_PLAN_LINES: Final = 50
"""The protocol's cap on a plan's help lines (``support.bad_plan`` beyond it)."""


def claimed_request(client: HearthClient, chat: Room) -> tuple[Room, SupportRequest] | None:
    """The program and the request whose claim by this device opened ``chat``, if any.

    Only then may this device raise a risk alert from the chat (the SDK refuses
    it elsewhere with ``support.not_buddy_chat``).
    """
    if chat.kind != "buddy":
        return None
    for program in client.rooms:
        if program.kind != "program":
            continue
        for request in program.support_requests:
            if request.buddy_room_id == chat.id and request.supporter == program.me:
                return program, request
    return None


def _contact(raw: str) -> dict[str, str]:
    raw = raw.strip()
    if not raw:
        return {}
    return {"url": raw} if raw.startswith(("http://", "https://")) else {"phone": raw}


def parse_plan_lines(text: str) -> list[CrisisResource]:
    """Help lines as a moderator types them: ``name | phone or https://… | GB, IE``.

    Empty lines are skipped; no regions means everywhere.

    Raises:
        ValueError: A line has no name, more than three parts, a bad region code,
            or there are more than :data:`MAX_PLAN_LINES` lines; the message says
            which line.
    """
    lines: list[CrisisResource] = []
    for number, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        parts = [part.strip() for part in row.split("|")]
        if len(parts) > 3 or not parts[0]:
            raise ValueError(f"line {number}: write it as “name | phone or web address | regions”")
        name, contact, regions = (*parts, "", "")[:3]
        codes = [c.strip().upper() for c in regions.replace(";", ",").split(",") if c.strip()]
        for code in codes:
            if len(code) != 2 or not code.isascii() or not code.isalpha():
                raise ValueError(f"line {number}: “{code}” is not a two-letter region code")
        lines.append(CrisisResource(name=name, regions=codes or ["*"], **_contact(contact)))
    if len(lines) > MAX_PLAN_LINES:
        raise ValueError(f"a plan holds at most {MAX_PLAN_LINES} lines")
    return lines


def format_plan_lines(lines: tuple[CrisisResource, ...] | list[CrisisResource]) -> str:
    """The inverse of :func:`parse_plan_lines`, to edit a published plan."""
    rows = []
    for line in lines:
        contact = line.phone or line.url or line.sms or ""
        regions = "" if "*" in line.regions else ", ".join(r.upper() for r in line.regions)
        rows.append(" | ".join(part for part in (line.name, contact, regions) if part))
    return "\n".join(rows)


@final
class RiskDialog(Dialog[str | None]):
    """The supporter's action on a fear of imminent risk, said in full before it happens.

    Closes with the supporter's note (maybe empty) once they confirm, None if not;
    :func:`raise_alert` then acts.
    """

    AUTO_FOCUS = "#cancel"

    def __init__(self, chat: Room, program: Room, request: SupportRequest) -> None:
        super().__init__()
        self._chat, self._program, self._request = chat, program, request

    def compose(self) -> ComposeResult:
        program, person = self._program, self._program.member(self._request.requester)
        plan = program.risk_plan
        moderators = len(
            [m for m in program.members_info if m.role in {"owner", "moderator"} and not m.is_me]
        )
        shown = (
            f"{room_title(program)}'s help lines and its words for this moment"
            if plan is not None
            else "help lines (the program has published no plan, so each of you sees "
            "the lines built into your own app)"
        )
        with Vertical(classes="dialog"):
            yield Label("Imminent risk", classes="title")
            yield Static(
                f"Do you believe {escape(person.display)} is at imminent risk? This shows "
                f"{shown} to both of you in this chat now, and sends an alert with your "
                f"note to the program's moderators ({moderators}). Only they can read the "
                "alert; the relay cannot.",
                classes="prose",
            )
            yield Input(
                placeholder="your note for the moderators (what makes you fear for them)",
                id="note",
            )
            yield Label("", id="error", classes="error")
            with Vertical(classes="choices"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Show help and alert the moderators", id="raise", variant="error")

    @on(Input.Submitted, "#note")
    def _no_enter(self, event: Input.Submitted) -> None:
        # Enter in the note raises nothing: only the button does.
        event.stop()
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#raise")
    def _raise(self) -> None:
        # Closed first, then raised by the main screen: the help arrives while the
        # alert is being sent and opens on top, where this dialog must not be.
        self.dismiss(self.query_one("#note", Input).value.strip())


async def raise_alert(chat: Room, note: str) -> tuple[str, bool]:
    """Raise the alert a :class:`RiskDialog` confirmed; what to tell the supporter, and
    whether it is an error."""
    try:
        alert = await chat.raise_risk_alert(note)
    except HearthError as exc:
        if exc.code == "support.no_moderators":
            return (
                "The help lines are shown to both of you, but this program has no "
                "moderator to alert. Stay with them, and call the emergency number if "
                "their life is in danger now.",
                True,
            )
        return f"The alert did not go out: {exc} ({exc.code}). Stay with them.", True
    alerted = len(alert.moderators)
    return (
        f"The help is shown to both of you; {alerted} moderator"
        f"{'' if alerted == 1 else 's'} alerted. Stay with them in this chat.",
        False,
    )


@final
class RiskPlanDialog(Dialog[bool | None]):
    """A moderator or owner writes the program's path for a member at imminent risk."""

    AUTO_FOCUS = "#plan-text"
    LINES_HELP: ClassVar[str] = (
        "Help lines, one per line: name | phone or web address | regions "
        "(two-letter codes, comma-separated; none: everywhere)"
    )

    def __init__(self, program: Room) -> None:
        super().__init__()
        self._program = program

    def compose(self) -> ComposeResult:
        plan = self._program.risk_plan
        with Vertical(classes="dialog"):
            yield Label(f"Risk plan of {room_title(self._program)}", classes="title")
            yield Static(
                "When a supporter fears someone is at imminent risk, both of them see these "
                "words and lines, beside the lines of the person's own app, and you "
                "moderators get an alert. Encrypted: only members read it.",
                classes="prose",
            )
            yield Label("What supporters do, and what the person can do")
            yield TextArea(plan.text if plan else "", id="plan-text")
            yield Label(self.LINES_HELP)
            yield TextArea(format_plan_lines(plan.lines) if plan else "", id="plan-lines")
            yield Label("", id="error", classes="error")
            with Vertical(classes="choices"):
                yield Button("Cancel", id="cancel")
                yield Button("Publish the plan", id="publish", variant="primary")

    @on(Button.Pressed, "#publish")
    async def _publish(self) -> None:
        text = self.query_one("#plan-text", TextArea).text.strip()
        try:
            lines = parse_plan_lines(self.query_one("#plan-lines", TextArea).text)
        except ValueError as exc:
            self.error(escape(str(exc)))
            return
        if not text and not lines:
            self.error("Write what supporters do, or list at least one help line.")
            return
        try:
            await self._program.set_risk_plan(text, lines)
        except HearthError as exc:
            self.error(describe(exc))
            return
        self.dismiss(True)
