"""What a front end reads: decrypted, verified messages and room members."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, final

from protocol.ids import MemberId, MessageId, RoomId
from protocol.ops import Role

__all__ = ["Message", "ModerationEntry", "ModerationKind"]

ModerationKind = Literal["mute", "unmute", "ban", "unban", "remove", "role", "delete"]
"""What a :class:`ModerationEntry` records."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A text message whose signature, epoch, sender membership and counter all checked.

    Attributes:
        id: The client message id (random, chosen by the sender).
        room_id: The room.
        sender: The sender's member id in this room (a pseudonymous key).
        text: The current text (after any edit by its sender), or ``""`` while
            :attr:`collapsed`: a front end that shows ``text`` never shows a
            warned message before the person chose to open it.
        sent_at: The sender's clock when sending (UTC). A sender can lie about it;
            ``received_at`` is the relay's.
        received_at: When the relay stored it (UTC).
        content_warning: A warning the sender put in front of the text, if any.
        reply_to: The message this one answers, if any.
        edited: True if the sender edited the text since.
        mine: True if this identity sent it.
        seq: The relay's sequence number in the room (orders messages).
        collapsed: True while the message has a content warning this device has
            not opened (:meth:`client_sdk.Room.reveal`); our own are never collapsed.
        reactions: Each emoji and the members who reacted with it (members this
            identity blocked are left out).
    """

    id: MessageId
    room_id: RoomId
    sender: MemberId
    text: str
    sent_at: datetime
    received_at: datetime
    content_warning: str | None = None
    reply_to: MessageId | None = None
    edited: bool = False
    mine: bool = False
    seq: int = 0
    collapsed: bool = False
    reactions: Mapping[str, tuple[MemberId, ...]] = field(default_factory=dict)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ModerationEntry:
    """One verified moderation step, from :meth:`client_sdk.Room.moderation_history`.

    Attributes:
        action: ``remove``, ``role``, ``ban`` and ``unban`` come from signed log
            operations; ``mute`` and ``unmute`` from signed ``moderation``
            messages; ``delete`` from a moderator's or owner's signed deletion
            request. Messages count only if their author had the authority at the
            message's place in room order.
        member: Whom it concerns (None for ``delete``).
        by: The moderator or owner who signed it.
        at: Their clock, milliseconds since the Unix epoch.
        reason: The reason given, if any (mute; ban and unban: from the encrypted
            ``moderation`` message their author sent with them).
        message_id: The moderation message, or for ``delete`` the deleted message.
        role: The new role, for ``role``.
    """

    action: ModerationKind
    member: MemberId | None
    by: MemberId
    at: int
    reason: str = ""
    message_id: MessageId | None = None
    role: Role | None = None
