"""Crisis help, one key (F1) away from every screen: before sign-in, offline, on any relay.

What is shown is the SDK's :class:`client_sdk.CrisisDirectory`: the lines the SDK
ships with (international directories, a few national lines, the emergency-number
advice) at once, and the relay operator's whole list, fetched without any identity
or sign-in (:func:`client_sdk.fetch_crisis_directory`) and kept in the profile
folder by the SDK, so that the next start, and a start without the relay, show it
too. The person's region (``--region``, or the choice on this screen) filters the
list on this device and is never sent: the SDK has no way to send it. Every line
says which regions it serves.

The welcome and unlock screens show the same lines in a short panel
(:class:`CrisisPanel`); the draft check's suggestion and an empty support queue
name the first line listed for the region (:func:`first_line`), so whatever
points to help points to help that is there.

The on-device draft check (``client.check_draft``, opt in here) only ever
suggests help: it never blocks, delays or reports a message.

When a supporter acts on a fear of imminent risk (:mod:`hearth_chat.risk`), both
buddies' apps open this screen with the program's words and lines on top
(:class:`SharedHelp`), and this device's own lines for the region beside them,
never instead (``CrisisDirectory.alongside``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import ClassVar, Final, final

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static, Switch
from textual.worker import Worker

from client_sdk import (
    EMERGENCY_ADVICE,
    CrisisDirectory,
    CrisisResource,
    fetch_crisis_directory,
)
from hearth_chat._session import ChatSession, session_of
from hearth_chat.dialogs import describe
from protocol import HearthError

__all__ = [
    "CrisisPanel",
    "CrisisScreen",
    "SharedHelp",
    "first_line",
    "format_resource",
    "help_lines",
    "regions_text",
    "saved_directory",
]


@final
@dataclass(frozen=True, slots=True)
class SharedHelp:
    """A program's help a supporter shared in a buddy chat, to show above this device's own."""

    heading: str
    """Who shared it, as a person reads it ("Sam (supporter) shared Peer line's help")."""
    text: str
    """The program's words for this moment (may be empty)."""
    lines: tuple[CrisisResource, ...]
    """The program's lines (may be empty: then only this device's own are shown)."""


EVERY_REGION: Final = "*"
"""The region picker's value for "every region" (no filter)."""


def saved_directory(chat: ChatSession) -> CrisisDirectory:
    """The built-in lines and the relay's list as last fetched (never raises, no network)."""
    return CrisisDirectory.load(chat.profile.crisis_cache(), relay_url=chat.relay)


async def fetch_directory(chat: ChatSession) -> CrisisDirectory:
    """The relay's whole list, fetched without identity and saved for next time.

    Raises:
        HearthError: The relay cannot be reached or refused (the saved list stays).
        ValueError: The relay's URL is not an http(s) URL.
    """
    return await fetch_crisis_directory(chat.relay, cache=chat.profile.crisis_cache())


def help_lines(directory: CrisisDirectory, region: str | None) -> list[CrisisResource]:
    """The lines for ``region`` (and for everywhere), without the emergency advice.

    With a region, its own lines come first (a national line to call beats a
    directory to search); with none, the lines for everywhere do. Otherwise the
    directory's order stays (the relay's lines first). The emergency advice is
    shown on its own, above the lines.
    """
    lines = [r for r in directory.for_region(region) if r != EMERGENCY_ADVICE]
    # A stable sort: False (shown first) for the region's own lines, or with no
    # region for the lines for everywhere.
    return sorted(lines, key=lambda r: (EVERY_REGION in directory.regions_of(r)) == bool(region))


def regions_text(directory: CrisisDirectory, resource: CrisisResource) -> str:
    """Which regions a line serves, as a person reads it."""
    codes = directory.regions_of(resource)
    if not codes or EVERY_REGION in codes:
        return "Everywhere"
    return "Regions: " + ", ".join(codes)


def _contact(resource: CrisisResource) -> str:
    """The quickest way to reach a line, in a few words."""
    if resource.phone:
        return f"call {resource.phone}"
    if resource.sms:
        return f"text {resource.sms}"
    return resource.url or ""


def first_line(directory: CrisisDirectory, region: str | None) -> str:
    """The first line :func:`help_lines` gives, in a few words ("Samaritans: call 116 123").

    Falls back to the emergency advice's gist if no line is listed at all (the
    built-in list always has some, so this is for a directory built without it).
    """
    for resource in help_lines(directory, region):
        contact = _contact(resource)
        if contact:
            hours = f" ({resource.hours})" if resource.hours else ""
            return f"{resource.name}: {contact}{hours}"
    return "Call your local emergency number"


def format_resource(directory: CrisisDirectory, resource: CrisisResource) -> str:
    """One line as text a person can act on (plain text, no markup), with its regions."""
    lines = [resource.name, f"  {regions_text(directory, resource)}"]
    if resource.phone:
        lines.append(f"  Call: {resource.phone}")
    if resource.sms:
        lines.append(f"  Text: {resource.sms}")
    if resource.url:
        lines.append(f"  Web: {resource.url}")
    if resource.hours:
        lines.append(f"  Open: {resource.hours}")
    if resource.description:
        lines.append(f"  {resource.description}")
    return "\n".join(lines)


def _source(directory: CrisisDirectory, *, updating: bool) -> str:
    """Where the shown lines come from, and how fresh the relay's part is."""
    if directory.fetched_at is None:
        text = "Lines built into Hearth"
    else:
        when = datetime.fromtimestamp(directory.fetched_at).strftime("%Y-%m-%d %H:%M")
        text = f"Your relay's lines (as of {when}) and Hearth's own"
    return text + (" · updating…" if updating else "")


