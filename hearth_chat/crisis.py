"""Crisis resources, one key (F1) away from every screen, before and after unlocking.

The list is the relay operator's (``client.crisis_resources``), fetched without
a session token, for the region the person chose (``--region``) or for all
regions. The last list fetched is kept in the profile folder (it is public
information) so that the screen still helps when the relay cannot be reached or
before the identity is unlocked. The screen always says what to do if no list
is available: call the local emergency number.

The on-device draft check (``client.check_draft``, opt in here) only ever
suggests this screen: it never blocks, delays or reports a message.
"""

from __future__ import annotations

from typing import ClassVar, final

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, Switch

from client_sdk import CrisisResource
from hearth_chat._session import ChatSession
from hearth_chat.dialogs import describe
from protocol import HearthError

__all__ = ["CrisisScreen", "format_resource"]

EMERGENCY = (
    "If you or someone else is in danger right now, call your local emergency "
    "number (112 in Europe, 911 in North America, 999 in the UK)."
)


def format_resource(resource: CrisisResource) -> str:
    """One resource as lines a person can act on (plain text, no markup)."""
    lines = [resource.name]
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


@final
class CrisisScreen(ModalScreen[None]):
    """People who can help now, and the opt-in draft check."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def __init__(self, chat: ChatSession) -> None:
        super().__init__()
        self._chat = chat

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog crisis"):
            yield Label("Help now", classes="title")
            yield Static(EMERGENCY, classes="prose emergency")
            yield Label("", id="source", classes="detail")
            with VerticalScroll(id="resources"):
                yield Static("Looking up the list…", id="resources-text", markup=False)
            if self._chat.client is not None:
                with Horizontal(classes="availability"):
                    yield Label("Suggest this screen when a draft sounds like a crisis")
                    yield Switch(value=self._chat.client.draft_check, id="draft-check")
                yield Static(
                    "Checked on this device only: nothing is sent, stored or reported, and "
                    "your message is never held back.",
                    classes="detail",
                )
            yield Label("", id="error", classes="error")
            yield Button("Close", id="close")

    async def on_mount(self) -> None:
        await self._show(self._chat.profile.cached_crisis(), cached=True)
        client = self._chat.client
        if client is None:
            return
        try:
            resources = await client.crisis_resources(region=self._chat.region)
        except HearthError as exc:
            self.query_one("#error", Label).update(
                f"Could not reach the relay for its current list: {describe(exc)}"
            )
            return
        self._chat.profile.cache_crisis(resources)
        await self._show(resources, cached=False)

    async def _show(self, resources: list[CrisisResource] | None, *, cached: bool) -> None:
        text = self.query_one("#resources-text", Static)
        source = self.query_one("#source", Label)
        if resources is None:
            text.update("No list yet: it is fetched from your relay once you are signed in.")
            return
        if not resources:
            text.update("Your relay's operator lists no crisis lines for your region.")
        else:
            text.update("\n\n".join(format_resource(r) for r in resources))
        region = self._chat.region or "all regions"
        source.update(
            f"From your relay's operator, for {region}"
            + (" (saved copy; updating…)" if cached and self._chat.client else "")
        )

    @on(Switch.Changed, "#draft-check")
    async def _toggle(self, event: Switch.Changed) -> None:
        client = self._chat.client
        if client is not None and client.draft_check != event.value:
            await client.set_draft_check(event.value)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)
