"""Wire types of messages: the envelope the relay stores, the plaintext inside it.

The relay sees :class:`Envelope` only: a cleartext :class:`EnvelopeHeader` (room,
epoch, sender, client message id, the log head the sender had verified, nonce),
the ciphertext, and the sender's signature over header and ciphertext. The
ciphertext holds a padded :class:`Plaintext`, whose ``body`` is a tagged union
(``type``) of what people actually say. New body kinds get new tags; an unknown
tag is shown by clients as "unsupported message", never guessed at.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from protocol import crypto
from protocol.ids import MemberIdField, MessageIdField, RoomId, RoomIdField
from protocol.ops import Count, Hash, Sig

__all__ = [
    "Body",
    "CrisisResource",
    "DeleteContent",
    "DeleteRequest",
    "EditBody",
    "Envelope",
    "EnvelopeHeader",
    "EraseContent",
    "EraseRequest",
    "MemberProfileBody",
    "ModerationAction",
    "ModerationBody",
    "Plaintext",
    "ProfileBody",
    "ReactionBody",
    "ReportBody",
    "ReportContent",
    "ReportSeal",
    "RiskAlertBody",
    "RiskAlertContent",
    "RiskHelpBody",
    "RiskPlanBody",
    "RulesAcceptBody",
    "RulesBody",
    "ScheduleBody",
    "SignedReport",
    "SignedRiskAlert",
    "SignedSupportRequest",
    "SupportClaimBody",
    "SupportInvite",
    "SupportQueueEntry",
    "SupportRequestBody",
    "SupportRequestContent",
    "SupportResealBody",
    "SupportWithdrawBody",
    "SupporterStatusBody",
    "TextBody",
    "UnsupportedBody",
    "room_device_id",
]

DEVICE_ID_BYTES: Final = 16

ShortText = Annotated[str, msgspec.Meta(max_length=500)]
LongText = Annotated[str, msgspec.Meta(max_length=60_000)]


class EnvelopeHeader(msgspec.Struct, frozen=True, kw_only=True):
    """Cleartext routing data; also the associated data of the ciphertext."""

    v: Literal[2] = 2
    room: RoomIdField
    epoch: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    sender: MemberIdField
    id: MessageIdField
    """Client message id: random, makes sends idempotent."""
    head_index: Count
    head: Hash
    """Hash of the log operation at ``head_index``, the newest the sender verified."""
    nonce: Annotated[bytes, msgspec.Meta(min_length=24, max_length=24)]


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """A sealed, signed message."""

    header: EnvelopeHeader
    ciphertext: Annotated[bytes, msgspec.Meta(max_length=65_536 + 16)]
    sig: Sig


class TextBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="text"):
    """A chat message."""

    text: LongText
    content_warning: ShortText | None = None
    reply_to: MessageIdField | None = None


class EditBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="edit"):
    """Replaces the text of one of the sender's own messages."""

    target: MessageIdField
    text: LongText


class ReactionBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="reaction"):
    """Adds (or removes) an emoji reaction to a message."""

    target: MessageIdField
    emoji: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    remove: bool = False


class ProfileBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="room.profile"):
    """The room's encrypted profile: name, topic, description."""

    name: ShortText
    topic: ShortText = ""
    description: LongText = ""


class RulesBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="rules"):
    """A version of the room's ground rules."""

    version: Annotated[int, msgspec.Meta(ge=1)]
    text: LongText


class RulesAcceptBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="rules.accept"
):
    """The sender accepts a version of the ground rules."""

    version: Annotated[int, msgspec.Meta(ge=1)]


class MemberProfileBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="member.profile"
):
    """The sender's display name in this room (any member; the newest wins).

    Readers show ``protocol.names.member_name(name)`` and ignore a profile whose name
    it refuses (1 to 64 code points after NFC, no control characters). It is an
    ordinary message under the room's epoch key, signed by the sender's room key:
    the same person's names in two rooms are two unrelated messages.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


ModerationAction = Literal["mute", "unmute", "ban", "unban", "warn"]
"""What a :class:`ModerationBody` records. ``ban`` travels before the ``room.remove``
that enforces it; clients refuse the banned key's posts and any re-admission."""


class ModerationBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="moderation"):
    """A moderator's signed, auditable decision about a member.

    Only a moderator or owner who outranks ``member`` in the verified log at the
    time counts; clients ignore anyone else's.
    """

    action: ModerationAction
    member: MemberIdField
    reason: ShortText = ""


class ScheduleBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="schedule"):
    """The room's recurring meeting, in encrypted state (moderators and owners).

    ``start`` is the first meeting's wall-clock time in ``timezone`` (an IANA
    name); later meetings keep that wall-clock time across daylight-saving
    changes. A monthly meeting on a day a month lacks (the 31st) skips that
    month, as RFC 5545 does. ``active = false`` cancels the schedule.
    """

    title: ShortText
    frequency: Literal["weekly", "fortnightly", "monthly"]
    start: Annotated[str, msgspec.Meta(min_length=16, max_length=16)]
    """Local date and time, ``YYYY-MM-DDTHH:MM`` (receivers ignore a schedule that
    does not parse, or names a zone they do not know)."""
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    duration_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)]
    description: LongText = ""
    active: bool = True


class ReportSeal(msgspec.Struct, frozen=True, kw_only=True):
    """The report's key sealed (``crypto_box_seal``) to one recipient's X25519 key."""

    member: MemberIdField
    box: Annotated[bytes, msgspec.Meta(max_length=32 + 48)]


class ReportBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="report"):
    """A directed report: readable only by the members named in ``seals``.

    ``ciphertext`` is a secret box (random key, nonce prepended) of
    ``canonical(SignedReport)``; the key is sealed to each recipient's X25519 key
    from the verified log. Other members see only that a report went to them.
    """

    seals: Annotated[list[ReportSeal], msgspec.Meta(min_length=1, max_length=64)]
    ciphertext: bytes


class ReportContent(msgspec.Struct, frozen=True, kw_only=True):
    """What a reporter signs (``CTX_REPORT``): the reported message's signed envelope."""

    room: RoomIdField
    reporter: MemberIdField
    target: MessageIdField
    reason: ShortText
    recipients: list[MemberIdField]
    evidence: Envelope
    """The reported message exactly as its sender signed it (``verify_signature``)."""
    at: Count


class SignedReport(msgspec.Struct, frozen=True, kw_only=True):
    """:class:`ReportContent` with the reporter's signature."""

    content: ReportContent
    sig: Sig


class SupportRequestBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="support.request"
):
    """A program member asks for 1:1 support: readable only by the members in ``seals``.

    Sealed like a :class:`ReportBody`: ``ciphertext`` is a secret box (random key,
    nonce prepended) of ``canonical(SignedSupportRequest)``, the key sealed to the
    X25519 key (from the verified log) of every supporter and of the requester
    (so the requester's other devices read it back). Other members, who hold the
    epoch secret, see only that a request was made and by whom; that is enough to
    know its place in the queue (room order of requests neither claimed nor
    withdrawn).
    """

    seals: Annotated[list[ReportSeal], msgspec.Meta(min_length=1, max_length=256)]
    ciphertext: bytes


class SupportRequestContent(msgspec.Struct, frozen=True, kw_only=True):
    """What a requester signs (``CTX_SUPPORT``): what they would like to talk about."""

    room: RoomIdField
    requester: MemberIdField
    text: LongText
    recipients: list[MemberIdField]
    """The supporters it is sealed to (the requester's own seal is not listed)."""
    at: Count


class SignedSupportRequest(msgspec.Struct, frozen=True, kw_only=True):
    """:class:`SupportRequestContent` with the requester's signature."""

    content: SupportRequestContent
    sig: Sig


class SupportClaimBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="support.claim"
):
    """A supporter takes a waiting request; every member sees it is taken.

    Only a member whose role is ``supporter`` in the verified log when it is read
    may claim; of several claims of one request the first in room order wins.
    ``invite`` is ``crypto_box_seal`` to the requester's X25519 key of
    ``canonical(SupportInvite)``: the link to the buddy chat the supporter opened,
    readable by the requester alone.
    """

    request: MessageIdField
    invite: Annotated[bytes, msgspec.Meta(max_length=4096)]


