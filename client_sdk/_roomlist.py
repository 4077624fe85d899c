"""The personal store's ``rooms`` document: which rooms this person is in, with heads.

Pure: what the client publishes and takes up, decided from plain values. Each
entry is keyed by room id; its value is the last log head a device of this person
verified there (a msgpack :class:`~protocol.personal.VerifiedHead`), or
``_ROOM_LISTED`` while that device's log was still empty. A restore or a new
device checks the relay's log against the heads (protocol.md 5.8), so a listed
head only ever moves forward along the same log, never back or aside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from protocol.encoding import canonical, from_msgpack
from protocol.errors import DecodeError, ForkDetected
from protocol.ids import RoomId
from protocol.personal import LinkRoom, VerifiedHead, check_verified_head
from protocol.roomlog import RoomLog

if TYPE_CHECKING:
    from client_sdk._core.state import RoomState
    from protocol.personal import Document

__all__ = ["DOCUMENT", "changes", "wanted"]

DOCUMENT: Final = "rooms"
_ROOM_LISTED: Final = b"\x01"
"""A ``rooms`` entry with no verified head yet (the room's log was empty here)."""


def _listed_head(value: bytes) -> VerifiedHead | None:
    """The verified head a ``rooms`` entry carries (None for a bare listing)."""
    if value == _ROOM_LISTED:
        return None
    try:
        return from_msgpack(value, VerifiedHead)
    except DecodeError:
        # Written by this person's own devices and sealed with their key: an entry
        # that does not decode is from a newer SDK; it lists the room, no more.
        return None


def _moves_forward(log: RoomLog, listed: bytes, mark: VerifiedHead) -> bool:
    """True if ``mark`` is later than the listed head, on the same log."""
    old = _listed_head(listed)
    if old is None:
        return True
    if mark.index <= old.index:
        return False
    try:
        check_verified_head(log, old)
    except ForkDetected:
        return False  # another device saw another history: never paper over it
    return True


def changes(document: Document, rooms: Mapping[RoomId, RoomState]) -> dict[str, bytes | None]:
    """The entries to write so that ``document`` lists the rooms this device follows.

    Rooms we are in are added with the head this device verified, or moved
    forward to it; rooms we left or were removed from get a tombstone (None).
    Rooms the document lists that this device has not taken up are left alone.
    """
    listed = {k: e.value for k, e in document.entries.items() if e.value is not None}
    out: dict[str, bytes | None] = {}
    for room, state in rooms.items():
        if state.status == "active":
            mark = state.verified_head
            if room not in listed:
                out[room] = _ROOM_LISTED if mark is None else canonical(mark)
            elif mark is not None and _moves_forward(state.log, listed[room], mark):
                out[room] = canonical(mark)
        elif room in listed:
            out[room] = None
    return out


def wanted(document: Document, linked: Iterable[LinkRoom]) -> dict[RoomId, list[VerifiedHead]]:
    """Every room ``document`` (or a link offer) lists, with the heads verified in it."""
    out: dict[RoomId, list[VerifiedHead]] = {}
    for key, entry in document.entries.items():
        if entry.value is not None:
            mark = _listed_head(entry.value)
            out.setdefault(RoomId(key), []).extend([mark] if mark else [])
    for room in linked:
        marks = out.setdefault(room.room, [])
        marks.extend([room.verified] if room.verified else [])
    return out
