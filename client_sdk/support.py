"""What the app sees of a community program's support queue and its risk path.

A program room's members ask for 1:1 support with
:meth:`client_sdk.Room.request_support`; its supporters claim requests, which
opens a buddy chat between the two. These are read-only snapshots of that
state, taken when the app asks (:attr:`client_sdk.Room.support_queue`) or when
an event is verified (:class:`client_sdk.SupportRequested`). :class:`RiskAlert`
is what :meth:`client_sdk.Room.raise_risk_alert` did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, final

from protocol.ids import MemberId, MessageId, RoomId
from protocol.messages import CrisisResource

__all__ = ["RequestStatus", "RiskAlert", "SupportRequest", "SupporterInfo"]

RequestStatus = Literal["sending", "waiting", "claimed", "withdrawn"]
"""Where a support request stands.

- ``sending``: our own request, not yet back from the relay in room order (it
  waits in the outbox if the relay cannot be reached);
- ``waiting``: in the queue, neither claimed nor withdrawn;
- ``claimed``: a supporter took it (the first valid claim in room order);
- ``withdrawn``: the requester took it back before anyone claimed it.
"""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportRequest:
    """One request for 1:1 support in a program room.

    Attributes:
        id: The request message's id (what :meth:`Room.claim` takes).
        room_id: The program room.
        requester: Who asked (every member sees that someone asked, and who).
        text: What they would like to talk about: only the program's supporters
            and the requester can read it, for everyone else it is None.
        status: See :data:`RequestStatus`.
        position: 1 for the request next in line, 2 for the one after ...; None
            unless ``waiting``. A member who joined later cannot read requests
            made before; it learns which still wait from the queue snapshot a
            supporter sends when someone joins (see docs/sdk.md, "Community
            programs").
        supporter: Who claimed it (None unless ``claimed``).
        buddy_room_id: The buddy chat the claim opened, known only to the
            requester and the supporter who claimed it.
        sent_at: The requester's clock when they asked (None for a request
            from before our join, known only from a supporter's queue snapshot).
        mine: True if we asked.
    """

    id: MessageId
    room_id: RoomId
    requester: MemberId
    text: str | None
    status: RequestStatus
    position: int | None
    supporter: MemberId | None
    buddy_room_id: RoomId | None
    sent_at: datetime | None
    mine: bool


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SupporterInfo:
    """A supporter of a program and the availability they published.

    Attributes:
        member: The supporter's member id in the program room.
        available: True if they said they take 1:1 chats now; a supporter who
            never said is away.
        max_open: Their cap on open buddy chats from claims (None: no cap).
    """

    member: MemberId
    available: bool
    max_open: int | None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RiskAlert:
    """What a supporter's :meth:`~client_sdk.Room.raise_risk_alert` did.

    Attributes:
        buddy_room_id: The buddy chat where both buddies were shown the help.
        help_id: The ``support.risk`` message there.
        program_id: The program room.
        alert_id: The ``support.alert`` message there, sealed to ``moderators``.
        request_id: The support request whose claim opened the buddy chat.
        member: The person at risk (the requester's key in the program room).
        moderators: The program's owners and moderators the alert is sealed to.
        planned: True if the program published a risk plan; False: ``text`` and
            ``lines`` are empty, and both buddies' devices show their own
            built-in lines (the emergency advice among them).
        text: The program's words for this moment.
        lines: The program's help lines.
    """

    buddy_room_id: RoomId
    help_id: MessageId
    program_id: RoomId
    alert_id: MessageId
    request_id: MessageId
    member: MemberId
    moderators: tuple[MemberId, ...]
    planned: bool
    text: str
    lines: tuple[CrisisResource, ...]