class SupportInvite(msgspec.Struct, frozen=True, kw_only=True):
    """Inside a claim's ``invite`` box (never a body): where the buddy chat is.

    ``room``, ``request`` and ``supporter`` bind the box to the claim that carries
    it (the claim's envelope is the supporter's signature over the box), so
    another supporter cannot pass it off as theirs. ``buddy_owner`` is the
    supporter's member key in the buddy room, which the requester checks in that
    room's verified log after joining.
    """

    room: RoomIdField
    request: MessageIdField
    supporter: MemberIdField
    buddy_room: RoomIdField
    buddy_owner: MemberIdField
    link: Annotated[str, msgspec.Meta(max_length=2048)]


class SupportResealBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="support.reseal"
):
    """The requester seals a waiting request again, for supporters it did not reach.

    Sealed like a :class:`SupportRequestBody` (a new key, the same text, the new
    supporters as ``recipients``), to the supporters who joined or were made
    supporters after the request. It changes nothing but who can read it: the
    request keeps its place in the queue.
    """

    request: MessageIdField
    seals: Annotated[list[ReportSeal], msgspec.Meta(min_length=1, max_length=256)]
    ciphertext: bytes


class SupportWithdrawBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="support.withdraw"
):
    """The requester takes back a request nobody has claimed yet."""

    request: MessageIdField


class SupportQueueEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One waiting request in a supporter's view of the queue (never a body)."""

    request: MessageIdField
    requester: MemberIdField


class SupporterStatusBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="supporter.status"
):
    """A supporter is available for 1:1 chats, or away; and their cap on open chats.

    Counts only from a member whose role is ``supporter``; the newest wins. A
    supporter who never sent one is away.
    """

    available: bool
    max_open: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    """At most this many open buddy chats from claims (None: no cap)."""
    queue: Annotated[list[SupportQueueEntry], msgspec.Meta(max_length=1000)] | None = None
    """The waiting requests in room order as the sender sees them, sent when someone
    joins: a newcomer cannot read requests from before its join and places these
    ahead of every request it reads itself. None: no snapshot."""


RegionCode = Annotated[str, msgspec.Meta(pattern="^([A-Za-z]{2}|\\*)$")]
"""An ISO 3166-1 alpha-2 code, or ``"*"``."""


class CrisisResource(msgspec.Struct, frozen=True, kw_only=True):
    """A crisis line, for the regions it serves.

    The relay operator lists them (``GET /v1/crisis``, :mod:`protocol.api`), and a
    program's risk plan carries its own (:class:`RiskPlanBody`), so it lives here.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    regions: Annotated[list[RegionCode], msgspec.Meta(min_length=1, max_length=300)]
    """ISO 3166-1 alpha-2 codes (any case), or ``"*"`` for everywhere."""
    phone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    sms: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=2000, pattern="^https?://")] | None = None
    hours: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""


RiskLines = Annotated[list[CrisisResource], msgspec.Meta(max_length=50)]


class RiskPlanBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="program.risk_plan"
):
    """A program's path for a member at imminent risk, in encrypted room state.

    Counts only in a program room and only from a moderator or owner at the
    message's place in room order; the newest wins. ``text`` says what supporters
    do and what the person can do; ``lines`` are the help lines the program
    chose. A supporter's risk alert shows both in the buddy chat
    (:class:`RiskHelpBody`).
    """

    text: LongText = ""
    lines: RiskLines = []


class RiskHelpBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="support.risk"):
    """In a buddy chat, the supporter shows both buddies the program's help.

    A copy of the program's :class:`RiskPlanBody` as the supporter read it (empty
    if the program has none: receivers then show their own built-in lines).
    Counts only in a buddy chat and only from its owner (the supporter who opened
    it), at the message's place in room order.
    """

    text: LongText = ""
    lines: RiskLines = []


class RiskAlertBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="support.alert"
):
    """A supporter alerts the program's moderators: readable only by the members in ``seals``.

    Sealed like a :class:`ReportBody`: ``ciphertext`` is a secret box (random key,
    nonce prepended) of ``canonical(SignedRiskAlert)``, the key sealed to the X25519
    key (from the verified log) of every owner and moderator of the program and of
    the sender (so its other devices read it back). Counts only from a member whose
    role at the message's place is ``supporter``, ``moderator`` or ``owner``.
    """

    seals: Annotated[list[ReportSeal], msgspec.Meta(min_length=1, max_length=256)]
    ciphertext: bytes


class RiskAlertContent(msgspec.Struct, frozen=True, kw_only=True):
    """What a supporter signs (``CTX_RISK_ALERT``): whom they fear for, and where they talk."""

    room: RoomIdField
    """The program room."""
    supporter: MemberIdField
    member: MemberIdField
    """The person at risk: the requester's key in the program room."""
    request: MessageIdField
    """The support request whose claim opened the buddy chat."""
    buddy_room: RoomIdField
    note: LongText
    recipients: list[MemberIdField]
    """The owners and moderators it is sealed to, sorted (the sender's own seal is not listed)."""
    at: Count


