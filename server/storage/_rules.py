"""The storage contract's rules, shared by every backend: each decision made once.

A backend (``sqlite.py``, ``postgres.py``) keeps its SQL and its transaction plumbing:
it reads the rows a decision needs, inside its transaction, calls a rule here, and
writes what the rule decided. The rules never touch a database; they take the values
read and raise the relay's error (rolling the caller's transaction back) or return
what to write. So both backends refuse with the same code and the same words, and a
rule changes in one place:

- sequencing: a write against a log that moved on is ``log.conflict``
  (:func:`check_log_index`); a write to no room is ``room.not_found``;
- retention: which prefix of a room a purge drops (:func:`purge_mark`);
- erasure and tombstones: what an erasure covers (:func:`erasure_span`), what a
  deletion needs (:func:`message_not_found`);
- link offers: the cap on pending offers, and a claim's outcome (:func:`claim_outcome`);
- personal stores: compare-and-swap on the version and the quota (:func:`personal_write`);
- push: the cap on registrations per key (:func:`check_push_limit`);
- rows back into records and events (:func:`event`, :func:`message_record`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from protocol.api import (
    ErasedEvent,
    LogEvent,
    MessageEvent,
    RemovedEvent,
    RoomEvent,
    TombstoneEvent,
)
from protocol.encoding import from_msgpack
from protocol.errors import DecodeError
from protocol.ids import MemberId
from protocol.messages import DeleteRequest, Envelope, EraseRequest
from protocol.ops import BanOp, LeaveOp, RemoveOp, SignedOp
from server.errors import RelayError, StorageError
from server.storage.base import MessageRecord

__all__ = [
    "EVENT_COLUMNS",
    "check_link_pending",
    "check_log_index",
    "check_push_limit",
    "claim_outcome",
    "decode",
    "erasure_span",
    "event",
    "link_exists",
    "link_expired",
    "log_moved_on",
    "message_not_found",
    "message_record",
    "message_taken",
    "op_index_taken",
    "personal_write",
    "purge_mark",
    "room_not_found",
    "room_taken",
]

EVENT_COLUMNS: Final = "seq, ts, kind, msg_id, sender, data, ref"
"""The columns of ``events`` that :func:`event` turns back into a room event, in order."""

# -- the refusals, in the same words on every backend ------------------------------


def room_not_found() -> RelayError:
    """A write to a room the storage does not hold."""
    return RelayError("no such room", code="room.not_found")


def only_removes(op: SignedOp) -> bool:
    """An operation a frozen room still takes: someone leaves, or is removed or banned."""
    return isinstance(op.content.body, LeaveOp | RemoveOp | BanOp)


def room_frozen() -> RelayError:
    """A new message or log operation in a room the operator froze."""
    return RelayError(
        "this room is frozen by the relay's operator: it takes no new messages",
        code="room.frozen",
    )


def log_moved_on() -> RelayError:
    """A write verified against a log that another writer has extended since."""
    return RelayError("the room's log moved on", code="log.conflict")


def room_taken() -> RelayError:
    """A second room under one id."""
    return RelayError("this room id is taken", code="log.conflict")


def op_index_taken() -> RelayError:
    """A second operation at one index of a room's log (compare-and-swap lost)."""
    return RelayError("an operation holds this index", code="log.conflict")


def message_taken() -> RelayError:
    """A second message under one id in a room."""
    return RelayError("this message id is taken", code="msg.duplicate_id")


def message_not_found() -> RelayError:
    """A deletion of a message that holds no ciphertext (never stored, or removed)."""
    return RelayError("no such message", code="msg.not_found")


def link_exists() -> RelayError:
    """A second link offer under one rendezvous id."""
    return RelayError("this link id is taken", code="link.exists")


def link_expired() -> RelayError:
    """A claim after the offer's expiry (raised once its ciphertext is dropped)."""
    return RelayError("this link code expired", code="link.expired")


# -- sequencing --------------------------------------------------------------------


def check_log_index(current: int | None, log_index: int | None) -> None:
    """Refuse a write verified against ``log_index`` if the room's log ends at ``current``.

    Raises:
        RelayError: ``log.conflict`` if ``log_index`` is given and is not ``current``.
    """
    if log_index is not None and current != log_index:
        raise log_moved_on()


# -- retention ---------------------------------------------------------------------


def purge_mark(first_young: int | None, last_seq: int, low_water: int) -> int | None:
    """The new low-water mark of a purge, or ``None`` if it drops nothing.

    The purge is the longest prefix of the room whose non-log events are all older
    than the cut-off: ``first_young``, the first younger one's ``seq``, bounds it; with
    none, the whole room. A mark never goes back below ``low_water``.
    """
    mark = (first_young - 1) if first_young is not None else last_seq
    return mark if mark > low_water else None


# -- erasure -----------------------------------------------------------------------


