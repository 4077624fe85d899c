"""The block list as the SDK's hot paths read it: an in-memory view of a synced document.

The list itself is the personal store's ``blocked`` document (``_personal.py``):
encrypted in the local store, synced between the person's devices through the
relay as ciphertext, merged last-writer-wins per key. Filtering messages and
events must not wait for the store, so the client keeps this view and refreshes
it from the document when it opens, after its own block or unblock, and when
another device's change arrives (``PersonalDataChanged("blocked")``).

A block names a member id, which is a pseudonymous key of one room: Hearth
cannot tell that two keys in two rooms are one person, so neither can a block.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, final

from protocol.ids import MemberId
from protocol.personal import Document

__all__ = ["DOCUMENT", "BlockList", "blocked_in"]

DOCUMENT: Final = "blocked"
"""The personal document that holds the list (key: member id; value b"", or None
once unblocked)."""


def blocked_in(document: Document) -> frozenset[MemberId]:
    """The member ids a ``blocked`` document blocks now."""
    return frozenset(MemberId(k) for k, e in document.entries.items() if e.value is not None)


@final
class BlockList:
    """The member ids blocked now, shared by reference with the inbox."""

    __slots__ = ("_members",)

    def __init__(self, members: Iterable[MemberId] = ()) -> None:
        self._members = frozenset(members)

    @property
    def members(self) -> frozenset[MemberId]:
        """The member ids blocked now."""
        return self._members

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def replace(self, members: Iterable[MemberId]) -> None:
        """Take the document's current set (after a change on any device)."""
        self._members = frozenset(members)
