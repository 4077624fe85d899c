"""The Textual application: the session with the relay and the SDK's event stream.

:class:`HearthChat` owns one :class:`client_sdk.HearthClient` once the person
unlocks (or creates) their identity. A single worker reads
``client.events()`` and hands every event to the main screen; security alarms
open a dialog at once, reports to moderators are kept for the Reports screen
(for this session only: the SDK does not store them). On start, and again
whenever the connection comes back, the app runs one ``client.sync()`` and shows
its progress by counting the events it produces.

The connection state it shows is what is known, never a guess: ``connecting``
from the start until the SDK's :class:`~client_sdk.ConnectionChanged` says online
or offline, or a sync pass fails to reach the relay (offline) or reaches it with
no room to follow live yet (online). The crisis region is the person's choice on
this device (``--region`` or the crisis screen) and is never sent.

The app also keeps the person safe from the room behind them: Escape twice is a
quick exit that covers everything with a blank lock screen, the app locks
itself after ``lock_after`` seconds without a key or a click, and unlocking
needs the keystore passphrase again (see :mod:`hearth_chat.lock`). While
locked, notifications and security alarms wait for the unlock.

The app imports every screen; no screen imports the app. Screens see it as a
:class:`hearth_chat._session.ChatSession`, the members they use, which the app
satisfies structurally (mypy checks it where the app hands itself to a screen).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial
from time import monotonic
from typing import ClassVar, final

from textual import events
from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker

from client_sdk import (
    ConnectionChanged,
    Event,
    HearthClient,
    Identity,
    KeystoreError,
    MessageReceived,
    OutboxChanged,
    RelayUnavailable,
    ReportReceived,
    RiskAlertReceived,
    RiskHelpShown,
    RoomId,
    SecurityAlarm,
    SupportClaimed,
    SupporterStatusChanged,
    SupportRequested,
    SupportWithdrawn,
    normalise_region,
)
from hearth_chat._session import Connection
from hearth_chat.crisis import CrisisScreen, SharedHelp
from hearth_chat.dialogs import describe
from hearth_chat.lock import QUICK_EXIT_WINDOW, LockScreen
from hearth_chat.onboarding import UnlockScreen, WelcomeScreen
from hearth_chat.profile import Profile
from hearth_chat.rooms import MainScreen
from hearth_chat.support import SupportDialog
from protocol import HearthError

__all__ = ["HearthChat"]


@final
class HearthChat(App[None]):
    """The ``hearth chat`` terminal app for one profile folder and one relay.

    Args:
        relay: The relay's base URL.
        profile: The profile folder (keystore, local store, exports).
        reconnect_delay: The SDK's reconnect backoff (first, largest), seconds.
        registration_token: Offered when creating rooms on a relay whose
            creation policy is ``token``.
        page_size: How many messages a room shows at first, and loads each time
            the person moves up past the oldest.
        region: ISO 3166-1 alpha-2 code for the crisis list (None: all regions).
        lock_after: Seconds without a key or a click after which the app locks
            itself (None: never).

    Raises:
        ValueError: ``region`` is not a two-letter code.
    """

    CSS_PATH = "chat.tcss"
    TITLE = "Hearth"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "crisis", "Help now", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # Seen first, before any screen: the second Escape in a row is the quick exit;
        # any other Escape goes on to close a dialog or cancel a reply, as before.
        Binding("escape", "quick_exit", "Quick exit (Esc twice)", show=False, priority=True),
    ]

    def __init__(
        self,
        relay: str,
        profile: Profile,
        *,
        reconnect_delay: tuple[float, float] = (0.25, 10.0),
        registration_token: str | None = None,
        page_size: int = 50,
        region: str | None = None,
        lock_after: float | None = 600.0,
    ) -> None:
        super().__init__()
        self.relay = relay
        self.profile = profile
        self.client: HearthClient | None = None
        self.unread: dict[RoomId, int] = {}
        self.reports: list[tuple[str, ReportReceived]] = []
        self.queued = 0
        self.catching_up = False
        self.caught_up = 0
        self._reconnect_delay = reconnect_delay
        self._registration_token = registration_token
        self.page_size = page_size
        self.region = normalise_region(region)
        self._region_chosen = False
        self.connection: Connection = "connecting"
        self.delivery: dict[RoomId, OutboxChanged] = {}
        """Rooms whose outbox the relay did not take yet, and why (the SDK retries)."""
        self.lock_after = lock_after
        self._last_activity = monotonic()
        self._last_escape: tuple[float, Screen[object] | None] = (float("-inf"), None)
        self._held_notices: list[Callable[[], None]] = []
        self._held_alarms: list[SecurityAlarm] = []

    def choose_region(self, region: str | None) -> None:
        """Filter the crisis lines by ``region`` from now on (chosen here, never sent).

        Once signed in, the choice is kept for the next start, encrypted in the
        SDK's local store (``set_crisis_region``); a choice made before signing in
        is kept when the store opens.
        """
        self.region, self._region_chosen = region, True
        if self.client is not None:
            _: Worker[None] = self.run_worker(
                partial(self.client.set_crisis_region, region), group="region", exclusive=True
            )

    def on_mount(self) -> None:
        self.push_screen(UnlockScreen() if self.profile.has_identity() else WelcomeScreen())

    def require_client(self) -> HearthClient:
        """The open client (screens after unlocking can rely on it)."""
        if self.client is None:
            raise RuntimeError("no session yet")
        return self.client

    @property
    def main(self) -> MainScreen | None:
        """The main screen, once the session started."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    async def start_session(self, identity: Identity) -> None:
        """Open the SDK client for ``identity`` and show the rooms.

        Called by the first-run and unlock screens; the screen swap runs in an app
        worker so that the calling screen can be replaced safely.
        """
        _: Worker[None] = self.run_worker(
            partial(self._start, identity), group="session", exclusive=True
        )

    async def _start(self, identity: Identity) -> None:
        self.profile.remember_relay(self.relay)
        # Count from the very start: the stream's own first catch-up begins on open.
        self.catching_up, self.caught_up = True, 0
        client = HearthClient(
            self.relay,
            identity,
            store_path=self.profile.store_path,
            reconnect_delay=self._reconnect_delay,
            registration_token=self._registration_token,
        )
        await client.open()
        self.client = client
        if self._region_chosen:  # chosen before signing in: keep it
            await client.set_crisis_region(self.region)
        elif self.region is None:  # no --region: the one chosen on an earlier start
            self.region = client.crisis_region
        _: Worker[None] = self.run_worker(
            partial(self._pump, client), group="events", exclusive=True
        )
        # The outbox count also changes inside the SDK (a flush on reconnect), with no
        # event of its own: read it from the local store every second.
        self.set_interval(1.0, self.refresh_queued)
        if self.lock_after is not None:
            self._last_activity = monotonic()
            self.set_interval(min(1.0, self.lock_after / 4), self._lock_if_idle)
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        await self.switch_screen(MainScreen(self))
        self.catch_up()

    def catch_up(self) -> None:
        """Run one complete sync pass, showing its progress (a pass in progress restarts)."""
        if not self.catching_up:
            self.catching_up, self.caught_up = True, 0
        _: Worker[None] = self.run_worker(self._catch_up, group="sync", exclusive=True)

    async def _catch_up(self) -> None:
        client = self.require_client()
        self._refresh_status()
        try:
            await client.sync()
        except RelayUnavailable:
            if not client.online:  # the stream's own word wins if it came up meanwhile
                self.connection = "offline"
        except HearthError as exc:  # refused: the next pass (on reconnect) tries again
            self.log.warning(f"catching up failed: {exc.code}")
        else:
            # The relay answered. With no room there is no live stream to come up, so
            # this answer is all the connection there is; else the stream says soon.
            if client.online or not client.rooms:
                self.connection = "online"
        self.catching_up = False
        main = self.main
        if main is not None and main.live:
            await main.refresh_rooms()  # rooms a restore or another device brought back
        await self.refresh_queued()

    async def refresh_queued(self) -> None:
        """Count our messages waiting in the outbox, over every room."""
        client = self.client
        if client is None:
            return
        total = 0
        for room in client.rooms:
            with contextlib.suppress(HearthError):
                total += await room.pending()
        self.queued = total
        self._refresh_status()

    def _refresh_status(self) -> None:
        main = self.main
        if main is not None and main.live:
            main.refresh_status()

    async def _pump(self, client: HearthClient) -> None:
        async for event in client.events():
            try:
                await self._handle(client, event)
            except (HearthError, LookupError) as exc:
                # Showing an update failed (say, a room the store no longer holds): say
                # so and keep following; the SDK has already verified and stored it.
                self.log.error(f"showing {type(event).__name__} failed: {exc!r}")
                self.notify("An update could not be shown.", severity="warning")

    async def _handle(self, client: HearthClient, event: Event) -> None:
        if self.catching_up:
            self.caught_up += 1
        room_id: RoomId | None = getattr(event, "room_id", None)
        main = self.main
        if isinstance(event, ConnectionChanged):
            self.connection = "online" if event.online else "offline"
            if event.online:
                self.catch_up()
            else:
                await self.refresh_queued()
        if isinstance(event, OutboxChanged):
            if event.state == "sent":
                self.delivery.pop(event.room_id, None)
            else:
                self.delivery[event.room_id] = event
            await self.refresh_queued()
        if isinstance(event, MessageReceived) and event.message.mine and self.queued:
            await self.refresh_queued()  # one of ours went out
        if (
            isinstance(event, MessageReceived)
            and not event.message.mine
            and (main is None or main.current != room_id)
        ):
            self.unread[event.message.room_id] = self.unread.get(event.message.room_id, 0) + 1
        if isinstance(event, ReportReceived):
            room = client.room(event.room_id)
            self.reports.append((room.name or str(room.id)[:8], event))
            self.notify(
                f"{room.member(event.reporter).display} reported a message in "
                f"{room.name or 'a room'} (F7 shows reports).",
                title="New report",
                severity="warning",
                markup=False,  # names and room names come from other people
            )
        if isinstance(event, SupportClaimed):
            await self._claimed(client, event)
        if isinstance(event, RiskHelpShown):
            self._risk_help(client, event)
        if isinstance(event, RiskAlertReceived):
            program = client.room(event.room_id)
            self.notify(
                f"{program.member(event.supporter).display} fears "
                f"{program.member(event.member).display} is at imminent risk "
                f"(see {program.name or 'the program room'}).",
                title="Risk alert",
                severity="error",
                timeout=60,
                markup=False,
            )
        if isinstance(
            event, (SupportRequested, SupportClaimed, SupportWithdrawn, SupporterStatusChanged)
        ) and isinstance(self.screen, SupportDialog):
            await self.screen.redraw()
        if main is not None and main.live:
            await main.on_sdk_event(event)
            if isinstance(event, SecurityAlarm):
                if self.locked:
                    self._held_alarms.append(event)
                else:
                    main.show_alarm(event)

    def _risk_help(self, client: HearthClient, event: RiskHelpShown) -> None:
        """The supporter shared the program's help: open it on top of the crisis screen."""
        chat = client.room(event.room_id)
        by = "You" if event.by == chat.me else chat.member(event.by).display
        shared = SharedHelp(
            heading=f"{by} shared help for right now, in {chat.name or 'your 1:1 chat'}:",
            text=event.text,
            lines=event.lines,
        )

        def show() -> None:
            self.push_screen(CrisisScreen(self, shared))

        if self.locked:  # shown on unlock, like a notification
            self._held_notices.append(show)
        else:
            show()

    async def _claimed(self, client: HearthClient, event: SupportClaimed) -> None:
        """A supporter took our request: say so and open the buddy chat it made."""
        program = client.room(event.room_id)
        if event.requester != program.me or event.buddy_room_id is None:
            return
        self.notify(
            "A supporter is here for you: your private chat is open.",
            title="1:1 support",
            timeout=10,
        )
        try:
            buddy = await program.buddy_chat(event.request_id)
        except HearthError as exc:
            self.notify(describe(exc), severity="error", title="Could not open the chat")
            return
        main = self.main
        if main is not None and main.live:
            await main.open_room(buddy.id)

    # -- quick exit and the lock ---------------------------------------------------

    @property
    def locked(self) -> bool:
        """Whether the lock screen is up (somewhere in the stack: F1 may be over it)."""
        return any(isinstance(screen, LockScreen) for screen in self.screen_stack)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(
            event,
            (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp),
        ):
            self._last_activity = monotonic()
        await super().on_event(event)

    def action_quick_exit(self) -> None:
        """Escape: the second in a row on the same screen locks; any other passes on.

        "The same screen": an Escape that closed a dialog does not count towards
        the pair, so closing two dialogs quickly does not lock, while pressing
        Escape again and again (in a hurry, whatever is open) does.
        """
        now, screen = monotonic(), self.screen
        (then, where), self._last_escape = self._last_escape, (now, screen)
        if self.locked or where is not screen or now - then > QUICK_EXIT_WINDOW:
            raise SkipAction
        self._last_escape = (float("-inf"), None)
        self.lock()

    def _lock_if_idle(self) -> None:
        if isinstance(self.screen, CrisisScreen):
            return  # someone reading help lines is not idle; the quick exit still works
        if self.lock_after is not None and monotonic() - self._last_activity >= self.lock_after:
            self.lock()

    def lock(self) -> None:
        """Hide everything at once behind the lock screen (the quick exit, the idle lock).

        Before any identity exists (the first run) there is no passphrase to lock
        with and nothing saved to protect: the app closes instead.
        """
        if self.locked:
            return
        if self.client is None and not self.profile.has_identity():
            self.exit()
            return
        self.clear_notifications()
        self.push_screen(LockScreen())

    async def unlock(self, passphrase: str) -> str | None:
        """Open the lock with the keystore passphrase; what went wrong, or None if it opened."""
        try:
            identity = await asyncio.to_thread(self.profile.load_identity, passphrase)
        except KeystoreError as exc:
            if exc.code == "keystore.wrong_passphrase":
                return "Wrong passphrase."
            return f"The keystore cannot be opened ({exc.code})."
        self._last_activity = monotonic()
        if self.client is None:  # locked before unlocking at start: start now
            await self.start_session(identity)
            return None
        # The lock screen is waiting for this answer: take it down from a worker, not
        # from inside its own handler (awaiting its removal there would never end).
        _: Worker[None] = self.run_worker(self._reopen, group="lock", exclusive=True)
        return None

    async def _reopen(self) -> None:
        """Take the lock screen down, then show what waited for the unlock."""
        while isinstance(self.screen, LockScreen):
            await self.pop_screen()
        held, self._held_notices = self._held_notices, []
        for notice in held:
            notice()
        alarms, self._held_alarms = self._held_alarms, []
        main = self.main
        for alarm in alarms:
            if main is not None and main.live:
                main.show_alarm(alarm)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Show a notification, or keep it for the unlock while the app is locked."""
        show = partial(
            super().notify,
            message,
            title=title,
            severity=severity,
            timeout=timeout,
            markup=markup,
        )
        if self.locked:
            self._held_notices.append(show)
        else:
            show()

    def action_crisis(self) -> None:
        """Open the crisis resources (F1, from every screen)."""
        if not isinstance(self.screen, CrisisScreen):
            self.push_screen(CrisisScreen(self))

    async def action_quit(self) -> None:
        await self._close_client()
        self.exit()

    async def on_unmount(self) -> None:
        await self._close_client()

    async def _close_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close()
