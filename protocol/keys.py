"""Identity keys: one root seed, a pseudonymous key pair per room, safety numbers.

A person holds a 32-byte root seed, written down as a recovery phrase: the seed and
a 3-byte checksum in Crockford base32, 56 characters in 14 groups of 4. From the
root and a room id, keyed BLAKE2b derives the member's Ed25519 signing seed and
X25519 secret for that room. Nothing links two rooms' keys without the root.

A new room starts from a :class:`GenesisKey`: an Ed25519 key derived from the root
and a random nonce. The room id is a hash of its public half and the nonce, and it
signs the statement that names the room's first owner, so a room id can only ever
verify with the ``room.create`` its creator signed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, final

from protocol import base32, crypto
from protocol.encoding import canonical
from protocol.errors import PhraseError
from protocol.ids import (
    GENESIS_NONCE_BYTES,
    MemberId,
    RoomId,
    member_id_from_key,
    room_id_from_genesis,
)
from protocol.ops import Binding, Genesis, GenesisStatement

__all__ = ["GenesisKey", "RoomKeys", "RootSeed", "room_fingerprint", "safety_number"]

_CHECKSUM_BYTES: Final = 3
_PHRASE_CHARS: Final = 56  # (32 + 3) bytes * 8 / 5 bits


def _checksum(seed: bytes) -> bytes:
    return crypto.blake2b(seed, person=crypto.PERSON_PHRASE)[:_CHECKSUM_BYTES]


@final
@dataclass(frozen=True, repr=False)
class RootSeed:
    """A person's root secret. ``repr`` never shows it."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != crypto.KEY_BYTES:
            raise ValueError("a root seed is 32 bytes")

    def __repr__(self) -> str:
        return "RootSeed(<secret>)"

    @classmethod
    def generate(cls, rng: crypto.Rng = crypto.random_bytes) -> RootSeed:
        """A fresh random root."""
        return cls(rng(crypto.KEY_BYTES))

    @classmethod
    def from_phrase(cls, phrase: str) -> RootSeed:
        """Parse a recovery phrase; case, spaces and hyphens are ignored.

        Raises:
            PhraseError: wrong length (``phrase.length``), a character outside the
                alphabet (``phrase.character``) or a checksum mismatch
                (``phrase.checksum``).
        """
        if not phrase.isascii():
            raise PhraseError("a recovery phrase is plain ASCII", code="phrase.character")
        chars = base32.normalize(phrase)
        if len(chars) != _PHRASE_CHARS:
            raise PhraseError(
                f"a recovery phrase has {_PHRASE_CHARS} characters, this one {len(chars)}",
                code="phrase.length",
            )
        try:
            data = base32.decode(chars, crypto.KEY_BYTES + _CHECKSUM_BYTES)
        except base32.BadCharacter as exc:
            raise PhraseError(
                f"{exc.char!r} is not in the phrase alphabet", code="phrase.character"
            ) from exc
        seed, check = data[: crypto.KEY_BYTES], data[crypto.KEY_BYTES :]
        if _checksum(seed) != check:
            raise PhraseError("the phrase has a typo: its checksum fails", code="phrase.checksum")
        return cls(seed)

    @property
    def phrase(self) -> str:
        """The recovery phrase: 14 groups of 4 characters joined by hyphens."""
        text = base32.encode(self.secret + _checksum(self.secret))
        return "-".join(text[i : i + 4] for i in range(0, len(text), 4))

    def room_keys(self, room: RoomId) -> RoomKeys:
        """This person's pseudonymous keys in ``room``."""
        return RoomKeys.derive(self.secret, room)

    def new_room(self, rng: crypto.Rng = crypto.random_bytes) -> GenesisKey:
        """The genesis key of a new room, from a fresh random nonce."""
        return self.genesis(rng(GENESIS_NONCE_BYTES))

    def genesis(self, nonce: bytes) -> GenesisKey:
        """The genesis key this root derives for ``nonce`` (16 bytes)."""
        if len(nonce) != GENESIS_NONCE_BYTES:
            raise ValueError("a genesis nonce is 16 bytes")
        seed = crypto.kdf(self.secret, nonce, person=crypto.PERSON_GENESIS)
        return GenesisKey(nonce=nonce, signing=crypto.signing_key_from_seed(seed))


