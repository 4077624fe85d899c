"""Wire types between client and relay: authentication, sync, websocket frames, errors.

Everything here travels as JSON. Room events carry a relay-assigned sequence number
``seq``, contiguous from 1 within each room; a client's position in a room is the
highest ``seq`` it has processed. ``low_water`` is the highest ``seq`` the relay has
purged under the room's retention policy, so a client can tell a purge from a
withheld event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

from protocol.ids import MemberIdField, MessageIdField, RoomId, RoomIdField
from protocol.messages import CrisisResource, DeleteRequest, Envelope, EraseRequest
from protocol.ops import Count, Hash, Key32, Sig, SignedOp

__all__ = [
    "AccountDeleted",
    "AckFrame",
    "AppendResult",
    "AuthContent",
    "AuthFrame",
    "AuthRequest",
    "BlobIdField",
    "BlobRef",
    "Challenge",
    "ChallengeRequest",
    "ClientFrame",
    "CrisisResource",
    "DeleteAccountRequest",
    "ErasedEvent",
    "ErrorBody",
    "ErrorFrame",
    "EventFrame",
    "EventsFrame",
    "Health",
    "HistoryPage",
    "InviteReadContent",
    "InviteReadRequest",
    "LinkClaim",
    "LinkIdField",
    "LinkOffer",
    "LinkOffered",
    "LogEvent",
    "LogPage",
    "MessageAck",
    "MessageEvent",
    "PersonalDocument",
    "PersonalFrame",
    "PersonalIndex",
    "PersonalInfo",
    "PersonalSubscribeFrame",
    "PersonalWrite",
    "PushRegistration",
    "PushVapidKey",
    "ReadyFrame",
    "RemovedEvent",
    "RoomEvent",
    "RoomSync",
    "SendFrame",
    "ServerFrame",
    "Session",
    "SubscribeFrame",
    "SyncRequest",
    "SyncResponse",
    "TombstoneEvent",
    "event_frame_prefix",
    "join_event_frames",
]

Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Positions = Annotated[dict[RoomIdField, Seq], msgspec.Meta(max_length=10_000)]


# -- authentication -----------------------------------------------------------


class ChallengeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the relay for a challenge for one key."""

    key: MemberIdField


class Challenge(msgspec.Struct, frozen=True, kw_only=True):
    """A single-use challenge, bound to the relay's origin and a short expiry."""

    challenge: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    origin: str
    expires_at: Count
    pow_difficulty: Annotated[int, msgspec.Meta(ge=0, le=40)] = 0
    """Leading zero bits the relay wants, for a key it has not seen (0: none)."""


class AuthContent(msgspec.Struct, frozen=True, kw_only=True):
    """What the key signs (``CTX_AUTH``) to prove possession."""

    origin: str
    challenge: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    key: MemberIdField
    expires_at: Count


class AuthRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The signed answer to a challenge."""

    key: MemberIdField
    challenge: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    sig: Sig
    pow_nonce: Annotated[int, msgspec.Meta(ge=0, le=2**53)] = 0
    """At most 2**53, the largest integer every JSON reader holds exactly (an OpenAPI
    client reading the bound as a double must not be able to exceed it); a solution
    for difficulty <= 40 is near 2**40."""
    registration_token: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """An opaque bearer token for one key."""

    token: str
    expires_at: Count
    can_create: bool = False
    """Whether this session may create rooms under the relay's creation policy."""


class InviteReadContent(msgspec.Struct, frozen=True, kw_only=True):
    """What an invite link's key signs (``CTX_INVITE_READ``) to read a room's log."""

    room: RoomIdField
    reader: MemberIdField
    at: Count
    """Reader's clock, milliseconds since the Unix epoch; the relay allows 5 minutes."""


class InviteReadRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Proof of holding an invite link, to read the log before joining."""

    invite_key: Key32
    reader: MemberIdField
    at: Count
    sig: Sig


# -- room events and sync -----------------------------------------------------


class LogEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="log"):
    """A room-log operation at relay sequence ``seq``."""

    seq: Seq
    ts: Count
    op: SignedOp


class MessageEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="msg"):
    """A message envelope at relay sequence ``seq``."""

    seq: Seq
    ts: Count
    envelope: Envelope


class TombstoneEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="tombstone"):
    """A deleted message: its ciphertext is gone; the signed request stays."""

    seq: Seq
    ts: Count
    target: MessageIdField
    request: DeleteRequest


class RemovedEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="removed"):
    """What the relay serves at the ``seq`` of a message whose ciphertext it deleted.

    ``by`` is the ``seq`` of the :class:`TombstoneEvent` or :class:`ErasedEvent`
    that removed it, so sequence numbers stay contiguous and every gap is explained.
    """

    seq: Seq
    ts: Count
    id: MessageIdField
    sender: MemberIdField
    by: Seq


class ErasedEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="erased"):
    """The relay erased every message ``member`` sent up to ``through``.

    Appended when a key deletes its data (``POST /v1/account/delete``). ``request``
    is the member's own signed request: without one that verifies (and fits the
    room's log, section 8.9) a receiver excuses no counter gap with it.
    """

    seq: Seq
    ts: Count
    member: MemberIdField
    through: Seq
    request: EraseRequest | None = None


RoomEvent = LogEvent | MessageEvent | TombstoneEvent | RemovedEvent | ErasedEvent


class SyncRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything after these per-room positions."""

    positions: Positions
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 500


