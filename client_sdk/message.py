"""What a front end reads: decrypted, verified messages and room members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import final

from protocol.ids import MemberId, MessageId, RoomId

__all__ = ["Message"]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A text message whose signature, epoch, sender membership and counter all checked.

    Attributes:
        id: The client message id (random, chosen by the sender).
        room_id: The room.
        sender: The sender's member id in this room (a pseudonymous key).
        text: The current text (after any edit by its sender).
        sent_at: The sender's clock when sending (UTC). A sender can lie about it;
            ``received_at`` is the relay's.
        received_at: When the relay stored it (UTC).
        content_warning: A warning the sender put in front of the text, if any.
        reply_to: The message this one answers, if any.
        edited: True if the sender edited the text since.
        mine: True if this identity sent it.
        seq: The relay's sequence number in the room (orders messages).
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