@final
@dataclass(frozen=True, repr=False)
class GenesisKey:
    """The one-off key whose hash is a new room's id; it names the room's first owner."""

    nonce: bytes
    signing: crypto.SigningKey
    room: RoomId = field(init=False)

    def __post_init__(self) -> None:
        room = room_id_from_genesis(bytes(self.signing.verify_key), self.nonce)
        object.__setattr__(self, "room", room)

    def __repr__(self) -> str:
        return f"GenesisKey(room={self.room!r})"

    def prove(self, creator: MemberId) -> Genesis:
        """The ``genesis`` field of the ``room.create`` that makes ``creator`` the owner."""
        statement = GenesisStatement(room=self.room, creator=creator)
        return Genesis(
            key=bytes(self.signing.verify_key),
            nonce=self.nonce,
            sig=crypto.sign(self.signing, crypto.CTX_GENESIS, canonical(statement)),
        )


@final
@dataclass(frozen=True, repr=False)
class RoomKeys:
    """A member's key pairs in one room, derived from the root and the room id."""

    room: RoomId
    signing: crypto.SigningKey
    box: crypto.BoxPrivateKey
    member: MemberId = field(init=False)
    box_public: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "member", member_id_from_key(bytes(self.signing.verify_key)))
        object.__setattr__(self, "box_public", crypto.box_public(self.box))

    def __repr__(self) -> str:
        return f"RoomKeys(room={self.room!r}, member={self.member!r})"

    @classmethod
    def derive(cls, root: bytes, room: RoomId) -> RoomKeys:
        """Keyed BLAKE2b of the room id under the root, one personalisation per key."""
        data = room.encode("ascii")
        sign_seed = crypto.kdf(root, data, person=crypto.PERSON_ROOM_SIGN)
        box_seed = crypto.kdf(root, data, person=crypto.PERSON_ROOM_BOX)
        return cls(
            room=room,
            signing=crypto.signing_key_from_seed(sign_seed),
            box=crypto.box_keypair_from_seed(box_seed),
        )

    def sign(self, context: bytes, payload: bytes) -> bytes:
        """Sign ``context || payload`` with this member's key."""
        return crypto.sign(self.signing, context, payload)

    def binding(self) -> bytes:
        """This member's signature binding its X25519 key to its id in this room."""
        statement = Binding(room=self.room, member=self.member, box_key=self.box_public)
        return self.sign(crypto.CTX_BINDING, canonical(statement))


def safety_number(room: RoomId, a: tuple[MemberId, bytes], b: tuple[MemberId, bytes]) -> str:
    """A 60-digit code two members compare to check each other's keys in ``room``.

    ``a`` and ``b`` are (member id, X25519 public key). The result does not depend
    on their order: both members compute the same digits.
    """
    first, second = sorted([a, b])
    parts = (room.encode("ascii"), *(p for m, k in (first, second) for p in (m.encode(), k)))
    data = b"".join(parts)
    digest = crypto.blake2b(data, person=crypto.PERSON_SAFETY, size=60)
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 60, 5)]
    return " ".join(f"{g:05d}" for g in groups)


_FINGERPRINT_BYTES: Final = 60  # 12 groups of 5 digits, ~199 bits: as a safety number


def room_fingerprint(room: RoomId, index: int, head: bytes) -> str:
    """A 60-digit code two members compare to check they hold the same log of ``room``.

    ``index`` is the index of the newest operation a member verified and ``head``
    its hash (:attr:`protocol.RoomLog.index`, :attr:`protocol.RoomLog.head`, or
    ``hash_at(index)`` for an earlier one). Members at the same index get the same
    digits exactly when their logs are the same up to it: the hash chain covers
    every earlier operation. Show the index beside the digits: two members at
    different indices get different digits, and sync (or compare at the lower
    index) before they conclude anything. If a relay keeps two groups of members
    apart, their fingerprints differ even though no message ever crossed over to
    raise a fork alarm.

    Raises:
        ValueError: ``index`` is negative or ``head`` is not a 32-byte hash.
    """
    if index < 0 or index >= 2**64:
        raise ValueError("a log index is a non-negative 64-bit integer")
    if len(head) != crypto.HASH_BYTES:
        raise ValueError("a log head is a 32-byte hash")
    data = room.encode("ascii") + index.to_bytes(8, "big") + head
    digest = crypto.blake2b(data, person=crypto.PERSON_ROOM_FP, size=_FINGERPRINT_BYTES)
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 60, 5)]
    return " ".join(f"{g:05d}" for g in groups)
