"""The storage interface of the relay: what it keeps, as typed async operations.

Everything the relay persists goes through :class:`Storage`; no SQL lives outside an
implementation, and no rule inside one: what a backend decides from the rows it read
(conflicts, caps, quotas, what a purge or an erasure covers) is a function of
:mod:`server.storage._rules`, shared by both, and ``tests/server/test_storage_contract.py``
runs every method on both. Each mutating method is one transaction: when it returns, the
change is durable (the relay acknowledges only then), and when it raises
:class:`~server.errors.StorageError`, nothing of it happened.

Sequence numbers are assigned here, in the same transaction as the event they
number: per room, contiguous from 1. Event times (``ts``, milliseconds) never go
backwards within a room, so retention can purge a prefix of the sequence.

These guarantees hold between every writer of the storage, not only within one
relay process: several relay instances may share one PostgreSQL database, each
with its own cache of room logs. So a write that was verified against a cached log
names that log's last index (``log_index``), and the storage refuses it with
``log.conflict`` if the room's log has moved on meanwhile.

What is stored is what the relay may know (docs/operator.md): room ids, signed log
operations, pseudonymous member keys and roles, message envelopes (ciphertext),
signed deletion requests, blob ciphertext and sizes, times. Session tokens are not
stored at all (the relay verifies them by their MAC, :mod:`server.auth`); what is
written per key besides room events carries no time finer than a day
(:func:`day_floor`), so that a reader of the disk cannot group one person's keys
by when they signed in or were used (docs/security.md).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, final

from protocol.api import (
    ErasedEvent,
    LogEvent,
    MessageEvent,
    RoomEvent,
    TombstoneEvent,
)
from protocol.ids import MemberId, MessageId, RoomId
from protocol.messages import DeleteRequest, Envelope, EraseRequest
from protocol.ops import PROTOCOL_VERSION, Policy, Role, SignedOp
from server.errors import RelayError, StorageError

__all__ = [
    "ChallengeRecord",
    "MessageRecord",
    "PersonalRecord",
    "PushTarget",
    "RoomInfo",
    "SessionRecord",
    "Storage",
    "day_floor",
    "refuse_old_rooms",
]

DAY_MS: Final = 86_400_000


def day_floor(ts: int) -> int:
    """``ts`` (milliseconds) rounded down to its UTC day: the finest time written per key."""
    return ts - ts % DAY_MS


@final
@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room's counters."""

    room: RoomId
    last_seq: int
    low_water: int
    retention_days: int | None


@final
@dataclass(frozen=True, slots=True)
class MessageRecord:
    """What the relay remembers of a stored message, even after its deletion."""

    seq: int
    ts: int
    sender: MemberId
    digest: bytes
    """BLAKE2b of the envelope's canonical bytes: a retry must match it exactly."""
    removed_by: int | None
    """``seq`` of the tombstone or erasure that deleted the ciphertext, if any."""


@final
@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What a valid session token says: its key, its right to create rooms, its expiry.

    Never stored: the token carries it under the relay's MAC (:mod:`server.auth`).
    """

    member: MemberId
    can_create: bool
    expires_at: int


@final
@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    """An auth challenge waiting for its answer (single use, short-lived).

    It names no key (it is stored under a hash of the challenge, whose bytes carry a MAC
    binding the key): a pending row that named it would time that key's sign-in on
    disk (PostgreSQL keeps challenges in a table).
    """

    expires_at: int
    pow_difficulty: int


@final
@dataclass(frozen=True, slots=True)
class PushTarget:
    """One device's push registration under a member key."""

    member: MemberId
    device: str
    endpoint: str
    web_push: bool = False
    """A browser's push service (RFC 8030 with VAPID), not a UnifiedPush endpoint."""


@final
@dataclass(frozen=True, slots=True)
class PersonalRecord:
    """One document of a personal store: its version, size and (if read) ciphertext."""

    doc: str
    version: int
    size: int
    data: bytes | None = None


