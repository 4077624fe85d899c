"""Sealing and opening message envelopes.

``seal_message`` pads the plaintext to a bucket, encrypts it with
XChaCha20-Poly1305 under the epoch's message key with ``CTX_MSG_AD ||
canonical(header)`` as associated data, and signs ``CTX_MSG || canonical(header) ||
ciphertext`` with the sender's room key. ``open_message`` checks the signature
before it decrypts anything. ``check_envelope`` is what the relay runs before it
stores a message: the same checks minus decryption, against its verified log.

``check_place`` is the admission rule at one log position (the epoch in force, no
rotation pending, the sender a member): the relay applies it to its log as it stands
when it stores a message, and the SDK to the log as it stood where a message sits in
room order and at the head it names, so both refuse a message for the same reason.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Annotated, Final, Protocol, get_args

import msgspec

from protocol import crypto
from protocol.encoding import canonical, from_msgpack
from protocol.epochs import message_key
from protocol.errors import CryptoError, DecodeError, EnvelopeError, ForkDetected
from protocol.ids import MemberId, MessageId, member_key, new_message_id
from protocol.keys import RoomKeys
from protocol.messages import Body, Envelope, EnvelopeHeader, Plaintext, UnsupportedBody
from protocol.padding import BUCKETS, pad, unpad
from protocol.roomlog import RoomLog

__all__ = [
    "LogPlace",
    "check_envelope",
    "check_place",
    "open_message",
    "seal_message",
    "verify_signature",
]


def seal_message(
    keys: RoomKeys,
    plaintext: Plaintext,
    *,
    epoch: int,
    epoch_secret: bytes,
    head_index: int,
    head: bytes,
    message_id: MessageId | None = None,
    rng: crypto.Rng = crypto.random_bytes,
) -> Envelope:
    """Encrypt and sign ``plaintext`` for ``keys.room`` under ``epoch``."""
    header = EnvelopeHeader(
        room=keys.room,
        epoch=epoch,
        sender=keys.member,
        id=message_id or new_message_id(rng),
        head_index=head_index,
        head=head,
        nonce=rng(crypto.AEAD_NONCE_BYTES),
    )
    header_bytes = canonical(header)
    ciphertext = crypto.aead_encrypt(
        message_key(epoch_secret),
        header.nonce,
        pad(canonical(plaintext)),
        crypto.CTX_MSG_AD + header_bytes,
    )
    sig = keys.sign(crypto.CTX_MSG, header_bytes + ciphertext)
    return Envelope(header=header, ciphertext=ciphertext, sig=sig)


def verify_signature(envelope: Envelope) -> bytes:
    """Check the sender's signature; return the header's canonical bytes."""
    header_bytes = canonical(envelope.header)
    try:
        crypto.verify(
            member_key(envelope.header.sender),
            crypto.CTX_MSG,
            header_bytes + envelope.ciphertext,
            envelope.sig,
        )
    except (CryptoError, DecodeError) as exc:
        raise EnvelopeError(
            "message is not signed by its sender", code="msg.bad_signature"
        ) from exc
    return header_bytes


def open_message(envelope: Envelope, *, epoch_secret: bytes, key: bytes | None = None) -> Plaintext:
    """Verify, decrypt and decode an envelope with its epoch's secret.

    Args:
        envelope: The envelope as served.
        epoch_secret: The secret of the epoch the header names.
        key: ``message_key(epoch_secret)``, if the caller keeps it per epoch
            (opening many messages of one epoch then derives it once).

    Raises:
        EnvelopeError: ``msg.bad_signature``, ``msg.decrypt_failed`` (wrong epoch
            secret or tampered ciphertext), ``msg.bad_padding`` or
            ``msg.malformed`` (the plaintext does not decode).
    """
    header_bytes = verify_signature(envelope)
    try:
        padded = crypto.aead_decrypt(
            message_key(epoch_secret) if key is None else key,
            envelope.header.nonce,
            envelope.ciphertext,
            crypto.CTX_MSG_AD + header_bytes,
        )
    except CryptoError as exc:
        raise EnvelopeError("message does not decrypt", code="msg.decrypt_failed") from exc
    data = unpad(padded)
    try:
        return from_msgpack(data, Plaintext)
    except DecodeError as exc:
        return _unsupported(data, exc)


class _Frame(msgspec.Struct, frozen=True, kw_only=True):
    device: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
    counter: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    sent_at: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    body: msgspec.Raw


class _Tag(msgspec.Struct, frozen=True):
    type: str


_KNOWN_TAGS: Final = frozenset(t.__struct_config__.tag for t in get_args(Body))


def _unsupported(data: bytes, error: DecodeError) -> Plaintext:
    """A plaintext whose body has a tag newer than this code, kept as UnsupportedBody."""
    malformed = EnvelopeError(f"plaintext does not decode: {error.message}", code="msg.malformed")
    try:
        frame = from_msgpack(data, _Frame)
        tag = from_msgpack(bytes(frame.body), _Tag).type
    except DecodeError:
        raise malformed from error
    if tag in _KNOWN_TAGS:
        raise malformed from error
    return Plaintext(
        device=frame.device,
        counter=frame.counter,
        sent_at=frame.sent_at,
        body=UnsupportedBody(kind=tag),
    )


class LogPlace(Protocol):
    """The room as it stood once the operation at one log index applied.

    A :class:`~protocol.roomlog.RoomLog` is one (its newest index); the SDK keeps one
    per index to judge messages against the log as it was where they sit.
    """

    @property
    def epoch(self) -> int: ...

    @property
    def needs_rotation(self) -> bool: ...

    @property
    def members(self) -> Container[MemberId]: ...


def check_place(header: EnvelopeHeader, place: LogPlace, where: str) -> None:
    """The admission rule at one log position: may ``header``'s sender send there?

    ``where`` says which position it is (``"now"``, ``"at the head it names"`` ...),
    for the error's message.

    Raises:
        EnvelopeError: ``msg.stale_epoch`` (not the epoch in force there, or a
            rotation was due after a leave), then ``msg.not_member`` (the sender was
            not a member there).
    """
    if header.epoch != place.epoch or place.needs_rotation:
        raise EnvelopeError(
            f"message {header.id} uses epoch {header.epoch}, but the room was at epoch"
            f" {place.epoch}"
            + (" awaiting rotation" if place.needs_rotation else "")
            + f" {where}",
            code="msg.stale_epoch",
        )
    if header.sender not in place.members:
        raise EnvelopeError(f"{header.sender} was not a member {where}", code="msg.not_member")


def check_envelope(log: RoomLog, envelope: Envelope) -> None:
    """The relay's admission check for a message, against its verified log.

    Raises:
        EnvelopeError: ``msg.bad_room``, ``msg.bad_size`` (the ciphertext is not a
            padding bucket plus the tag), then :func:`check_place` for the log now
            (``msg.stale_epoch``: not the current epoch or a rotation is due after a
            leave; ``msg.not_member``), ``msg.stale_epoch`` (the named head is older
            than the epoch's commit),
            ``msg.unknown_head`` (the named head is not in the log), ``msg.bad_signature``.
    """
    header = envelope.header
    if header.room != log.room:
        raise EnvelopeError("message names another room", code="msg.bad_room")
    if len(envelope.ciphertext) - crypto.AEAD_TAG_BYTES not in BUCKETS:
        raise EnvelopeError("ciphertext length is not a padding bucket", code="msg.bad_size")
    check_place(header, log, "now")
    try:
        known = log.check_head(header.head_index, header.head)
    except ForkDetected as exc:
        raise EnvelopeError(
            "message names a head not in this log", code="msg.unknown_head"
        ) from exc
    if not known:
        raise EnvelopeError("message names a head not in this log", code="msg.unknown_head")
    if log.epoch_at(header.head_index) != header.epoch:
        raise EnvelopeError(
            "message names a head from before its epoch's commit", code="msg.stale_epoch"
        )
    verify_signature(envelope)
