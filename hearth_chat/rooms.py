"""The main screen: the room list with unread counts, and the open room.

One piece past 600 lines because it is one screen: the room list, the open room's
timeline and the composer share the focus, the drafts, the unread counts and the
queued messages, and each widget here is small.

No harm from a stray key: no plain letter acts here. Whatever a person types,
wherever the focus is in the room view, lands in the composer; message actions
are a menu (Ctrl+O) and a few modified keys, and everything that takes something
away asks first (:mod:`hearth_chat.confirm`). After every dialog the focus is
back in the composer. Each room keeps its own unsent draft, and Enter sends to
the room the composer was writing for, so a room that opens by itself (a support
chat) never receives another room's words.

The room view shows the newest messages and loads older ones as the person
moves up past the first (``Room.messages(before=...)``, which backfills from the
relay where history is readable). Between them it shows what happened to the
room as lines of their own (:mod:`hearth_chat.notices`): joins, leaves, removals,
role changes, mutes and bans, from the SDK's verified events, and in place of a
message a moderator deleted a line saying so, so that nothing vanishes without a
trace. Opening a room rebuilds them from what the SDK keeps (after a restart too),
and the screen keeps the rest (renames, the risk path) for the session; all are
placed among the messages by time. A message with a content warning shows only
the warning until it is opened (Enter). Our own messages appear at once, marked
"queued" until the relay has them, so composing offline works the same as
online. Posting in a room with ground rules first asks the person to accept
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import ClassVar, Literal, final

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Key
from textual.markup import escape
from textual.message import Message as TextualMessage
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, ListItem, ListView, ProgressBar, Static
from textual.worker import Worker

from client_sdk import (
    Event,
    MemberModerated,
    MemberRemoved,
    MemberRenamed,
    Message,
    MessageDeleted,
    MessageEdited,
    MessageId,
    MessageReceived,
    MessagesExpired,
    PersonalDataChanged,
    ProfileChanged,
    ReactionChanged,
    RoleChanged,
    Room,
    RoomId,
    RulesChanged,
    RulesNotAccepted,
    SecurityAlarm,
)
from hearth_chat._session import ChatSession
from hearth_chat.confirm import (
    ConfirmDialog,
    MessageActionsDialog,
    block_question,
    delete_question,
    mute_question,
    remove_question,
)
from hearth_chat.crisis import first_line, saved_directory
from hearth_chat.dialogs import (
    AlarmDialog,
    CreateRoomDialog,
    MembersDialog,
    ReactDialog,
    ReportDialog,
    ReportsDialog,
    RulesDialog,
    ScheduleDialog,
    describe,
)
from hearth_chat.invite import InviteDialog
from hearth_chat.join import JoinDialog
from hearth_chat.names import NameDialog, rename_line
from hearth_chat.notices import (
    MAX_NOTICES,
    SESSION_ONLY,
    Notice,
    NoticeItem,
    deleted_text,
    history_notices,
    interleave,
    notice_text,
)
from hearth_chat.risk import RiskDialog, claimed_request, raise_alert
from hearth_chat.support import SupportDialog, queue_note
from protocol import HearthError

__all__ = ["MainScreen"]

KIND_MARK = {"group": "#", "buddy": "@", "program": "+"}


@final
class RoomItem(ListItem):
    """One row of the room list."""

    def __init__(self, room: Room) -> None:
        super().__init__(Label("", markup=False))
        self.room_id = room.id

    def show(self, room: Room, unread: int) -> None:
        name = room.name or f"(room {str(room.id)[:6]}…)"
        flags = " ⚠" if room.blocked else ""
        count = f" ({unread})" if unread else ""
        self.query_one(Label).update(f"{KIND_MARK.get(room.kind, '#')} {name}{count}{flags}")


def _quote(message: Message) -> str:
    """A short quote that never shows a collapsed message's words."""
    if message.collapsed:
        return f"[CW: {message.content_warning}]"
    return message.text[:60]