class SignedRiskAlert(msgspec.Struct, frozen=True, kw_only=True):
    """:class:`RiskAlertContent` with the supporter's signature."""

    content: RiskAlertContent
    sig: Sig


class UnsupportedBody(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="unsupported"
):
    """Stands in, after decryption, for a body kind this version does not know.

    Senders never send it: :func:`protocol.open_message` produces it when a newer
    client used a tag this one does not know, so the message still counts (device,
    counter) and the app can show "unsupported message" instead of failing.
    """

    kind: str
    """The unknown tag."""


Body = (
    TextBody
    | EditBody
    | ReactionBody
    | ProfileBody
    | RulesBody
    | RulesAcceptBody
    | ModerationBody
    | ReportBody
    | ScheduleBody
    | SupportRequestBody
    | SupportClaimBody
    | SupportResealBody
    | SupportWithdrawBody
    | SupporterStatusBody
    | RiskPlanBody
    | RiskHelpBody
    | RiskAlertBody
    | MemberProfileBody
    | UnsupportedBody
)


class Plaintext(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What is encrypted: who (device), which (counter), when, and the body."""

    device: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
    """The sending device's id in this room (:func:`room_device_id`); a person's
    devices share the room key, so receivers count each device's messages apart."""
    counter: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    """1, 2, 3 ... per (room, device): a gap means a withheld message."""
    sent_at: Count
    """Sender's clock, milliseconds since the Unix epoch."""
    body: Body
    skipped: Annotated[
        list[Annotated[int, msgspec.Meta(ge=1, le=2**53)]], msgspec.Meta(max_length=64)
    ] = []
    """Earlier counters of this device that the relay refused for good (never stored).

    Receivers stop expecting exactly these (section 8.6); only counters below
    ``counter`` count."""


class DeleteContent(msgspec.Struct, frozen=True, kw_only=True):
    """A signed request to delete one message (by its sender or a moderator).

    ``sender``, ``device`` and ``counter`` name the target as its plaintext did:
    a receiver that never read the target excuses exactly that counter gap, and
    nothing else (section 8.6).
    """

    room: RoomIdField
    target: MessageIdField
    author: MemberIdField
    at: Count
    sender: MemberIdField
    device: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
    counter: Annotated[int, msgspec.Meta(ge=1, le=2**53)]


class DeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    """:class:`DeleteContent` with the author's signature (``CTX_DELETE``)."""

    content: DeleteContent
    sig: Sig


class EraseContent(msgspec.Struct, frozen=True, kw_only=True):
    """A member's signed request to erase every message it sent in ``room``.

    ``index`` is the log index the member had verified when it signed (its own
    ``room.leave`` when it deletes its data as a member): a receiver honours the
    request only for a member that is gone at the erasure's place in room order and
    whose last departure is at or before ``index``, so an old request replayed after
    a rejoin excuses nothing.
    """

    room: RoomIdField
    member: MemberIdField
    index: Count
    at: Count


class EraseRequest(msgspec.Struct, frozen=True, kw_only=True):
    """:class:`EraseContent` signed by ``member``'s room key (``CTX_ERASE``)."""

    content: EraseContent
    sig: Sig


def room_device_id(device_secret: bytes, room: RoomId) -> bytes:
    """A device's 16-byte id in the plaintexts it sends in ``room``.

    Keyed BLAKE2b of the room id under the device's random secret (never sent),
    personalisation ``hearth-room-dev``: stable within a room, so counters per
    (room, device) work, and unrelated across rooms, so a member of two rooms
    cannot tell that two pseudonyms share a device.
    """
    if len(device_secret) < DEVICE_ID_BYTES:
        raise ValueError(f"a device secret is at least {DEVICE_ID_BYTES} bytes")
    return crypto.kdf(
        device_secret, room.encode("ascii"), person=crypto.PERSON_ROOM_DEVICE, size=DEVICE_ID_BYTES
    )
