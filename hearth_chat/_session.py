"""What a screen may use of the app: the session, as a protocol the app satisfies.

The app (:class:`hearth_chat.app.HearthChat`) imports every screen to show it; a
screen that imported the app back to reach the session would close an import loop
(app -> screens -> app), however lazily it imported. So the dependency goes one
way: screens import this module and see the app as a :class:`ChatSession`,
exactly the members they use; the app satisfies it structurally and is the only
thing that implements it. Every member but the four methods is read-only here:
only the app changes the session's state (a screen may still mutate what a member
holds, as the main screen clears a room's unread count).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from textual.app import App

from client_sdk import HearthClient, Identity, OutboxChanged, ReportReceived, RoomId
from hearth_chat.profile import Profile

__all__ = ["ChatSession", "Connection", "session_of"]

Connection = Literal["connecting", "online", "offline"]
"""The status bar's connection state: ``connecting`` until something is known."""


@runtime_checkable
class ChatSession(Protocol):
    """The app's session as the screens see it."""

    @property
    def profile(self) -> Profile:
        """The profile folder: keystore, local store, exports, the saved crisis list."""

    @property
    def relay(self) -> str:
        """The relay's base URL (the crisis list is fetched from it without sign-in)."""

    @property
    def client(self) -> HearthClient | None:
        """The open SDK client, or None before unlocking (and after quitting)."""

    @property
    def region(self) -> str | None:
        """The crisis list's region (ISO 3166-1 alpha-2), or None for all regions.

        Chosen on this device (``--region``, or on the crisis screen) and never sent.
        """

    @property
    def connection(self) -> Connection:
        """What is known of the relay: ``connecting`` until the SDK or a sync pass says."""

    @property
    def page_size(self) -> int:
        """How many messages a room shows at first and loads each time."""

    @property
    def unread(self) -> dict[RoomId, int]:
        """Messages from others per room since it was last open."""

    @property
    def reports(self) -> list[tuple[str, ReportReceived]]:
        """Reports received this session, with the name of their room."""

    @property
    def queued(self) -> int:
        """Our messages waiting in the outbox, over every room."""

    @property
    def delivery(self) -> dict[RoomId, OutboxChanged]:
        """Rooms whose outbox the relay did not take yet, and why (the SDK retries)."""

    @property
    def catching_up(self) -> bool:
        """Whether a sync pass is running."""

    @property
    def caught_up(self) -> int:
        """Events the running sync pass has produced so far."""

    def choose_region(self, region: str | None) -> None:
        """Filter the crisis lines by ``region`` from now on (None: every region)."""

    def require_client(self) -> HearthClient:
        """The open client (screens after unlocking can rely on it)."""

    async def refresh_queued(self) -> None:
        """Count our messages waiting in the outbox again, and show the count."""

    async def start_session(self, identity: Identity) -> None:
        """Open the SDK client for ``identity`` and show the rooms."""

    async def unlock(self, passphrase: str) -> str | None:
        """Open the lock screen with the keystore passphrase; what went wrong, or None."""


def session_of(app: App[object]) -> ChatSession:
    """The session of the app a screen belongs to (``screen.app``).

    Raises:
        TypeError: The screen runs in an app that is not a Hearth chat app.
    """
    if not isinstance(app, ChatSession):
        raise TypeError(f"{type(app).__name__} is not a Hearth chat session")
    return app
