"""What a room, and the programs code driving it, need from their client.

:class:`~client_sdk.room.Room` and ``_programs`` reach the client only through
:class:`RoomHost`, a structural type, never through ``HearthClient``'s private
members; ``client.py`` implements it (``_RoomHost``). This module imports neither
``room.py`` nor ``client.py``, so the three form no import loop: rooms go by their
:class:`RoomId` here, and :class:`~client_sdk.room.Room` wraps one.

Each room's driving (commit with rebase, catch-up, epochs, send) still lives in the
client; when it moves to the room (issue 18, item 1), the operations below that
only forward a room id go with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

    from client_sdk._core.state import RoomState
    from client_sdk._core.step import Step
    from client_sdk._slot import Slot
    from client_sdk.message import Message
    from protocol.ids import MemberId, MessageId, RoomId
    from protocol.messages import Body
    from protocol.ops import Role, SignedOp

__all__ = ["RoomHost"]


class RoomHost(Protocol):
    """The client as a :class:`~client_sdk.room.Room` and ``_programs`` see it.

    A method that looks a room up raises ``KeyError`` for one the store does not
    hold, and ``ClientClosed`` unless the client is open.
    """

    # -- the rooms and what they share -------------------------------------------------

    @property
    def blocked(self) -> frozenset[MemberId]:
        """The member keys this person blocked."""
        ...

    @property
    def slots(self) -> Mapping[RoomId, Slot]:
        """Every room in the local store, left ones included, by id."""
        ...

    @property
    def buddy_lock(self) -> asyncio.Lock:
        """Held while joining a buddy chat: the automatic join and the app's call make one."""
        ...

    def slot(self, room: RoomId) -> Slot:
        """A room's state and its locks."""
        ...

    def state_of(self, room: RoomId) -> RoomState:
        """A room's verified state."""
        ...

    # -- driving one room --------------------------------------------------------------

    async def send(self, slot: Slot, body: Body) -> MessageId:
        """Seal ``body``, store it in the outbox and deliver it."""
        ...

    async def save(self, slot: Slot, step: Step) -> None:
        """Persist a change of the room's plain state. Called holding ``slot.lock``."""
        ...

    async def sync(self) -> None:
        """Read every followed room up to the relay's present."""
        ...

    async def room_op(self, room: RoomId, build: Callable[[RoomState], SignedOp | None]) -> None:
        """Commit the log operation ``build`` makes from the room's state (None: nothing)."""
        ...

    async def room_send(self, room: RoomId, body: Body) -> MessageId:
        """:meth:`send` by room id."""
        ...

    async def room_delete(self, room: RoomId, message_id: MessageId) -> None:
        """Delete our own message, for everyone."""
        ...

    async def room_report(self, room: RoomId, message_id: MessageId, reason: str) -> MessageId:
        """Report a message to the room's moderators."""
        ...

    async def room_invite(
        self, room: RoomId, *, max_uses: int, expires_in: float, role: Role
    ) -> str:
        """Register an invite key in the log and return its link."""
        ...

    async def room_acknowledge(self, room: RoomId, alarm_ids: Iterable[int] | None) -> list[int]:
        """Acknowledge security alarms (None: all); return those acknowledged."""
        ...

    async def room_leave(self, room: RoomId) -> None:
        """Leave the room."""
        ...

    async def room_expire(self, room: RoomId) -> None:
        """Drop the stored messages older than the room's retention."""
        ...

    async def room_reveal(self, room: RoomId, message_id: MessageId, revealed: bool) -> Message:
        """Show or hide a message a moderator hid."""
        ...

    async def room_messages(
        self, room: RoomId, limit: int, before: MessageId | None
    ) -> list[Message]:
        """Stored messages, newest last."""
        ...

    async def room_outbox(self, room: RoomId) -> int:
        """How many of our messages wait to be delivered."""
        ...

    async def room_register_push(self, room: RoomId, endpoint: str) -> None:
        """Register a push endpoint for the room."""
        ...

    async def room_unregister_push(self, room: RoomId) -> None:
        """Unregister the room's push endpoint."""
        ...

    # -- rooms made or joined by the programs code -------------------------------------

    async def create_buddy_chat(self, name: str) -> RoomId:
        """Create a buddy chat (a 1:1 room) and return its id."""
        ...

    async def join(self, link: str) -> RoomId:
        """Join a room by an invite link and return its id."""
        ...