@final
class MessageItem(ListItem):
    """One message; its text hidden behind its content warning until opened."""

    def __init__(self, message: Message, *, queued: bool = False) -> None:
        super().__init__(Static("", markup=False))
        self.message = message
        self.queued = queued
        # The SDK hands out a warned message collapsed (no text) until it is revealed.
        self.revealed = not message.collapsed
        self.replied: Message | None = None
        """The message this one answers, once found (quoted above the text)."""

    def on_mount(self) -> None:
        self.redraw()

    def redraw(self, replied: Message | None = None) -> None:
        if replied is not None:
            self.replied = replied
        replied = self.replied
        message = self.message
        # Never a bare name: the role beside it comes from the verified log.
        who = "you" if message.mine else message.sender_display
        when = message.sent_at.astimezone().strftime("%H:%M")
        lines = []
        if message.reply_to is not None:
            quoted = _quote(replied) if replied is not None else "an earlier message"
            lines.append(f"  ↪ replying to: {quoted}")
        if self.revealed:
            body = message.text
            if message.content_warning is not None:
                body = f"[CW: {message.content_warning}] {body}"
        else:
            body = f"⚠ Content warning: {message.content_warning} (Enter to show)"
        edited = " (edited)" if message.edited else ""
        state = "  · queued, sends when online" if self.queued else ""
        lines.append(f"{when} {who}: {body}{edited}{state}")
        if message.reactions:
            counts = "  ".join(f"{emoji} {len(who)}" for emoji, who in message.reactions.items())
            lines.append(f"      {counts}")
        try:
            text = self.query_one(Static)
        except NoMatches:
            # The stream's copy of a message can arrive while the queued copy is being
            # mounted: on_mount draws it then, as it is now.
            return
        text.update("\n".join(lines))


def timeline(messages: Sequence[Message], notices: Sequence[Notice]) -> list[ListItem]:
    """The list's lines: messages (in room order) with the notices placed among them by time."""
    return [
        NoticeItem(line) if isinstance(line, Notice) else MessageItem(line)
        for line in interleave(messages, notices)
    ]


@final
class MessageList(ListView):
    """The open room's messages; message actions act on the highlighted one.

    No action is a plain letter: a sentence typed here goes to the composer (see
    :meth:`MainScreen.on_key`). Ctrl+O opens every action as a menu; the few
    shortcuts are modified keys, and delete asks first.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "screen.actions", "Actions…"),
        Binding("ctrl+r", "screen.reply", "Reply"),
        Binding("ctrl+e", "screen.edit", "Edit"),
        Binding("ctrl+d", "screen.delete", "Delete…"),
    ]


@final
class Composer(Input):
    """The message field, which knows which room it is writing into.

    Enter posts :class:`Composer.Sent` with the room that was open when it was
    pressed, so a room that opens by itself a moment later (a support chat) can
    never receive what was written for another.
    """

    @dataclass
    class Sent(TextualMessage):
        """Enter in the composer: ``text`` written for ``room_id``."""

        room_id: RoomId
        text: str

    BINDINGS: ClassVar[list[BindingType]] = [Binding("tab", "to_messages", "Messages", show=False)]

    def __init__(self) -> None:
        # Never select the draft on focus: the next key would replace it.
        super().__init__(
            placeholder="Open or create a room (F2, F3)", id="composer", select_on_focus=False
        )
        self.room_id: RoomId | None = None
        """The room whose draft this field holds (None: no room open)."""

    async def action_submit(self) -> None:
        if self.room_id is not None:
            self.post_message(self.Sent(self.room_id, self.value))

    def action_to_messages(self) -> None:
        """Tab: to the open room's messages, as the placeholder says (not the room list)."""
        self.screen.query_one("#messages").focus()


