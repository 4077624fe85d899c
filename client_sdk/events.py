"""Typed events a client yields from :meth:`HearthClient.events`.

Every event is a frozen dataclass naming its room. Nothing here reaches the app
before the room log operation or the message behind it verified: membership
events come from :class:`protocol.RoomLog`, messages from ``open_message`` plus
the membership, epoch, head and counter checks of the room state.

Events about a member say how to show them without another call: ``name`` is the
member's display label in the room when the event happened (their chosen name,
with a short key beside it if another member's name looks alike, or the short key
if they chose none; :class:`client_sdk.RoomMember`), ``role`` their role in the
verified log (never in the name), and ``by_name``/``by_role`` the same for ``by``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, final

from client_sdk.message import Message
from client_sdk.support import SupportRequest
from protocol.ids import MemberId, MessageId, RoomId
from protocol.messages import CrisisResource, Envelope, ModerationAction, ScheduleBody
from protocol.ops import Role

__all__ = [
    "AlarmKind",
    "ConnectionChanged",
    "DeliveryState",
    "Event",
    "MemberJoined",
    "MemberLeft",
    "MemberModerated",
    "MemberRemoved",
    "MemberRenamed",
    "MessageDeleted",
    "MessageEdited",
    "MessageReceived",
    "MessagesExpired",
    "OutboxChanged",
    "PersonalDataChanged",
    "ProfileChanged",
    "ReactionChanged",
    "ReportReceived",
    "RetentionChanged",
    "RiskAlertReceived",
    "RiskHelpShown",
    "RiskPlanChanged",
    "RoleChanged",
    "RulesAccepted",
    "RulesChanged",
    "ScheduleChanged",
    "SecurityAlarm",
    "SupportClaimed",
    "SupportRequested",
    "SupportWithdrawn",
    "SupporterStatusChanged",
]

AlarmKind = Literal["log_invalid", "fork", "withheld", "unknown_epoch", "bad_message"]
"""Why a room raised an alarm.

- ``log_invalid``: a room-log operation failed verification (signature, chain,
  authority or commit); the room stops processing until the alarm is acknowledged.
- ``fork``: the relay showed two histories (two operations at one index, or a
  message naming a log head that is not in the log).
- ``withheld``: a sender's counter has a gap that a complete sync did not fill.
- ``unknown_epoch``: a message under an epoch the verified log never started.
- ``bad_message``: a message that fails its signature, decryption, membership or
  counter checks; it is dropped.
