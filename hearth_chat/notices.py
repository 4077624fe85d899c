"""The timeline's notices: what happened to a room, as lines between its messages.

A person should never see a member appear, disappear or fall silent, or a message
vanish, without being told. So joins, leaves, removals, role changes, mutes, bans
and warnings (the SDK's verified :class:`~client_sdk.MemberJoined`,
:class:`~client_sdk.MemberLeft`, :class:`~client_sdk.MemberRemoved`,
:class:`~client_sdk.RoleChanged`, :class:`~client_sdk.MemberModerated` events)
become a :class:`Notice` in the room's timeline, and a message a moderator deleted
(a :class:`~client_sdk.MessageDeleted` whose ``by`` is not its sender) is replaced
by one saying so. A sender's deletion of their own message leaves no line: that is
theirs to take back. The risk path leaves lines too: in a buddy chat, that the
supporter shared the program's help (with the lines, so they stay after the
crisis screen closes); in a program room, a new risk plan, and for its
moderators each risk alert (:mod:`hearth_chat.risk`).

The SDK stores messages, not these events, but it keeps what they come from: the
signed log and the verified moderation. So when a room is opened, its arrivals,
departures, removals, role changes, mutes, bans and moderators' deletions are
rebuilt from ``Room.membership_history`` and ``Room.moderation_history``
(:func:`history_notices`), after a restart too, and the same on every device;
only renames and the risk path's lines live for the app's session. Notices are
placed among the messages by time (:func:`interleave`), a rebuilt one at its
signer's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, final

from textual.widgets import ListItem, Static

from client_sdk import (
    CrisisResource,
    Event,
    MemberId,
    MemberJoined,
    MemberLeft,
    MemberModerated,
    MemberRemoved,
    MemberRenamed,
    Message,
    ModerationEntry,
    RiskAlertReceived,
    RiskHelpShown,
    RiskPlanChanged,
    RoleChanged,
    Room,
)

__all__ = [
    "MAX_NOTICES",
    "SESSION_ONLY",
    "Notice",
    "NoticeItem",
    "deleted_text",
    "history_notices",
    "interleave",
    "notice_text",
]

MAX_NOTICES: Final = 500
"""Notices kept per room for one session (the oldest go first)."""

_ARTICLE: Final = {"owner": "an owner", "moderator": "a moderator", "supporter": "a supporter"}
_DONE: Final = {
    "mute": "muted",
    "unmute": "unmuted",
    "ban": "banned",
    "unban": "unbanned",
    "warn": "warned",
}


@final
@dataclass(frozen=True, slots=True)
class Notice:
    """Something that happened to a room, for its timeline (not a message)."""

    at: datetime
    """When: the event's arrival, or a deleted message's own time (to stand in its place)."""
    text: str


@final
class NoticeItem(ListItem):
    """One notice in the timeline: a dim line between the messages."""

    def __init__(self, notice: Notice) -> None:
        when = notice.at.astimezone().strftime("%H:%M")
        super().__init__(Static(f"{when} · {notice.text}", markup=False))
        self.notice = notice
        self.add_class("notice")


def _name(room: Room, member: MemberId) -> str:
    """A member as the timeline names them: "you", or the SDK's label, with the log's
    role beside a chosen name (so that a name never passes for a role)."""
    if member == room.me:
        return "you"
    shown = room.member(member)
    return shown.display if shown.name is not None else shown.label


def notice_text(room: Room, event: Event) -> str | None:
    """What a membership or moderation event says in the timeline (None: not a notice)."""
    if isinstance(event, MemberJoined):
        role = f" as {event.role}" if event.role != "member" else ""
        if event.by is None:
            return f"{_name(room, event.member)} joined{role}"
        return f"{_name(room, event.by)} added {_name(room, event.member)}{role}"
    if isinstance(event, MemberLeft):
        return f"{_name(room, event.member)} left"
    if isinstance(event, MemberRemoved):
        return f"{_name(room, event.by)} removed {_name(room, event.member)} from the room"
    if isinstance(event, RoleChanged):
        role = _ARTICLE.get(event.role, "a member")
        return f"{_name(room, event.by)} made {_name(room, event.member)} {role}"
    if isinstance(event, MemberModerated):
        reason = f": {event.reason}" if event.reason else ""
        done = _DONE.get(event.action, event.action)
        return f"{_name(room, event.by)} {done} {_name(room, event.member)}{reason}"
    return _risk_text(room, event)


def _risk_text(room: Room, event: Event) -> str | None:
    """What the risk path's events say in the timeline (None: not one of them)."""
    if isinstance(event, RiskHelpShown):
        lines = "; ".join(_line(r) for r in event.lines) or "the lines built into your app"
        words = f" “{event.text}”" if event.text else ""
        return f"{_name(room, event.by)} shared help for right now:{words} {lines} (F1: more)"
    if isinstance(event, RiskPlanChanged):
        return f"{_name(room, event.by)} published the program's risk plan"
    if isinstance(event, RiskAlertReceived):
        note = f": “{event.note}”" if event.note else ""
        # Roles always shown here: a moderator acts on who raised it and for whom.
        return (
            f"RISK ALERT from {room.member(event.supporter).display}, who fears "
            f"{room.member(event.member).display} is at imminent risk{note}. They are in a "
            "private 1:1 chat together."
        )
    return None