class Storage(abc.ABC):
    """Durable state of one relay. Implementations translate their errors to StorageError."""

    group_commit: ClassVar[bool] = False
    """:meth:`add_messages` writes a whole batch in one transaction (``server.committer``
    waits briefly under load to make batches larger only where this holds)."""

    # -- lifecycle ---------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and migrate the schema to the current version."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Wait for the write in progress, then close. Later calls raise StorageError."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StorageError unless the database answers a query."""

    @abc.abstractmethod
    async def probe_write(self) -> None:
        """Commit one small write (no time, nothing about anyone): raise StorageError
        unless the database takes writes (``server.health``)."""

    @property
    def location(self) -> str:
        """Where the data lives, for the operator's log (a path, a host; no password)."""
        return type(self).__name__

    write_observer: Callable[[StorageError | None], None] | None = None
    """Called after every write: ``None`` when it committed, else its StorageError
    (``server.health`` sets it; writes refused as conflicts are neither, nor are
    writes on a storage closed on purpose)."""

    @contextlib.contextmanager
    def _watching_write(self) -> Iterator[None]:
        """Report the outcome of the write inside to :attr:`write_observer`."""
        try:
            yield
        except StorageError as exc:
            if not exc.closed and self.write_observer is not None:
                self.write_observer(exc)
            raise
        if self.write_observer is not None:
            self.write_observer(None)

    # -- rooms and logs ----------------------------------------------------

    @abc.abstractmethod
    async def create_room(
        self,
        op: SignedOp,
        *,
        ts: int,
        retention_days: int | None,
        members: Mapping[MemberId, Role],
    ) -> LogEvent:
        """Store a new room with its ``room.create`` operation as event 1.

        Raises:
            RelayError: ``log.conflict`` if the room id is taken.
        """

    @abc.abstractmethod
    async def append_op(
        self,
        room: RoomId,
        op: SignedOp,
        *,
        ts: int,
        members: Mapping[MemberId, Role],
        policy: Policy | None = None,
    ) -> LogEvent:
        """Store a verified operation and the members after it (the caller verified it).

        ``policy`` is the room's policy after the operation, given when the
        operation changed it (``room.retention``): its ``retention_days`` replaces
        the stored one in the same transaction.

        Raises:
            RelayError: ``log.conflict`` if an operation already holds its index,
                ``room.frozen`` if the operator froze the room.
        """

    @abc.abstractmethod
    async def load_ops(self, room: RoomId) -> list[SignedOp]:
        """Every operation of a room in index order (empty if there is no such room)."""

    @abc.abstractmethod
    async def op_seqs(self, room: RoomId, indexes: Sequence[int]) -> dict[int, int]:
        """The event ``seq`` of the operations at these indexes."""

    @abc.abstractmethod
    async def room_info(self, room: RoomId) -> RoomInfo | None:
        """A room's counters, or ``None`` if it does not exist."""

    @abc.abstractmethod
    async def rooms_of(self, member: MemberId) -> list[RoomId]:
        """Rooms in which ``member`` is a member now."""

    @abc.abstractmethod
    async def retention_rooms(self) -> list[tuple[RoomId, int]]:
        """Rooms whose policy sets ``retention_days``, with that number."""

    @abc.abstractmethod
    async def set_frozen(self, room: RoomId, at: int | None) -> bool:
        """Freeze a room (``at``: when, Unix ms) or unfreeze it (``None``).

        A frozen room takes no new message or log operation: those writes raise
        ``room.frozen``, checked inside their own transaction, so a freeze holds on
        every relay instance of the database at once, running or not. What only
        removes still goes through: deletions, erasures, and the operations by
        which a member leaves or is removed or banned. Returns ``False`` if
        there is no such room.
        """

    # -- messages and events -----------------------------------------------

    @abc.abstractmethod
    async def find_message(self, room: RoomId, message: MessageId) -> MessageRecord | None:
        """A stored message by its client id."""

    @abc.abstractmethod
    async def add_message(
        self, envelope: Envelope, *, ts: int, digest: bytes, log_index: int | None = None
    ) -> MessageEvent:
        """Store an admitted envelope as the room's next event.

        Args:
            log_index: The last index of the log the envelope was admitted against;
                if given, the message is stored only while that is still the room's.

        Raises:
            RelayError: ``msg.duplicate_id`` if the room already holds this id,
                ``log.conflict`` if the room's log no longer ends at ``log_index``,
                ``room.frozen`` if the operator froze the room.
        """

    async def add_messages(
        self, batch: Sequence[tuple[Envelope, bytes, int | None]], *, ts: int
    ) -> list[MessageEvent | MessageRecord | RelayError]:
        """Store admitted envelopes, in order, for group commit (``server.committer``).

        ``batch`` holds (envelope, digest, log_index) as for :meth:`add_message`.
        The answer for each: its new event; or, if the room already holds its id,
        that message's :class:`MessageRecord` (the caller compares the digest); or
        the ``log.conflict`` error if the room's log no longer ends at its
        ``log_index``, or ``room.frozen`` if the room is frozen. An implementation
        should write the batch in one transaction and raise (storing nothing) if it
        fails; this default writes one message per transaction, which is correct but
        forgoes the point.
        """
        results: list[MessageEvent | MessageRecord | RelayError] = []
        for envelope, digest, log_index in batch:
            existing = await self.find_message(envelope.header.room, envelope.header.id)
            if existing is not None:
                results.append(existing)
                continue
            try:
                results.append(
                    await self.add_message(envelope, ts=ts, digest=digest, log_index=log_index)
                )
            except RelayError as exc:
                if exc.code not in {"log.conflict", "room.frozen"}:
                    raise
                results.append(exc)
        return results

    @abc.abstractmethod
    async def delete_message(
        self, room: RoomId, request: DeleteRequest, *, ts: int, log_index: int | None = None
    ) -> TombstoneEvent:
        """Remove a message's ciphertext and append the tombstone as the next event.

        Raises:
            RelayError: ``msg.not_found`` if the message holds no ciphertext,
                ``log.conflict`` as for :meth:`add_message`.
        """

    @abc.abstractmethod
    async def tombstone_at(self, room: RoomId, seq: int) -> TombstoneEvent | None:
        """The tombstone stored at ``seq``, if it is one."""

    @abc.abstractmethod
    async def erase_member(
        self, room: RoomId, member: MemberId, *, ts: int, request: EraseRequest | None = None
    ) -> tuple[ErasedEvent, int] | None:
        """Remove every message ``member`` sent in ``room`` still holding ciphertext.

        ``request``, the member's signed erase request, is stored with the event.

        Returns the :class:`ErasedEvent` appended and how many messages it covers, or
        ``None`` (and appends nothing) if there was none.
        """

    @abc.abstractmethod
    async def message_rooms(self, member: MemberId) -> list[RoomId]:
        """Rooms holding messages ``member`` sent whose ciphertext is still stored."""

    @abc.abstractmethod
    async def events_after(self, room: RoomId, after: int, limit: int) -> list[RoomEvent]:
        """Up to ``limit`` events with ``seq > after``, oldest first."""

    @abc.abstractmethod
    async def events_before(self, room: RoomId, before: int, limit: int) -> list[RoomEvent]:
        """The newest ``limit`` events with ``seq < before``, oldest first."""

    @abc.abstractmethod
    async def purge(self, room: RoomId, *, before_ts: int) -> int:
        """Retention: drop message events older than ``before_ts`` in a prefix of the room.

        Log operations stay (the log must verify from its start). Returns the room's
        low-water mark afterwards.
        """

    # -- sessions ----------------------------------------------------------

    @abc.abstractmethod
    async def token_secret(self, fresh: bytes) -> bytes:
        """The relay's session-token MAC key: the stored one, else store ``fresh`` and return it.

        Every instance sharing this storage gets the same secret (the first writer wins).
        """

    @abc.abstractmethod
    async def vapid_secret(self, fresh: bytes) -> bytes:
        """The relay's VAPID private key (a P-256 scalar), stored once like :meth:`token_secret`.

        Every instance must sign with the same key: a browser's push subscription
        is bound to one public key, and any instance may send its pushes.
        """

    @abc.abstractmethod
    async def revoke_tokens(self, member: MemberId, *, until: int) -> None:
        """Refuse ``member``'s tokens expiring at or before ``until`` (a day boundary)."""

    @abc.abstractmethod
    async def revoked_until(self, member: MemberId) -> int | None:
        """Up to when ``member``'s tokens are refused, if they are."""

    @abc.abstractmethod
    async def purge_sessions(self, *, now: int) -> int:
        """Drop revocations (and pending challenges) that have lapsed; return how many."""

    # -- challenges --------------------------------------------------------

    @abc.abstractmethod
    async def put_challenge(self, challenge: bytes, record: ChallengeRecord, *, now: int) -> None:
        """Hold an issued challenge where every relay instance of this storage finds it.

        Raises:
            RelayError: ``rate.limited`` if too many challenges are pending.
        """

    @abc.abstractmethod
    async def take_challenge(self, challenge: bytes) -> ChallengeRecord | None:
        """Remove and return a pending challenge (``None`` if unknown or already taken)."""

    # -- blobs -------------------------------------------------------------

    @abc.abstractmethod
    async def put_blob(
        self, room: RoomId, blob: str, *, owner: MemberId, data: bytes, ts: int
    ) -> None:
        """Store an attachment's ciphertext."""

    @abc.abstractmethod
    async def get_blob(self, room: RoomId, blob: str) -> bytes | None:
        """An attachment's ciphertext, or ``None``."""

    @abc.abstractmethod
    async def purge_blobs(self, room: RoomId, *, before_ts: int) -> int:
        """Retention for attachments; return how many were dropped."""

    # -- linking devices ---------------------------------------------------

    @abc.abstractmethod
    async def put_link(
        self,
        link: str,
        *,
        owner: MemberId,
        data: bytes,
        now: int,
        expires_at: int,
        max_pending: int,
    ) -> None:
        """File a sealed link offer under its rendezvous id until ``expires_at``.

        Raises:
            RelayError: ``link.exists`` if the id is taken, ``link.too_many`` if
                ``owner`` already has ``max_pending`` unclaimed, unexpired offers.
        """

    @abc.abstractmethod
    async def claim_link(self, link: str, *, now: int) -> bytes:
        """Hand out an offer's ciphertext once, and forget it (one transaction).

        Raises:
            RelayError: ``link.not_found``, ``link.used`` (claimed before),
                ``link.expired`` (its ciphertext is dropped on the way).
        """

    @abc.abstractmethod
    async def purge_links(self, *, now: int, keep_ms: int) -> int:
        """Drop the ciphertext of expired offers, and the rows ``keep_ms`` after expiry.

        Returns how many rows were deleted.
        """

    # -- personal stores ---------------------------------------------------

    @abc.abstractmethod
    async def personal_index(self, owner: MemberId) -> list[PersonalRecord]:
        """Every document of ``owner``'s store (without data), by id."""

    @abc.abstractmethod
    async def get_personal(self, owner: MemberId, doc: str) -> PersonalRecord | None:
        """One document with its ciphertext, or ``None``."""

    @abc.abstractmethod
    async def put_personal(
        self,
        owner: MemberId,
        doc: str,
        *,
        expected: int,
        data: bytes,
        now: int,
        max_docs: int,
        max_bytes: int,
    ) -> int:
        """Compare-and-swap: store ``data`` as version ``expected + 1`` if ``expected`` is current.

        ``expected`` 0 creates the document. Returns the new version.

        Raises:
            RelayError: ``personal.conflict`` (``detail = {"version": current}``),
                ``personal.quota`` if the store would hold more than ``max_docs``
                documents or ``max_bytes`` bytes.
        """

    # -- account -----------------------------------------------------------

    @abc.abstractmethod
    async def forget_member(self, member: MemberId) -> int:
        """Drop a key's attachments, push registrations, link offers and personal store.

        Returns the blob count.
        """

    # -- push --------------------------------------------------------------

    @abc.abstractmethod
    async def put_push(
        self,
        member: MemberId,
        device: str,
        endpoint: str,
        *,
        ts: int,
        limit: int,
        web_push: bool = False,
    ) -> None:
        """Register (or replace) ``device``'s push endpoint under ``member``.

        Raises:
            RelayError: ``push.too_many`` if ``device`` is new and ``member`` already
                has ``limit`` registrations.
        """

    @abc.abstractmethod
    async def delete_push(self, member: MemberId, device: str) -> None:
        """Remove a registration (nothing happens if there is none)."""

    @abc.abstractmethod
    async def push_targets(self, members: Sequence[MemberId]) -> list[PushTarget]:
        """Every registration of these member keys."""

    @abc.abstractmethod
    async def drop_push(self, endpoint: str, targets: Sequence[PushTarget]) -> int:
        """Remove these registrations if they still name ``endpoint``; return how many."""

    @abc.abstractmethod
    async def set_presence(
        self, instance: str, members: Sequence[MemberId], *, expires_at: int
    ) -> None:
        """Record that ``instance`` holds a live stream of each key, until ``expires_at``."""

    @abc.abstractmethod
    async def clear_presence(self, instance: str, members: Sequence[MemberId]) -> None:
        """``instance`` holds no live stream of these keys any more."""

    @abc.abstractmethod
    async def present(self, members: Sequence[MemberId], *, now: int) -> set[MemberId]:
        """Which of these keys have a live stream on any instance (unexpired records)."""


def refuse_old_rooms(old_room_ids: int) -> None:
    """Refuse a data directory holding rooms of protocol version 1 (22-character ids).

    Version 2 binds a room id to its genesis (docs/protocol.md section 5.8); a version-1
    room's log can verify under no version-2 rule, so serving it would only fail later,
    room by room. Saying so at start names the cause once.

    Raises:
        StorageError: ``storage.old_version``, if ``old_room_ids`` is not zero.
    """
    if old_room_ids:
        raise StorageError(
            f"this data directory holds {old_room_ids} room(s) of Hearth protocol version 1,"
            f" which this relay (protocol version {PROTOCOL_VERSION}) cannot serve: start it on"
            " a new data directory (docs/operator.md, 'Upgrading')",
            code="storage.old_version",
        )
