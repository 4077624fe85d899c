"""Domain identifiers.

All ids are short ASCII strings so they can travel in JSON, URLs and logs unchanged:
member ids are the room-scoped Ed25519 public key in base64url without padding
(43 characters), room and message ids are 16 random bytes the same way (22
characters). The ``*Field`` aliases carry the length and alphabet checks that
msgspec enforces when decoding.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Annotated, NewType

import msgspec

from protocol.crypto import Rng, random_bytes
from protocol.errors import DecodeError

__all__ = [
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
    "new_room_id",
]

RoomId = NewType("RoomId", str)
MemberId = NewType("MemberId", str)
MessageId = NewType("MessageId", str)

_B64URL = "^[A-Za-z0-9_-]*$"
RoomIdField = Annotated[RoomId, msgspec.Meta(min_length=22, max_length=22, pattern=_B64URL)]
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


def new_room_id(rng: Rng = random_bytes) -> RoomId:
    """A fresh random room id."""
    return RoomId(b64url_encode(rng(16)))


def new_message_id(rng: Rng = random_bytes) -> MessageId:
    """A fresh random client message id."""
    return MessageId(b64url_encode(rng(16)))