def _line(resource: CrisisResource) -> str:
    contact = resource.phone or resource.sms or resource.url
    return f"{resource.name} ({contact})" if contact else resource.name


SESSION_ONLY: Final = (MemberRenamed, RiskHelpShown, RiskPlanChanged, RiskAlertReceived)
"""Events whose notices the app keeps itself; the others are rebuilt from the SDK."""


def history_notices(room: Room) -> list[Notice]:
    """The room's story from the signed log and verified moderation, oldest first.

    Says what the live events said (:func:`notice_text`), so a room reads the same
    after a restart. Our own arrival is left out, as it is live.
    """
    notices: list[Notice] = []
    for joined in room.membership_history():
        if joined.action == "leave":
            event: Event = MemberLeft(room_id=room.id, member=joined.member, role=joined.role)
        elif joined.member == room.me:
            continue
        else:
            event = MemberJoined(
                room_id=room.id, member=joined.member, role=joined.role or "member", by=joined.by
            )
        text = notice_text(room, event)
        if text is not None:
            notices.append(_at(joined.at, text))
    for step in room.moderation_history():
        text = _moderation_text(room, step)
        if text is not None:
            notices.append(_at(step.at, text))
    return sorted(notices, key=lambda n: n.at)


def _at(ms: int, text: str) -> Notice:
    return Notice(datetime.fromtimestamp(ms / 1000, UTC), text)


def _moderation_text(room: Room, step: ModerationEntry) -> str | None:
    if step.action == "delete":
        if step.member == step.by:  # a moderator taking back their own words: no line
            return None
        if step.member is None:  # recorded before deletions named their sender
            return f"a message was removed by a moderator ({_name(room, step.by)})"
        return deleted_text(room, step.member, step.by)
    if step.member is None:
        return None
    if step.action == "remove":
        event: Event = MemberRemoved(room_id=room.id, member=step.member, by=step.by)
    elif step.action == "role":
        event = RoleChanged(
            room_id=room.id, member=step.member, role=step.role or "member", by=step.by
        )
    else:
        event = MemberModerated(
            room_id=room.id,
            action=step.action,
            member=step.member,
            by=step.by,
            reason=step.reason,
        )
    return notice_text(room, event)


def deleted_text(room: Room, sender: MemberId, by: MemberId) -> str:
    """The line that stands where a moderator's deletion took a message away."""
    return f"a message from {_name(room, sender)} was removed by a moderator ({_name(room, by)})"


def interleave(messages: Sequence[Message], notices: Sequence[Notice]) -> list[Message | Notice]:
    """Messages (in room order) with the notices placed among them by time.

    A notice goes before the first message the relay received after it; the
    messages keep their order.
    """
    waiting = sorted(notices, key=lambda n: n.at)
    lines: list[Message | Notice] = []
    next_notice = 0
    for message in messages:
        while next_notice < len(waiting) and waiting[next_notice].at < message.received_at:
            lines.append(waiting[next_notice])
            next_notice += 1
        lines.append(message)
    lines.extend(waiting[next_notice:])
    return lines