class RoomSync(msgspec.Struct, frozen=True, kw_only=True):
    """One room's page of events."""

    room: RoomIdField
    events: list[RoomEvent]
    low_water: Seq
    last_seq: Seq
    """Highest sequence number the room has now."""


class SyncResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Pages for each requested room; ``more`` if any room has events left."""

    rooms: list[RoomSync]
    more: bool


# -- HTTP answers -------------------------------------------------------------


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """A log operation the relay verified and stored at ``index``, as event ``seq``."""

    room: RoomIdField
    index: Count
    head: Hash
    """Hash of the operation: the log's new head."""
    seq: Seq


class LogPage(msgspec.Struct, frozen=True, kw_only=True):
    """Log operations in index order; ``more`` if the log goes on after them."""

    ops: list[SignedOp]
    more: bool


class MessageAck(msgspec.Struct, frozen=True, kw_only=True):
    """A message is durable at ``seq``."""

    room: RoomIdField
    id: MessageIdField
    seq: Seq
    ts: Count


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """Room events oldest first; ``more`` if older events remain above the low-water mark."""

    events: list[RoomEvent]
    more: bool


BlobIdField = Annotated[str, msgspec.Meta(min_length=22, max_length=22, pattern="^[A-Za-z0-9_-]*$")]


class BlobRef(msgspec.Struct, frozen=True, kw_only=True):
    """A stored attachment: its id within the room and its size in bytes."""

    id: BlobIdField
    size: Count


class DeleteAccountRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Delete a key's data; ``leave`` is its signed ``room.leave`` if it is a member.

    ``erase`` is its signed request to erase its messages, required if it sent any:
    the relay hands it to the room's members with the erasure.
    """

    leave: SignedOp | None = None
    erase: EraseRequest | None = None


class AccountDeleted(msgspec.Struct, frozen=True, kw_only=True):
    """What deleting a key's data did."""

    left: list[RoomIdField]
    """Rooms the key left through its ``leave``."""
    erased: Count
    """Messages whose ciphertext was erased."""
    blobs: Count
    """Attachments deleted."""


# -- linking devices and the personal store ----------------------------------

LinkIdField = Annotated[str, msgspec.Meta(min_length=22, max_length=22, pattern="^[A-Za-z0-9_-]*$")]
"""A link offer's rendezvous id, or a personal document's id: 16 bytes, base64url."""

_LinkBox = Annotated[bytes, msgspec.Meta(min_length=40, max_length=65_536 + 40)]
_DocBox = Annotated[bytes, msgspec.Meta(min_length=40, max_length=4 * 1024 * 1024)]


class LinkOffer(msgspec.Struct, frozen=True, kw_only=True):
    """An existing device files a sealed offer for the device it links."""

    id: LinkIdField
    box: _LinkBox


class LinkOffered(msgspec.Struct, frozen=True, kw_only=True):
    """The offer is filed until ``expires_at`` (or its first claim)."""

    id: LinkIdField
    expires_at: Count


class LinkClaim(msgspec.Struct, frozen=True, kw_only=True):
    """The sealed offer, handed out once."""

    box: bytes


class PersonalInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A personal document's id, current version and size in bytes."""

    id: LinkIdField
    version: Count
    size: Count


class PersonalIndex(msgspec.Struct, frozen=True, kw_only=True):
    """Every document of the owner's personal store."""

    docs: list[PersonalInfo]


class PersonalDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One document's current version and ciphertext."""

    id: LinkIdField
    version: Count
    box: bytes


class PersonalWrite(msgspec.Struct, frozen=True, kw_only=True):
    """Compare-and-swap: store ``box`` as version ``expected + 1`` if ``expected`` is current.

    ``expected`` is 0 for a document that does not exist yet.
    """

    expected: Count
    box: _DocBox


