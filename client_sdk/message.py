"""What a front end reads: decrypted, verified messages and room members.

Names and roles are shown the same way everywhere: a member's *label* is the
display name they chose in the room, with a short key beside it when another
member's name looks alike (``protocol.names.name_skeleton``), or their short key
if they chose none; their role comes from the verified log only, so a member who
calls themselves "Supporter Sam" is still shown as a member
(:func:`display_label`: ``"Sam (supporter)"``, ``"Ana (you, owner)"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, final

from protocol.ids import MemberId, MessageId, RoomId
from protocol.ops import Role

__all__ = [
    "MembershipEntry",
    "MembershipKind",
    "Message",
    "ModerationEntry",
    "ModerationKind",
    "RoomMember",
    "display_label",
    "short_key",
]

ModerationKind = Literal["mute", "unmute", "ban", "unban", "remove", "role", "delete"]
"""What a :class:`ModerationEntry` records."""

MembershipKind = Literal["join", "add", "leave"]
"""What a :class:`MembershipEntry` records."""


def short_key(member: MemberId | str) -> str:
    """A member key shortened for display: the label of a member who chose no name."""
    return member[:8]


def display_label(label: str, role: Role | None, *, me: bool = False) -> str:
    """How to show a member: ``"Sam (supporter)"``, ``"Ana (you, owner)"``, ``"Jo (left)"``.

    The role is always shown, ``member`` included, so that a name cannot pass for
    a role; ``left`` stands for someone no longer in the room.
    """
    marks = (["you"] if me else []) + [role or "left"]
    return f"{label} ({', '.join(marks)})"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RoomMember:
    """A member as a front end shows them, from :meth:`client_sdk.Room.member`.

    Attributes:
        id: The member key in this room.
        name: The display name they chose here (NFC), or None.
        label: What to show for them: ``name``, with a short key beside it
            (``"Sam ·JyTA"``) if another member's name looks alike, or their
            short key if they chose no name.
        role: Their role in the verified log (None once they left or were removed).
        is_me: True for this identity.
    """

    id: MemberId
    name: str | None
    label: str
    role: Role | None
    is_me: bool = False

    @property
    def display(self) -> str:
        """The label with the role (and "you"): ``"Sam (supporter)"``."""
        return display_label(self.label, self.role, me=self.is_me)


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
        sender_name: The sender's display label in the room when this object was
            made (see :class:`RoomMember`; empty only for a message a front end
            built itself).
        sender_role: The sender's role in the verified log then (None: no longer
            a member).
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
    sender_name: str = ""
    sender_role: Role | None = None

    @property
    def sender_display(self) -> str:
        """The sender as a timeline shows them: ``"Sam (supporter)"``, ``"Ana (you, owner)"``."""
        return display_label(
            self.sender_name or short_key(self.sender), self.sender_role, me=self.mine
        )


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
        member: Whom it concerns; for ``delete``, the deleted message's sender (None
            in a record an SDK before 7 December 2026 stored).
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


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipEntry:
    """One arrival or departure, from :meth:`client_sdk.Room.membership_history`.

    Read from the signed room log, so it is complete for every member and the
    same on every device; removals and bans are in
    :meth:`~client_sdk.Room.moderation_history`.

    Attributes:
        action: ``join`` (by invite, or the room's creation), ``add`` (added by
            ``by``), ``leave`` (of their own accord).
        member: Who arrived or left.
        by: Who added them (``add`` only).
        role: The role they arrived with, or for ``leave`` the one they had.
        at: The signer's clock, milliseconds since the Unix epoch.
    """

    action: MembershipKind
    member: MemberId
    by: MemberId | None = None
    role: Role | None = None
    at: int