@final
class MainScreen(Screen[None]):
    """Rooms on the left, the open room on the right, status on top."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "new_room", "New room"),
        Binding("f3", "join", "Join"),
        Binding("f4", "invite", "Invite"),
        Binding("f5", "members", "Members"),
        Binding("f6", "schedule", "Schedule"),
        Binding("f7", "reports", "Reports"),
        Binding("f8", "rules", "Rules"),
        Binding("f9", "support", "1:1 support"),
        Binding("f10", "my_name", "Your name"),
    ]

    def __init__(self, chat: ChatSession) -> None:
        super().__init__()
        self._chat = chat  # explicit: ``self.app`` is a context variable, ambiguous in tests
        self.current: RoomId | None = None
        self._reply_to: Message | None = None
        self._editing: Message | None = None
        self._loading_older = False
        self._drafts: dict[RoomId, str] = {}
        """What was left unsent in each room other than the open one."""
        self._exhausted: set[RoomId] = set()
        self._notices: dict[RoomId, list[Notice]] = {}
        self.ready = False  # composed and mounted: the app may send it events

    @property
    def chat(self) -> ChatSession:
        """The app this screen belongs to."""
        return self._chat

    def compose(self) -> ComposeResult:
        with Horizontal(id="status-bar"):
            yield Static("", id="connection")
            yield Static("", id="sync-label")
            yield ProgressBar(total=None, show_eta=False, id="sync-bar")
            yield Static("[b]F1[/b] help now", id="help-hint")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Label("Rooms", classes="heading")
                yield ListView(id="rooms")
            with Vertical(id="room-pane"):
                yield Static("", id="room-title")
                yield Static("", id="room-banner")
                yield MessageList(id="messages")
                yield Static("", id="suggestion")
                yield Static("", id="replying", markup=False)
                yield Composer()
        yield Footer()

    async def on_mount(self) -> None:
        self.ready = True
        await self.refresh_rooms()
        rooms = self.chat.require_client().rooms
        if rooms:
            await self.open_room(rooms[0].id)
        self.refresh_status()

    # -- the room list -------------------------------------------------------------

    async def refresh_rooms(self) -> None:
        """Rebuild or relabel the room list from the client's rooms."""
        client = self.chat.require_client()
        view = self.query_one("#rooms", ListView)
        rooms = client.rooms
        shown = [item.room_id for item in view.query(RoomItem)]
        if shown != [room.id for room in rooms]:
            await view.clear()
            await view.extend(RoomItem(room) for room in rooms)
            if self.current is not None:
                for index, room in enumerate(rooms):
                    if room.id == self.current:
                        view.index = index
        for item in view.query(RoomItem):
            item.show(client.room(item.room_id), self.chat.unread.get(item.room_id, 0))

    @on(ListView.Selected, "#rooms")
    async def _room_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, RoomItem):
            await self.open_room(event.item.room_id)

    def room(self) -> Room | None:
        """The open room, if any."""
        if self.current is None:
            return None
        return self.chat.require_client().room(self.current)

    async def open_room(self, room_id: RoomId) -> None:
        """Show a room: its newest messages, its own draft in the composer, focused.

        What was left unsent in the room shown before stays with that room (a
        support chat that opens by itself never gets another room's words).
        """
        composer = self.query_one("#composer", Composer)
        if self.current is not None and self.current != room_id:
            # An edit in progress is the message itself, which is not lost: keep no draft.
            draft = composer.value if self._editing is None else ""
            if draft:
                self._drafts[self.current] = draft
            composer.value = self._drafts.pop(room_id, "")
            self._editing = None
        composer.room_id = room_id
        self.current = room_id
        self._reply_to = None
        self.chat.unread.pop(room_id, None)
        room = self.chat.require_client().room(room_id)
        view = self.query_one("#messages", MessageList)
        messages = await room.messages(limit=self.chat.page_size)
        notices = self._room_notices(room)
        if len(messages) >= self.chat.page_size:  # older notices come with older messages
            notices = [n for n in notices if n.at >= messages[0].received_at]
        await view.clear()
        await view.extend(timeline(messages, notices))
        view.index = len(view) - 1 if len(view) else None
        view.scroll_end(animate=False)
        self._redraw_replies()
        self.refresh_room_header()
        self.query_one("#replying", Static).update("")
        composer.placeholder = "Write a message (Enter sends; Tab moves to the messages)"
        composer.focus()
        await self.refresh_rooms()

    def draft(self, room_id: RoomId) -> str:
        """What is written and unsent for ``room_id`` (in the composer if it is open)."""
        if room_id == self.current:
            return self.query_one("#composer", Composer).value
        return self._drafts.get(room_id, "")

    def _clear_draft(self, room_id: RoomId) -> None:
        if room_id == self.current:
            self.query_one("#composer", Composer).value = ""
        else:
            self._drafts.pop(room_id, None)

    # -- focus: typing always lands in the composer ------------------------------

    def on_screen_resume(self) -> None:
        """Back from a dialog (or the lock): the composer has the focus again."""
        self.query_one("#composer", Composer).focus()

    def on_key(self, event: Key) -> None:
        """A printable key outside the composer goes into it, never to an action.

        The room list and the message list have no letter keys; whatever a person
        types with focus on them is the start of a message.
        """
        composer = self.query_one("#composer", Composer)
        if not event.is_printable or event.character is None or self.focused is composer:
            return
        event.stop()
        event.prevent_default()
        composer.focus()
        composer.insert_text_at_cursor(event.character)

    def refresh_room_header(self) -> None:
        if not self.live:
            return
        room = self.room()
        title = self.query_one("#room-title", Static)
        banner = self.query_one("#room-banner", Static)
        if room is None:
            title.update("No room open. F2 creates one, F3 joins with an invite link.")
            banner.update("")
            return
        kind = {"group": "Support group", "buddy": "Buddy chat", "program": "Program"}
        name = escape(room.name) if room.name else "(name not received yet)"
        topic = f" — {escape(room.topic)}" if room.topic else ""
        title.update(
            f"[b]{name}[/b]{topic}  [dim]{kind.get(room.kind, room.kind)} · you are "
            f"{room.role or 'not a member'} · {len(room.members)} "
            f"member{'' if len(room.members) == 1 else 's'}[/dim]"
        )
        notes = []
        if room.alarms:
            notes.append("[b red]⚠ Security alarm: this room will not send until you read it.[/]")
        if room.status != "active":
            notes.append(f"[b]This room is {room.status}: read only.[/b]")
        elif room.rules is not None and not room.rules_accepted:
            notes.append("Ground rules: read and accept them before you post (F8).")
        if room.me in room.muted:
            notes.append("A moderator muted you in this room.")
        if room.retention_days is not None:
            notes.append(f"Messages here disappear after {room.retention_days} days.")
        queue = queue_note(room, lambda: first_line(saved_directory(self.chat), self.chat.region))
        if queue is not None:
            notes.append(escape(queue))
        if claimed_request(self.chat.require_client(), room) is not None:
            notes.append("You are their supporter. If you believe they are at imminent risk: F9.")
        banner.update("\n".join(notes))

    # -- status bar ----------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Composed and not being torn down: safe to update."""
        return self.ready and self.is_attached and bool(self.query("#connection"))

    def refresh_status(self) -> None:
        if not self.live:
            return
        chat = self.chat
        queued = chat.queued
        # "connecting" until the SDK's ConnectionChanged (or a sync pass) says which:
        # a first start with the relay up never shows "offline".
        text = {
            "online": "[green]● online[/]",
            "connecting": "[yellow]◌ connecting…[/]",
            "offline": "[red]○ offline[/] — messages are kept and sent on reconnect",
        }[chat.connection]
        if queued:
            text += f" · {queued} queued"
        why = {e.state for e in chat.delivery.values()}
        if "storage" in why:
            text += " · [red]the relay cannot store messages right now[/] (retrying)"
        elif "retrying" in why and chat.connection == "online":
            soonest = min(e.retry_in or 0.0 for e in chat.delivery.values())
            text += f" · sending, next try in {max(1, round(soonest))} s"
        self.query_one("#connection", Static).update(text)
        bar = self.query_one("#sync-bar", ProgressBar)
        label = self.query_one("#sync-label", Static)
        if chat.catching_up:
            label.update(f"Catching up… {chat.caught_up} new events")
            bar.display = True
        else:
            label.update("")
            bar.display = False

    # -- events from the SDK -------------------------------------------------------

    async def on_sdk_event(self, event: Event) -> None:
        """Reflect one SDK event (the app calls this for every event)."""
        if not self.live:
            return
        room_id: RoomId | None = getattr(event, "room_id", None)
        notice = self._notice(room_id, event)
        if room_id is not None and room_id == self.current:
            # The line saying what changed is on screen before the change it explains
            # (a rename relabels lines already shown): the timeline never changes
            # without saying why, not even for a frame.
            if notice is not None:
                await self._append(NoticeItem(notice))
            await self._in_open_room(event)
        blocked = isinstance(event, PersonalDataChanged) and event.document == "blocked"
        if blocked and self.current is not None:  # (un)blocked on another device
            await self.open_room(self.current)
        if isinstance(
            event,
            (MessageReceived, ProfileChanged, MemberRemoved, SecurityAlarm, PersonalDataChanged),
        ):
            await self.refresh_rooms()  # PersonalDataChanged: rooms taken up on a restore
        self.refresh_room_header()
        self.refresh_status()

    def _notice(self, room_id: RoomId | None, event: Event) -> Notice | None:
        """Keep the notice ``event`` makes for its room's timeline, if it makes one."""
        if room_id is None:
            return None
        try:
            room = self.chat.require_client().room(room_id)
        except KeyError:
            return None
        # A rename's text needs the names module, hence here.
        text = rename_line(event, room) if isinstance(event, MemberRenamed) else None
        text = text or notice_text(room, event)
        if text is None:
            return None
        notice = Notice(_now(), text)
        # What the SDK keeps (the log, the moderation) is rebuilt on opening the room
        # (history_notices); only the rest is kept here, for this session.
        return self._keep(room_id, notice) if isinstance(event, SESSION_ONLY) else notice

    def _room_notices(self, room: Room) -> list[Notice]:
        """Everything the room's timeline says besides messages: rebuilt, then kept."""
        return history_notices(room) + self._notices.get(room.id, [])

    def _keep(self, room_id: RoomId, notice: Notice) -> Notice:
        kept = self._notices.setdefault(room_id, [])
        kept.append(notice)
        del kept[:-MAX_NOTICES]
        return notice

    async def _append(self, item: ListItem) -> None:
        """Add a line at the end of the open room, following it if the person was there."""
        view = self.query_one("#messages", MessageList)
        at_end = view.index is None or view.index >= len(view) - 1
        await view.append(item)
        if at_end:
            view.index = len(view) - 1
            view.scroll_end(animate=False)

    async def _in_open_room(self, event: Event) -> None:
        view = self.query_one("#messages", MessageList)
        if isinstance(event, MessageReceived):
            for item in view.query(MessageItem):
                if item.message.id == event.message.id:  # our queued copy
                    item.message, item.queued = event.message, False
                    item.redraw(self._find(event.message.reply_to))
                    return
            item = MessageItem(event.message)
            await self._append(item)
            item.redraw(self._find(event.message.reply_to))
        elif isinstance(event, ReactionChanged):
            for item in view.query(MessageItem):
                if item.message.id == event.message.id:
                    # Keep this device's open/closed choice; take the new reactions.
                    item.message = replace(item.message, reactions=event.message.reactions)
                    item.redraw(self._find(item.message.reply_to))
        elif isinstance(event, MessageEdited):
            for item in view.query(MessageItem):
                if item.message.id == event.message.id:
                    item.message = event.message
            self._redraw_replies()
            for item in view.query(MessageItem):
                if item.message.id == event.message.id:
                    item.redraw(self._find(event.message.reply_to))
        elif isinstance(event, MessagesExpired):
            gone = set(event.message_ids)
            # Indices among all the list's lines: notices stand between the messages.
            indices = [
                index
                for index, item in enumerate(view.children)
                if isinstance(item, MessageItem) and item.message.id in gone
            ]
            if indices:
                await view.remove_items(indices)
        elif isinstance(event, MessageDeleted):
            await self._deleted(view, event)
        elif isinstance(event, (MemberModerated, RulesChanged, RoleChanged)):
            self.refresh_room_header()
        elif isinstance(event, MemberRenamed):
            await self._renamed(view, event)

    async def _renamed(self, view: MessageList, event: MemberRenamed) -> None:
        """Every shown message under its sender's label now (the line is a notice).

        A new name can also make another member's name a look-alike: relabel all.
        """
        room = self.room()
        if room is None:
            return
        at_end = view.index is None or view.index >= len(view) - 1
        for item in view.query(MessageItem):
            sender = room.member(item.message.sender)
            if (item.message.sender_name, item.message.sender_role) != (sender.label, sender.role):
                item.message = replace(
                    item.message, sender_name=sender.label, sender_role=sender.role
                )
                item.redraw(self._find(item.message.reply_to))
        if at_end:
            view.scroll_end(animate=False)

    async def _deleted(self, view: MessageList, event: MessageDeleted) -> None:
        """Drop a deleted message; one a moderator deleted leaves a line in its place."""
        room = self.room()
        for index, item in enumerate(view.children):
            if not isinstance(item, MessageItem) or item.message.id != event.message_id:
                continue
            await view.remove_items([index])
            sender = item.message.sender
            if room is not None and event.by is not None and event.by != sender:
                # In the message's place now; rebuilt at the deletion's time later.
                text = deleted_text(room, sender, event.by)
                notice = Notice(item.message.received_at, text)
                await view.insert(index, [NoticeItem(notice)])
            return

    def _find(self, message_id: MessageId | None) -> Message | None:
        if message_id is None:
            return None
        for item in self.query("#messages MessageItem").results(MessageItem):
            if item.message.id == message_id:
                return item.message
        return None

    def _redraw_replies(self) -> None:
        for item in self.query("#messages MessageItem").results(MessageItem):
            if item.message.reply_to is not None:
                item.redraw(self._find(item.message.reply_to))

    # -- history as the person scrolls up ------------------------------------------

    @on(ListView.Highlighted, "#messages")
    def _highlighted(self, event: ListView.Highlighted) -> None:
        view = self.query_one("#messages", MessageList)
        if event.item is not None and view.index == 0:
            self.load_older()

    @work(exclusive=True, group="older")
    async def load_older(self) -> None:
        """Load the page of messages before the first one shown."""
        room = self.room()
        view = self.query_one("#messages", MessageList)
        # Our queued messages are not in the store's history yet: page from the oldest
        # message the relay has given us.
        stored = [item for item in view.query(MessageItem) if not item.queued]
        if room is None or not stored or room.id in self._exhausted:
            return
        try:
            older = await room.messages(limit=self.chat.page_size, before=stored[0].message.id)
        except KeyError:  # that message was deleted meanwhile; the next move retries
            return
        except HearthError as exc:
            self.notify(describe(exc), severity="error", title="Older messages")
            return
        if room.id != self.current:
            return
        if not older:
            self._exhausted.add(room.id)
            self.notify("This is the beginning of what you can read here.", timeout=3)
            return
        until = stored[0].message.received_at
        since = older[0].received_at if len(older) >= self.chat.page_size else None
        shown = {item.notice for item in view.query(NoticeItem)}
        notices = [
            n
            for n in self._room_notices(room)
            if n.at < until and (since is None or n.at >= since) and n not in shown
        ]
        items = timeline(older, notices)
        await view.insert(0, items)
        view.index = len(items)
        self._redraw_replies()

    # -- composing -----------------------------------------------------------------

    @on(Composer.Sent)
    async def _submit(self, event: Composer.Sent) -> None:
        text = event.text.strip()
        if not text:
            return
        room = self.chat.require_client().room(event.room_id)
        # The opt-in draft check: only a suggestion, shown beside the composer; the
        # message goes out as written and nothing is sent or reported anywhere.
        suggest = self.chat.require_client().check_draft(text).suggest
        self.query_one("#suggestion", Static).update(
            # Help that is listed: the first line for the person's region, then F1.
            escape(
                "You are not alone. It sounds like things are very hard right now. "
                f"{first_line(saved_directory(self.chat), self.chat.region)}. "
                "F1 shows more people you can talk to, at any hour."
            )
            if suggest
            else ""
        )
        if room.rules is not None and not room.rules_accepted:
            self.accept_rules_then_send(room, text)
            return
        await self._send(room, text)

    @work(exclusive=True, group="rules")
    async def accept_rules_then_send(self, room: Room, text: str) -> None:
        """Ask to accept ``room``'s rules; once accepted, send ``text`` there.

        Not accepting leaves the text where it was: the room's draft.
        """
        accepted = await self.app.push_screen_wait(RulesDialog(room))
        if accepted:
            self.refresh_room_header()
            await self._send(room, text)

    async def _send(self, room: Room, raw: str) -> None:
        if self._editing is not None and room.id == self.current:
            await self._edit(room, self._editing, raw)
            return
        text, warning = raw, None
        if text.startswith("/cw "):  # "/cw warning | text"
            head, _, rest = text[4:].partition("|")
            if rest.strip():
                warning, text = head.strip(), rest.strip()
        reply = self._reply_to if room.id == self.current else None
        try:
            message_id = await room.send(
                text, content_warning=warning, reply_to=reply.id if reply else None
            )
        except RulesNotAccepted:
            self.accept_rules_then_send(room, raw)
            return
        except HearthError as exc:
            self.notify(describe(exc), severity="error", title="Not sent")
            return
        self._clear_draft(room.id)
        if room.id == self.current:
            self._reply_to = None
            self.query_one("#replying", Static).update("")
        await self.chat.refresh_queued()
        if self._find(message_id) is None and room.id == self.current:
            client = self.chat.require_client()
            me = room.member(room.me)
            pending = Message(
                id=message_id,
                room_id=room.id,
                sender=room.me,
                sender_name=me.label,
                sender_role=me.role,
                text=text,
                sent_at=_now(),
                received_at=_now(),
                content_warning=warning,
                reply_to=reply.id if reply else None,
                mine=True,
            )
            view = self.query_one("#messages", MessageList)
            item = MessageItem(pending, queued=not client.online)
            await view.append(item)
            item.redraw(reply)
            view.index = len(view) - 1
            view.scroll_end(animate=False)
        self.refresh_status()

    # -- message actions -----------------------------------------------------------

    def _selected(self) -> Message | None:
        view = self.query_one("#messages", MessageList)
        item = view.highlighted_child
        return item.message if isinstance(item, MessageItem) else None

    @on(ListView.Selected, "#messages")
    async def _reveal_selected(self, event: ListView.Selected) -> None:
        item, room = event.item, self.room()
        if not isinstance(item, MessageItem) or room is None:
            return
        message = item.message
        if message.content_warning is not None and not message.mine:
            # Opening or closing is remembered on this device by the SDK.
            if item.revealed:
                item.message = await room.collapse(message.id)
            else:
                item.message = await room.reveal(message.id)
            item.revealed = not item.message.collapsed
        else:
            item.revealed = not item.revealed or message.content_warning is None
        item.redraw(self._find(item.message.reply_to))

    def action_reply(self) -> None:
        message = self._selected()
        if message is None:
            return
        self._reply_to, self._editing = message, None
        self.query_one("#replying", Static).update(
            f"Replying to {message.sender_display}: {_quote(message)} (Esc cancels)"
        )
        self.query_one("#composer", Composer).focus()

    def action_edit(self) -> None:
        message = self._selected()
        if message is None:
            return
        if not message.mine:
            self.notify("You can edit only your own messages.")
            return
        self._editing, self._reply_to = message, None
        self.query_one("#replying", Static).update("Editing your message (Esc cancels)")
        composer = self.query_one("#composer", Composer)
        composer.value = message.text
        composer.cursor_position = len(message.text)
        composer.focus()

    async def _edit(self, room: Room, message: Message, text: str) -> None:
        try:
            await room.edit(message.id, text)
        except HearthError as exc:
            self.notify(describe(exc), severity="error", title="Not edited")
            return
        self._editing = None
        self._clear_draft(room.id)
        self.query_one("#replying", Static).update("")

    def key_escape(self) -> None:
        if self._reply_to is not None or self._editing is not None:
            self._reply_to = self._editing = None
            self.query_one("#replying", Static).update("")

    def action_report(self) -> None:
        room, message = self.room(), self._selected()
        if room is None or message is None:
            return
        if message.mine:
            self.notify("That is your own message.")
            return

        def done(sent: bool | None) -> None:
            if sent:
                self.notify("Report sent to the room's moderators.", title="Reported")

        self.app.push_screen(ReportDialog(room, message), done)

    @work(exclusive=True, group="menu")
    async def action_actions(self) -> None:
        """Every action on the highlighted message, as a menu (Ctrl+O); Cancel focused."""
        room, message = self.room(), self._selected()
        if room is None or message is None:
            return
        chosen = await self.app.push_screen_wait(
            MessageActionsDialog(
                _quote(message), mine=message.mine, moderator=room.role in {"owner", "moderator"}
            )
        )
        if chosen is None or self._selected() != message:
            return
        # Delete, mute, remove and block each ask again, with Cancel focused.
        if chosen == "delete":
            self.action_delete()
        elif chosen == "mute":
            self.action_mute()
        elif chosen == "remove":
            self.action_remove()
        elif chosen == "block":
            self.action_block()
        elif chosen == "reply":
            self.action_reply()
        elif chosen == "edit":
            self.action_edit()
        elif chosen == "react":
            self.action_react()
        else:
            self.action_report()

    @work(exclusive=True, group="moderate")
    async def action_delete(self) -> None:
        room, message = self.room(), self._selected()
        if room is None or message is None:
            return
        if not message.mine and room.role not in {"owner", "moderator"}:
            self.notify("Only moderators and owners delete other people's messages.")
            return
        who = None if message.mine else message.sender_display
        if not await self.app.push_screen_wait(
            ConfirmDialog(*delete_question(who, _quote(message)))
        ):
            return
        try:
            await room.delete(message.id)
        except HearthError as exc:
            self.notify(describe(exc), severity="error")

    @work(exclusive=True, group="moderate")
    async def action_mute(self) -> None:
        await self._moderate_sender("mute", "Muted")

    @work(exclusive=True, group="moderate")
    async def action_remove(self) -> None:
        await self._moderate_sender("remove", "Removed")

    async def _moderate_sender(self, verb: Literal["mute", "remove"], done: str) -> None:
        """Mute or remove the selected message's sender, after the moderator confirms."""
        room, message = self.room(), self._selected()
        if room is None or message is None or message.mine:
            return
        if room.role not in {"owner", "moderator"}:
            self.notify(f"Only moderators and owners {verb} members.")
            return
        who = message.sender_display
        question = mute_question(who) if verb == "mute" else remove_question(who)
        if not await self.app.push_screen_wait(ConfirmDialog(*question)):
            return
        try:
            await (room.mute if verb == "mute" else room.remove)(message.sender)
        except HearthError as exc:
            self.notify(describe(exc), severity="error")
            return
        self.notify(
            f"{done} {who}.", markup=False
        )  # the SDK's MemberModerated puts the line in the timeline

    def action_react(self) -> None:
        room, message = self.room(), self._selected()
        if room is None or message is None:
            return

        async def chosen(emoji: str | None) -> None:
            if emoji is None:
                return
            mine = room.me in message.reactions.get(emoji, ())
            try:
                if mine:
                    await room.unreact(message.id, emoji)
                else:
                    await room.react(message.id, emoji)
            except RulesNotAccepted:
                self.notify("Accept the ground rules first (F8).")
            except HearthError as exc:
                self.notify(describe(exc), severity="error")

        self.app.push_screen(ReactDialog(), chosen)

    @work(exclusive=True, group="moderate")
    async def action_block(self) -> None:
        room, message = self.room(), self._selected()
        if room is None or message is None or message.mine:
            return
        if not await self.app.push_screen_wait(
            ConfirmDialog(*block_question(message.sender_display))
        ):
            return
        try:
            await self.chat.require_client().block(message.sender)
        except HearthError as exc:
            self.notify(describe(exc), severity="error")
            return
        self.notify(f"Blocked {message.sender_display}. Members (F5) can unblock.", markup=False)
        await self.open_room(room.id)  # show the room without them

    # -- screens one key away ------------------------------------------------------

    def action_new_room(self) -> None:
        self.app.push_screen(CreateRoomDialog(), self._opened)

    def action_join(self) -> None:
        self.app.push_screen(JoinDialog(), self._opened)

    async def _opened(self, room: Room | None) -> None:
        if room is not None:
            await self.open_room(room.id)

    def action_invite(self) -> None:
        room = self.room()
        if room is not None:
            self.app.push_screen(InviteDialog(room))

    def action_members(self) -> None:
        room = self.room()
        if room is None:
            return
        client = self.chat.require_client()
        blocked = set(client.blocked)

        async def closed(_: None) -> None:
            if set(client.blocked) != blocked and self.current == room.id:
                # Blocked or unblocked there: show the room as it now is, with (or
                # without) their messages, rather than as it was.
                await self.open_room(room.id)
            else:
                self.refresh_room_header()

        self.app.push_screen(MembersDialog(room), closed)

    def action_my_name(self) -> None:
        room = self.room()
        if room is not None:
            self.app.push_screen(NameDialog(room), self._named)

    def _named(self, saved: bool | None) -> None:
        if saved:
            self.notify("Saved. Members of this room see your new name.")

    def action_schedule(self) -> None:
        room = self.room()
        if room is not None:
            self.app.push_screen(ScheduleDialog(room))

    def action_reports(self) -> None:
        self.app.push_screen(ReportsDialog(self.chat.reports))

    def action_rules(self) -> None:
        room = self.room()
        if room is not None:
            self.app.push_screen(RulesDialog(room), lambda _: self.refresh_room_header())

    def action_support(self) -> None:
        """F9: 1:1 support in a program room; in a chat we claimed, the risk path."""
        room = self.room()
        if room is None:
            return
        claim = claimed_request(self.chat.require_client(), room)
        if claim is not None:
            program, request = claim
            self.app.push_screen(
                RiskDialog(room, program, request), partial(self._confirmed_risk, room)
            )
            return
        if room.kind != "program":
            self.notify("1:1 support is offered in program rooms.")
            return
        self.app.push_screen(SupportDialog(room), self._opened)

    def _confirmed_risk(self, chat: Room, note: str | None) -> None:
        """The supporter confirmed: raise the alert from the chat they were in."""
        if note is not None:
            _: Worker[None] = self.run_worker(partial(self._raise_risk, chat, note), group="risk")

    async def _raise_risk(self, chat: Room, note: str) -> None:
        said, failed = await raise_alert(chat, note)
        self.notify(
            said,
            title="Risk alert" + (" not sent" if failed else " sent"),
            severity="error" if failed else "information",
            timeout=30,
            markup=False,
        )

    def show_alarm(self, alarm: SecurityAlarm) -> None:
        """Open the alarm dialog for one alarm (the app calls this as it arrives)."""
        room = self.chat.require_client().room(alarm.room_id)
        self.app.push_screen(AlarmDialog(room, alarm), lambda _: self.refresh_room_header())


def _now() -> datetime:
    return datetime.now(UTC)
