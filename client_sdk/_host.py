"""What a room, and the programs code driving it, need from their client.

:class:`~client_sdk.room.Room` and ``_programs`` reach the client only through
:class:`RoomHost`, a structural type, never through ``HearthClient``'s private
members; ``client.py`` implements it (``_RoomHost``). Each room's driving lives in
its :class:`~client_sdk._driver.RoomDriver`, which the host hands out by room id;
what stays here is what spans rooms. This module imports neither ``room.py`` nor
``client.py``, so the three form no import loop: rooms go by their
:class:`RoomId` here, and :class:`~client_sdk.room.Room` wraps one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

    from client_sdk._driver import RoomDriver
    from protocol.ids import MemberId, RoomId

__all__ = ["RoomHost"]


class RoomHost(Protocol):
    """The client as a :class:`~client_sdk.room.Room` and ``_programs`` see it."""

    @property
    def blocked(self) -> frozenset[MemberId]:
        """The member keys this person blocked."""
        ...

    @property
    def rooms(self) -> Mapping[RoomId, RoomDriver]:
        """Every room in the local store, left ones included, by id."""
        ...

    @property
    def buddy_lock(self) -> asyncio.Lock:
        """Held while joining a buddy chat: the automatic join and the app's call make one."""
        ...

    def driver(self, room: RoomId) -> RoomDriver:
        """A room's driver.

        Raises:
            KeyError: The local store holds no such room.
            ClientClosed: The client is not open.
        """
        ...

    async def sync(self) -> None:
        """Read every followed room up to the relay's present."""
        ...

    async def create_buddy_chat(self, name: str) -> RoomId:
        """Create a buddy chat (a 1:1 room) and return its id."""
        ...

    async def join(self, invite_link: str) -> RoomId:
        """Join a room by an invite link and return its id."""
        ...