"""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    """A new verified message (including this identity's own, once the relay has it)."""

    room_id: RoomId
    message: Message


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited:
    """A sender replaced the text of one of their messages; ``message`` is the new state."""

    room_id: RoomId
    message: Message


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted:
    """A message was deleted by its sender or a moderator (``by``)."""

    room_id: RoomId
    message_id: MessageId
    by: MemberId | None
    by_name: str = ""
    by_role: Role | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionChanged:
    """``member`` added (or, with ``removed``, took back) ``emoji`` on a message.

    ``message`` is the message's new state, :attr:`Message.reactions` included.
    Reactions from members this identity blocked raise no event.
    """

    room_id: RoomId
    message: Message
    member: MemberId
    emoji: str
    removed: bool


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MessagesExpired:
    """The room's retention removed these messages from this device's store.

    The relay purges them too (disappearing messages); a front end drops them
    from view. ``before`` is the cutoff: everything the relay received earlier went.
    """

    room_id: RoomId
    message_ids: tuple[MessageId, ...]
    before: datetime


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined:
    """A member joined (by invite) or was added (``by`` names who added them).

    A newcomer's ``name`` is their short key: the name they choose arrives after
    (:class:`MemberRenamed`).
    """

    room_id: RoomId
    member: MemberId
    role: Role
    by: MemberId | None = None
    name: str = ""
    by_name: str = ""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberLeft:
    """A member left of their own accord (``role``: the one they had)."""

    room_id: RoomId
    member: MemberId
    name: str = ""
    role: Role | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRemoved:
    """A moderator or owner (``by``) removed a member (``role``: the one they had)."""

    room_id: RoomId
    member: MemberId
    by: MemberId
    name: str = ""
    role: Role | None = None
    by_name: str = ""
    by_role: Role | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberModerated:
    """A moderator or owner (``by``) muted, unmuted, banned or unbanned ``member``.

    Mutes come from a signed ``moderation`` message, honoured only if ``by``
    outranked ``member`` at the message's place in room order. Bans and unbans
    come from the verified log (``room.ban``, ``room.unban``); a ban of a member
    follows the :class:`MemberRemoved` it causes, and ``reason`` is the one ``by``
    gave in an encrypted ``moderation`` message before it (empty if none).
    """

    room_id: RoomId
    action: ModerationAction
    member: MemberId
    by: MemberId
    reason: str
    name: str = ""
    role: Role | None = None
    by_name: str = ""
    by_role: Role | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RoleChanged:
    """``member`` now has ``role``, set by ``by``."""

    room_id: RoomId
    member: MemberId
    role: Role
    by: MemberId
    name: str = ""
    by_name: str = ""
    by_role: Role | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRenamed:
    """``member`` chose a display name in this room (a signed ``member.profile`` message).

    ``old`` and ``new`` are the member's display labels before and after (the
    short key stands for no name); ``role`` is theirs in the verified log. A
    look-alike of another member's name shows with a short key beside it.
    """

    room_id: RoomId
    member: MemberId
    old: str
    new: str
    role: Role | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionChanged:
    """An owner (``by``) changed how long the room keeps messages (a signed log operation).

    ``retention_days`` None keeps them until deleted. The relay and every
    member's device purge messages older than this.
    """

    room_id: RoomId
    retention_days: int | None
    by: MemberId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RulesChanged:
    """A moderator or owner published version ``version`` of the ground rules."""

    room_id: RoomId
    version: int
    text: str
    by: MemberId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RulesAccepted:
    """``member`` accepted version ``version`` of the ground rules (a signed message)."""

    room_id: RoomId
    member: MemberId
    version: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileChanged:
    """The room's encrypted profile (name, topic, description) changed."""

    room_id: RoomId
    name: str
    topic: str
    description: str
    by: MemberId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReportReceived:
    """A member reported a message to us (we are a moderator, owner or supporter).

    Only the members the reporter chose can read it. Before this event, the SDK
    checked the reporter's signature over the report and the reported sender's
    signature over ``evidence`` (their original envelope).

    Attributes:
        room_id: The room.
        report_id: The report message's id.
        reporter: Who reported.
        message_id: The reported message.
        sender: Who wrote the reported message (signed ``evidence``).
        reason: The reporter's reason.
        text: The reported text, decrypted from ``evidence`` if we hold its epoch.
        recipients: Everyone the report went to.
        evidence: The reported message's envelope; ``protocol.verify_signature`` checks it.
    """

    room_id: RoomId
    report_id: MessageId
    reporter: MemberId
    message_id: MessageId
    sender: MemberId
    reason: str
    text: str | None
    recipients: tuple[MemberId, ...]
    evidence: Envelope


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleChanged:
    """A moderator or owner published the room's meeting schedule (or cancelled it)."""

    room_id: RoomId
    schedule: ScheduleBody
    by: MemberId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportRequested:
    """A program member asked for 1:1 support (our own request too, once in room order).

    ``request.text`` is readable only by the program's supporters and the
    requester; ``request.position`` is its place in the queue when it arrived.
    """

    room_id: RoomId
    request: SupportRequest


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportClaimed:
    """A supporter took a request: it left the queue, and a buddy chat opened.

    Every member sees it. ``buddy_room_id`` is set only for the requester and
    the supporter who claimed (the requester's SDK joins that buddy chat by
    itself; :meth:`Room.buddy_chat` returns it).
    """

    room_id: RoomId
    request_id: MessageId
    requester: MemberId
    supporter: MemberId
    buddy_room_id: RoomId | None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportWithdrawn:
    """The requester took back a request nobody had claimed."""

    room_id: RoomId
    request_id: MessageId
    requester: MemberId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SupporterStatusChanged:
    """A supporter said they are available for 1:1 chats, or away, and their cap."""

    room_id: RoomId
    member: MemberId
    available: bool
    max_open: int | None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RiskPlanChanged:
    """A moderator or owner of a program published its path for a member at imminent risk.

    Attributes:
        room_id: The program room.
        text: What supporters do, and what the person can do.
        lines: The help lines the program chose (each with its regions).
        by: Who published it.
    """

    room_id: RoomId
    text: str
    lines: tuple[CrisisResource, ...]
    by: MemberId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RiskHelpShown:
    """In a buddy chat, the supporter showed both buddies the program's help now.

    Both buddies' devices raise it, from one signed message of the chat's owner
    (the supporter who opened it). ``lines`` and ``text`` are the program's risk
    plan as the supporter read it, empty if the program has none: show them
    **beside** this device's own lines for the person's region, never instead
    (``CrisisDirectory.alongside(lines, region)``), so the built-in emergency
    advice is always there.

    Attributes:
        room_id: The buddy chat.
        message_id: The ``support.risk`` message.
        text: The program's words for this moment ("" if it has no plan).
        lines: The program's help lines (empty if it has no plan).
        by: The supporter who raised it (their key in the buddy chat).
    """

    room_id: RoomId
    message_id: MessageId
    text: str
    lines: tuple[CrisisResource, ...]
    by: MemberId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RiskAlertReceived:
    """A supporter fears a member of the program is at imminent risk (we moderate it).

    Only the program's owners and moderators (and the supporter's own devices)
    can read it; before this event the SDK checked the supporter's signature and
    that their role in the program's log, at the alert's place, was supporter,
    moderator or owner. Anyone else's alert is ignored.

    Attributes:
        room_id: The program room.
        alert_id: The ``support.alert`` message's id.
        supporter: Who raised it (their key in the program room).
        member: The person they fear for (the requester's key in the program room).
        request_id: The support request whose claim opened the buddy chat.
        buddy_room_id: The buddy chat (moderators are not in it).
        note: What the supporter wrote.
        at: The supporter's clock when they raised it.
    """

    room_id: RoomId
    alert_id: MessageId
    supporter: MemberId
    member: MemberId
    request_id: MessageId
    buddy_room_id: RoomId
    note: str
    at: datetime


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityAlarm:
    """Something a relay or member did that the verification refused.

    The room refuses to send (``room.blocked``) until the app has shown the alarm
    and called :meth:`Room.acknowledge_alarms`.

    Attributes:
        room_id: The room.
        kind: What went wrong; see :data:`AlarmKind`.
        detail: A human-readable explanation (no secrets, no plaintext).
        alarm_id: Stable id within the room, for acknowledging.
        code: The underlying protocol error code, if any (``log.bad_signature``).
    """

    room_id: RoomId
    kind: AlarmKind
    detail: str
    alarm_id: int
    code: str | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionChanged:
    """The live connection to the relay came up (``online``) or went down."""

    online: bool


DeliveryState = Literal["retrying", "storage", "offline", "sent"]
"""How a room's unsent messages are doing (:class:`OutboxChanged`).

- ``retrying``: the relay asked us to slow down (``rate.limited``) or had a passing
  trouble; the SDK tries again by itself in ``retry_in`` seconds.
- ``storage``: the relay answers but cannot store messages right now (its disk is
  full or its database is down); tried again by itself in ``retry_in`` seconds.
- ``offline``: the relay cannot be reached; the messages go out once it can.
- ``sent``: nothing waits any more (after one of the states above).
"""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxChanged:
    """A room's outbox could not deliver (or finally delivered) what waits in it.

    Messages stay queued in every state but ``sent``, and go out exactly once, by
    themselves, while the client follows rooms live; a front end only shows it
    ("sending, next try in 3 s", "the relay cannot store messages right now",
    "offline").

    Attributes:
        pending: How many of our messages still wait in the room.
        retry_in: Seconds until the SDK tries again by itself; None when it waits
            for the connection to come back (or nothing waits).
    """

    room_id: RoomId
    state: DeliveryState
    pending: int
    retry_in: float | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalDataChanged:
    """A personal document changed on another device of this person (or by a merge).

    ``document`` is ``"rooms"``, ``"settings"``, ``"blocked"`` or ``"notes"``;
    read it again (e.g. ``await client.personal.notes.list()``).
    """

    document: str


Event = (
    MessageReceived
    | MessageEdited
    | MessageDeleted
    | ReactionChanged
    | MessagesExpired
    | MemberJoined
    | MemberLeft
    | MemberRemoved
    | MemberModerated
    | RoleChanged
    | MemberRenamed
    | RetentionChanged
    | RulesChanged
    | RulesAccepted
    | ProfileChanged
    | ReportReceived
    | ScheduleChanged
    | SupportRequested
    | SupportClaimed
    | SupportWithdrawn
    | SupporterStatusChanged
    | RiskPlanChanged
    | RiskHelpShown
    | RiskAlertReceived
    | SecurityAlarm
    | ConnectionChanged
    | OutboxChanged
    | PersonalDataChanged
)
"""Everything :meth:`HearthClient.events` yields."""