class PushRegistration(msgspec.Struct, frozen=True, kw_only=True):
    """A device's push endpoint (a UnifiedPush-style URL the relay POSTs to).

    ``web_push``: the endpoint is a browser's push subscription (the Push API): the
    relay sends it an empty body with a VAPID token (RFC 8292) instead of ``{"v":1}``.
    """

    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    web_push: bool = False


class PushVapidKey(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/push/vapid``: the relay's VAPID public key, for ``PushManager.subscribe``.

    ``key``: the P-256 public key as an uncompressed point (65 bytes), base64url
    without padding (87 characters).
    """

    key: Annotated[str, msgspec.Meta(min_length=87, max_length=87, pattern="^[A-Za-z0-9_-]*$")]


class Health(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``/healthz`` and ``/readyz``: ``ok``, ``degraded`` or ``unavailable``, and why."""

    status: str
    reasons: list[str] = msgspec.field(default_factory=list)
    """What is wrong, for an operator (absent when nothing is)."""


# -- websocket frames ---------------------------------------------------------


class AuthFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="auth"):
    """First frame of a stream: one or more session tokens (one per room key).

    ``batch``: the client also takes ``events`` frames, several consecutive live
    events of one room in one frame (fewer frames to write and to read under load).
    """

    tokens: Annotated[list[str], msgspec.Meta(min_length=1, max_length=1000)]
    batch: bool = False


class SubscribeFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="subscribe"):
    """Replay after these positions, then stream live."""

    positions: Positions


class SendFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="send"):
    """Send a message; answered by an ``ack`` or an ``error`` naming its id."""

    envelope: Envelope


class PersonalSubscribeFrame(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="personal.subscribe"
):
    """Follow the personal store of ``owner`` (one of the connection's keys).

    The relay answers with a ``personal`` frame for every document it holds, then one
    for each later write.
    """

    owner: MemberIdField


ClientFrame = AuthFrame | SubscribeFrame | SendFrame | PersonalSubscribeFrame


class ReadyFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="ready"):
    """Authentication accepted for these member keys."""

    members: list[MemberIdField]


class EventFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="event"):
    """One room event, in sequence order per room."""

    room: RoomIdField
    event: RoomEvent


class EventsFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="events"):
    """Consecutive room events (by seq) of one room, to a stream that asked for batches."""

    room: RoomIdField
    events: Annotated[list[RoomEvent], msgspec.Meta(min_length=1)]


def event_frame_prefix(room: RoomId) -> bytes:
    """How ``to_json(EventFrame(room=room, event=...))`` begins.

    msgspec writes the tag first and the fields in declaration order, without spaces,
    and a room id (base64url) needs no escaping, so this is exact.
    """
    return b'{"type":"event","room":"' + room.encode() + b'","event":'


def join_event_frames(room: RoomId, frames: Sequence[bytes]) -> bytes | None:
    """One ``events`` frame (:class:`EventsFrame`) of ``frames``, ``event`` frames of ``room``.

    The relay encodes each event's frame once, for every connection that follows the
    room; a batch is those frames' ``event`` values joined in order, never decoded and
    encoded again (this is on the fan-out path ``bench/relay.py`` measures).

    Returns:
        The frame's JSON, or None if ``frames`` is empty or one of them is not
        ``to_json(EventFrame(room=room, ...))`` (send those one by one).
    """
    prefix = event_frame_prefix(room)
    if not frames or not all(f.startswith(prefix) and f.endswith(b"}") for f in frames):
        return None
    events = b",".join(f[len(prefix) : -1] for f in frames)
    return b'{"type":"events","room":"' + room.encode() + b'","events":[' + events + b"]}"


class AckFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="ack"):
    """A message is durable at ``seq``."""

    room: RoomIdField
    id: MessageIdField
    seq: Seq
    ts: Count


class ErrorFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="error"):
    """A request on the stream failed; ``id`` names the message when there is one.

    ``retry_after`` is the seconds to wait before the same request can succeed
    (``rate.limited``), as HTTP's ``Retry-After`` header says it.
    """

    code: str
    message: str
    id: MessageIdField | None = None
    retry_after: Count | None = None


class PersonalFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="personal"):
    """A personal document is at ``version`` now (fetch it over HTTP if newer)."""

    owner: MemberIdField
    id: LinkIdField
    version: Count


ServerFrame = ReadyFrame | EventFrame | EventsFrame | AckFrame | ErrorFrame | PersonalFrame


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """The one JSON error body of the HTTP API."""

    code: str
    message: str
    detail: dict[str, Any] | None = None