def erasure_span(count: int, through: int | None) -> int | None:
    """The last ``seq`` an erasure covers, or ``None`` if the member has nothing stored.

    ``count`` and ``through`` are how many of the member's messages still hold
    ciphertext, and the highest of their ``seq``.
    """
    if count == 0 or through is None:
        return None
    return int(through)


# -- link offers -------------------------------------------------------------------


def check_link_pending(pending: int, max_pending: int) -> None:
    """Refuse a new offer from an owner with ``max_pending`` unclaimed, unexpired ones.

    Raises:
        RelayError: ``link.too_many``.
    """
    if pending >= max_pending:
        raise RelayError(
            f"at most {max_pending} link offers may wait at once", code="link.too_many"
        )


def claim_outcome(offer: tuple[int, int | None, bytes | None] | None, now: int) -> bytes | None:
    """Decide a claim from the offer's (expires_at, claimed_at, data), if there is one.

    Returns the ciphertext to hand out (the caller drops it and marks the offer
    claimed), or ``None`` if the offer expired: the caller drops its ciphertext,
    commits that, and only then raises :func:`link_expired`.

    Raises:
        RelayError: ``link.not_found``, ``link.used``.
    """
    if offer is None:
        raise RelayError("no link offer under this code", code="link.not_found")
    expires_at, claimed_at, data = offer
    if claimed_at is not None:
        raise RelayError("this link code was used already", code="link.used")
    if data is None or now >= expires_at:
        return None
    return bytes(data)


# -- personal stores ---------------------------------------------------------------


def personal_write(
    current: tuple[int, int] | None,
    totals: tuple[int, int],
    *,
    expected: int,
    size: int,
    max_docs: int,
    max_bytes: int,
) -> int:
    """Compare-and-swap and quota of a personal document write; the new version.

    Args:
        current: The document's (version, size), or ``None`` if it does not exist.
        totals: The owner's store's (document count, byte total) before the write.
        expected: The version the writer last read (0: it creates the document).
        size: The new ciphertext's size.

    Raises:
        RelayError: ``personal.conflict`` (``detail = {"version": current}``),
            ``personal.quota``.
    """
    version, old_size = current if current is not None else (0, 0)
    if version != expected:
        raise RelayError(
            f"the document is at version {version}, not {expected}",
            code="personal.conflict",
            detail={"version": version},
        )
    count, total = totals
    if count + (0 if current is not None else 1) > max_docs:
        raise RelayError(
            f"a personal store holds at most {max_docs} documents", code="personal.quota"
        )
    if total - old_size + size > max_bytes:
        raise RelayError(f"a personal store holds at most {max_bytes} bytes", code="personal.quota")
    return expected + 1


# -- push --------------------------------------------------------------------------


def check_push_limit(count: int, mine: int, limit: int) -> None:
    """Refuse a new device's registration under a key that has ``limit`` already.

    ``mine`` counts the registrations of this device (a replacement is always fine).

    Raises:
        RelayError: ``push.too_many``.
    """
    if not mine and count >= limit:
        raise RelayError(
            f"a key registers at most {limit} push endpoints: unregister one",
            code="push.too_many",
            detail={"limit": limit},
        )


# -- rows back into records --------------------------------------------------------


def decode(data: bytes, kind: type[Any]) -> Any:
    """A stored record's msgpack back into ``kind``; StorageError if it does not decode."""
    try:
        return from_msgpack(bytes(data), kind)
    except DecodeError as exc:  # only a damaged database gets here
        raise StorageError("a stored record does not decode") from exc


def event(row: Iterable[Any]) -> RoomEvent:
    """A room event from a row of :data:`EVENT_COLUMNS`."""
    seq, ts, kind, msg_id, sender, data, ref = tuple(row)
    seq, ts = int(seq), int(ts)
    if kind == "log":
        return LogEvent(seq=seq, ts=ts, op=decode(data, SignedOp))
    if kind == "msg":
        if data is None:
            return RemovedEvent(seq=seq, ts=ts, id=msg_id, sender=sender, by=int(ref))
        return MessageEvent(seq=seq, ts=ts, envelope=decode(data, Envelope))
    if kind == "tombstone":
        return TombstoneEvent(seq=seq, ts=ts, target=msg_id, request=decode(data, DeleteRequest))
    request = None if data is None else decode(data, EraseRequest)
    return ErasedEvent(seq=seq, ts=ts, member=sender, through=int(ref), request=request)


def message_record(seq: int, ts: int, sender: str, digest: bytes, ref: int | None) -> MessageRecord:
    """A stored message's record from its row (``ref``: what removed its ciphertext)."""
    return MessageRecord(
        seq=int(seq),
        ts=int(ts),
        sender=MemberId(sender),
        digest=bytes(digest),
        removed_by=None if ref is None else int(ref),
    )
