"""Personal stores: a person's encrypted documents, each written by compare-and-swap.

The session's key is the store's owner; a store holds opaque documents under opaque
ids, each written by compare-and-swap on its version, within ``personal_max_docs``
documents and ``personal_max_bytes`` bytes. A write is announced to the owner's live
streams on the hub channel ``personal_channel(owner)`` (a name no room id can take),
as a ``personal`` frame small enough for any pub/sub backend. The HTTP handlers
(``server/handlers/personal.py``) and the stream (``server/stream.py``) call here.
"""

from __future__ import annotations

from typing import final

from protocol.api import PersonalFrame
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.encoding import to_json
from protocol.ids import MemberId
from server.config import Config
from server.device_links import check_id
from server.errors import RelayError
from server.hub import Hub, Listener, personal_channel
from server.storage import PersonalRecord, Storage

__all__ = ["PersonalStore"]


@final
class PersonalStore:
    """Every key's personal store, and its announcements to the owner's streams."""

    def __init__(
        self, config: Config, storage: Storage, hub: Hub, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._config = config
        self._storage = storage
        self._hub = hub
        self._clock = clock

    async def index(self, owner: MemberId) -> list[PersonalRecord]:
        """Every document of ``owner``'s store (id, version, size), by id."""
        return await self._storage.personal_index(owner)

    async def get(self, owner: MemberId, doc_text: str) -> PersonalRecord:
        """One document with its ciphertext.

        Raises:
            RelayError: ``personal.not_found``.
        """
        found = await self._storage.get_personal(owner, check_id(doc_text, "personal.not_found"))
        if found is None or found.data is None:
            raise RelayError("no such document", code="personal.not_found")
        return found

    async def put(self, owner: MemberId, doc_text: str, *, expected: int, box: bytes) -> int:
        """Store ``box`` as the version after ``expected``, announce it, return that version.

        Raises:
            RelayError: ``personal.not_found`` (a malformed id), ``personal.conflict``
                (``detail = {"version": current}``), ``personal.quota``.
        """
        doc = check_id(doc_text, "personal.not_found")
        version = await self._storage.put_personal(
            owner,
            doc,
            expected=expected,
            data=box,
            now=self._clock.now_ms(),
            max_docs=self._config.personal_max_docs,
            max_bytes=self._config.personal_max_bytes,
        )
        frame = to_json(PersonalFrame(owner=owner, id=doc, version=version))
        self._hub.publish(personal_channel(owner), version, frame)
        return version

    def follow(self, owner: MemberId, listener: Listener) -> None:
        """Announce every later write of ``owner``'s store to ``listener``."""
        self._hub.subscribe(personal_channel(owner), listener)

    def unfollow(self, owner: MemberId, listener: Listener) -> None:
        """Stop announcing ``owner``'s writes to ``listener``."""
        self._hub.unsubscribe(personal_channel(owner), listener)
