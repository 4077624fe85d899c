"""Domain identifiers.

All ids are short ASCII strings so they can travel in JSON, URLs and logs unchanged:
member ids are the room-scoped Ed25519 public key in base64url without padding
(43 characters); message ids are 16 random bytes the same way (22 characters).

A room id is 24 bytes (32 characters): BLAKE2b-192 of the room's genesis key and
nonce (:func:`room_id_from_genesis`). The genesis key signs the room's
``room.create``, so the id commits to its genesis: finding another key whose hash
is the same id is a 192-bit second preimage. Nobody can make up a room id and a
log that verifies for it without holding the genesis key, which only the creator's
root derives. The ``*Field`` aliases carry the length and alphabet checks that
msgspec enforces when decoding.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Annotated, Final, NewType

import msgspec

from protocol import crypto
from protocol.crypto import Rng, random_bytes
from protocol.errors import DecodeError

__all__ = [
    "GENESIS_NONCE_BYTES",
    "ROOM_ID_BYTES",
    "ROOM_ID_CHARS",
    "MemberId",
    "MemberIdField",
    "MessageId",
    "MessageIdField",
    "RoomId",
    "RoomIdField",
    "b64url_decode",
    "b64url_encode",
    "member_id_from_key",
    "member_key",
    "new_message_id",
    "room_id_from_genesis",
]

RoomId = NewType("RoomId", str)
MemberId = NewType("MemberId", str)
MessageId = NewType("MessageId", str)

ROOM_ID_BYTES: Final = 24
ROOM_ID_CHARS: Final = 32
"""A room id's length in bytes and in base64url characters (192 bits)."""
GENESIS_NONCE_BYTES: Final = 16

_B64URL = "^[A-Za-z0-9_-]*$"
RoomIdField = Annotated[
    RoomId, msgspec.Meta(min_length=ROOM_ID_CHARS, max_length=ROOM_ID_CHARS, pattern=_B64URL)
]
MemberIdField = Annotated[MemberId, msgspec.Meta(min_length=43, max_length=43, pattern=_B64URL)]
MessageIdField = Annotated[MessageId, msgspec.Meta(min_length=22, max_length=22, pattern=_B64URL)]


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; accepts only the one spelling it produces.

    The standard library skips foreign characters and ignores the spare low bits of
    the last character, so several strings decode to one key; a member id must
    name exactly one member, hence the re-encoding check.
    """
    if "=" in text or not text.isascii():
        raise DecodeError("base64url must be unpadded ASCII")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("invalid base64url") from exc
    if b64url_encode(data) != text:
        raise DecodeError("not the canonical base64url spelling")
    return data


def member_id_from_key(public_key: bytes) -> MemberId:
    """The member id of a room-scoped Ed25519 public key."""
    return MemberId(b64url_encode(public_key))


@lru_cache(maxsize=4096)
def member_key(member: MemberId) -> bytes:
    """The Ed25519 public key a member id names.

    Cached: every message's signature check asks for its sender's key, and a
    room has few senders (a malformed id raises, and is not cached).
    """
    key = b64url_decode(member)
    if len(key) != 32:
        raise DecodeError("a member id is a 32-byte key")
    return key


def room_id_from_genesis(genesis_key: bytes, nonce: bytes) -> RoomId:
    """The id of the room whose ``room.create`` the Ed25519 ``genesis_key`` signs.

    BLAKE2b-192 (personalisation ``hearth-room-id``) of the 32-byte key followed by
    the 16-byte nonce it was derived with.

    Raises:
        DecodeError: a key that is not 32 bytes or a nonce that is not 16.
    """
    if len(genesis_key) != 32 or len(nonce) != GENESIS_NONCE_BYTES:
        raise DecodeError("a genesis key is 32 bytes and its nonce 16")
    digest = crypto.blake2b(genesis_key + nonce, person=crypto.PERSON_ROOM_ID, size=ROOM_ID_BYTES)
    return RoomId(b64url_encode(digest))


def new_message_id(rng: Rng = random_bytes) -> MessageId:
    """A fresh random client message id."""
    return MessageId(b64url_encode(rng(16)))