@final
class CrisisPanel(Vertical):
    """The first lines for the region, on the screens before sign-in (F1 shows them all).

    Shows the saved list at once, then fetches the relay's list (no identity
    needed) and shows that.
    """

    SHOWN: ClassVar[int] = 3
    """How many lines the panel names (the emergency advice comes on top)."""

    def compose(self) -> ComposeResult:
        yield Label("Need someone to talk to right now?", classes="title")
        yield Static(EMERGENCY_ADVICE.description or "", classes="prose emergency")
        yield Static("", id="panel-lines", markup=False)
        yield Static("F1 shows every line, on any screen.", classes="help-hint")

    def on_mount(self) -> None:
        chat = session_of(self.app)
        self._show(saved_directory(chat), chat.region)
        # An app worker, not this panel's: a quick unlock replaces the screen, and the
        # fetch should still finish and be saved for the rest of the session.
        _: Worker[None] = self.app.run_worker(
            partial(self._refresh, chat), group="crisis-fetch", exclusive=True
        )

    def _show(self, directory: CrisisDirectory, region: str | None) -> None:
        lines = help_lines(directory, region)[: self.SHOWN]
        text = "\n".join(
            f"{r.name} ({regions_text(directory, r).removeprefix('Regions: ')}): {_contact(r)}"
            for r in lines
        )
        self.query_one("#panel-lines", Static).update(text)

    async def _refresh(self, chat: ChatSession) -> None:
        try:
            directory = await fetch_directory(chat)
        except (HearthError, ValueError):
            return  # offline: the saved and built-in lines stay
        if self.is_attached:
            self._show(directory, chat.region)


@final
class CrisisScreen(ModalScreen[None]):
    """People who can help now, filtered by a region chosen here; the opt-in draft check."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def __init__(self, chat: ChatSession, shared: SharedHelp | None = None) -> None:
        super().__init__()
        self._chat = chat
        self._shared = shared
        self._directory = saved_directory(chat)
        self._options = self._region_options()
        self._updating = True  # the relay's list is being fetched

    def _region_options(self) -> list[tuple[str, str]]:
        codes = set(self._directory.regions)
        if self._chat.region is not None:
            codes.add(self._chat.region)
        return [("Every region", EVERY_REGION), *((code, code) for code in sorted(codes))]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog crisis"):
            yield Label("Help now", classes="title")
            if self._shared is not None:
                yield Static(self._shared.heading, classes="prose", markup=False, id="shared")
                if self._shared.text:
                    yield Static(self._shared.text, classes="prose", markup=False)
            yield Static(EMERGENCY_ADVICE.description or "", classes="prose emergency")
            with Horizontal(classes="availability"):
                yield Label("Your region")
                yield Select(
                    self._options,
                    value=self._chat.region or EVERY_REGION,
                    allow_blank=False,
                    id="region",
                )
                yield Label("chosen on this device, never sent", classes="detail")
            yield Label("", id="source", classes="detail")
            with VerticalScroll(id="resources"):
                yield Static("", id="resources-text", markup=False)
            if self._chat.client is not None:
                with Horizontal(classes="availability"):
                    yield Label("Suggest help when a draft sounds like a crisis")
                    yield Switch(value=self._chat.client.draft_check, id="draft-check")
                yield Static(
                    "Checked on this device only: nothing is sent, stored or reported, and "
                    "your message is never held back.",
                    classes="detail",
                )
            yield Label("", id="error", classes="error")
            yield Button("Close", id="close")

    def on_mount(self) -> None:
        self._show()
        self._fetch()

    @work(exclusive=True, group="crisis")
    async def _fetch(self) -> None:
        try:
            directory = await fetch_directory(self._chat)
        except (HearthError, ValueError) as exc:
            self._updating = False
            if self.is_attached:
                why = describe(exc) if isinstance(exc, HearthError) else escape(str(exc))
                self.query_one("#error", Label).update(
                    f"Could not reach your relay for its current list: {why}. "
                    "Shown: the lines saved on this device and Hearth's own."
                )
                self._show()
            return
        self._directory, self._updating = directory, False
        if self.is_attached:
            options = self._region_options()
            if options != self._options:
                self._options = options
                select = self.query_one("#region", Select)
                # New options, the same choice: no Changed may reset the person's region.
                with select.prevent(Select.Changed):
                    select.set_options(options)
                    select.value = self._chat.region or EVERY_REGION
            self._show()

    def _show(self) -> None:
        directory = self._directory
        lines = help_lines(directory, self._chat.region)
        if self._shared is not None:  # the program's lines first, then ours, each line once
            shared = self._shared.lines
            merged = directory.alongside(shared, self._chat.region)
            lines = [r for r in merged if r in shared] + [r for r in lines if r in merged]
        self.query_one("#resources-text", Static).update(
            "\n\n".join(format_resource(directory, r) for r in lines)
        )
        self.query_one("#source", Label).update(_source(directory, updating=self._updating))

    @on(Select.Changed, "#region")
    def _region(self, event: Select.Changed) -> None:
        value = event.value
        region = None if value == EVERY_REGION or not isinstance(value, str) else value
        if region != self._chat.region:
            self._chat.choose_region(region)
            self._show()

    @on(Switch.Changed, "#draft-check")
    async def _toggle(self, event: Switch.Changed) -> None:
        client = self._chat.client
        if client is not None and client.draft_check != event.value:
            await client.set_draft_check(event.value)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)
