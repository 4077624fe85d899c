"""A person's identity: one root seed, shown as a recovery phrase, kept encrypted at rest.

Everything else is derived from the root: the pseudonymous key pair of every room
(``protocol.RoomKeys``) and the key of the local store. An :class:`Identity` never
shows its secret in ``repr`` and compares in constant time.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from typing import final

from client_sdk._keystore import Strength, load_root, save_root
from protocol import crypto
from protocol.clock import SYSTEM_CLOCK
from protocol.ids import RoomId
from protocol.keys import GenesisKey, RoomKeys, RootSeed
from protocol.personal import (
    LinkCode,
    LinkPayload,
    LinkRoom,
    PersonalKeys,
    open_link,
    seal_link,
)

__all__ = ["Identity"]


@final
class Identity:
    """One person's root secret and everything derived from it.

    Create one with :meth:`generate`, restore it with :meth:`from_recovery_phrase`,
    keep it on disk with :meth:`save` / :meth:`load`.
    """

    __slots__ = ("_root",)

    def __init__(self, root: RootSeed) -> None:
        """Wrap an existing root seed (prefer the named constructors)."""
        self._root = root

    @classmethod
    def generate(cls) -> Identity:
        """A fresh identity from the system's CSPRNG."""
        return cls(RootSeed.generate())

    @classmethod
    def from_recovery_phrase(cls, phrase: str) -> Identity:
        """Restore an identity from its recovery phrase.

        Case, spaces and hyphens are ignored.

        Raises:
            protocol.PhraseError: The phrase is malformed or has a typo
                (``phrase.length``, ``phrase.character``, ``phrase.checksum``).
        """
        return cls(RootSeed.from_phrase(phrase))

    @property
    def recovery_phrase(self) -> str:
        """The phrase that restores this identity: 14 groups of 4 characters.

        Whoever holds it holds every room key of this person; show it once, to them.
        """
        return self._root.phrase

    def save(
        self, path: str | os.PathLike[str], passphrase: str, *, strength: Strength = "moderate"
    ) -> None:
        """Write the root seed to ``path``, encrypted under ``passphrase``.

        Argon2id derives the key (``strength`` picks libsodium's preset; the
        default costs about half a second and 256 MiB), a secret box encrypts the
        seed. The file is replaced atomically and readable by its owner only.

        Raises:
            KeystoreError: ``keystore.passphrase`` (empty passphrase),
                ``keystore.io`` (the file cannot be written).
        """
        save_root(self._root, path, passphrase, strength=strength)

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: str) -> Identity:
        """Read an identity written by :meth:`save`.

        Raises:
            KeystoreError: ``keystore.wrong_passphrase``, ``keystore.corrupt``,
                ``keystore.version``, ``keystore.io``.
        """
        return cls(load_root(path, passphrase))

    def room_keys(self, room: RoomId) -> RoomKeys:
        """This person's pseudonymous key pairs in ``room``."""
        return self._root.room_keys(room)

    def new_room(self) -> GenesisKey:
        """The genesis key of a new room (its id is the hash of this key)."""
        return self._root.new_room()

    def personal_keys(self) -> PersonalKeys:
        """The keys of this person's personal store (``PERSON_PERSONAL_*``)."""
        return PersonalKeys.derive(self._root.secret)

    def seal_link(
        self,
        code: LinkCode,
        rooms: Iterable[LinkRoom],
        *,
        hello: crypto.BoxPrivateKey,
        answer_key: bytes,
        now: int | None = None,
    ) -> bytes:
        """The root box for the device that answered ``code`` with ``answer_key``.

        It holds this root and ``rooms`` (with the heads this device verified),
        sealed for that device alone and padded (:func:`protocol.personal.seal_link`),
        stamped ``now`` (ms; default: the system clock).
        """
        heads = sorted(rooms, key=lambda r: r.room)
        made_at = SYSTEM_CLOCK.now_ms() if now is None else now
        payload = LinkPayload(root=self._root.secret, heads=heads, made_at=made_at)
        return seal_link(code, payload, hello=hello, answer_key=answer_key)

    @classmethod
    def open_link(
        cls, code: LinkCode, box: bytes, *, answer: crypto.BoxPrivateKey, hello_key: bytes
    ) -> tuple[Identity, list[LinkRoom]]:
        """The identity and room list (with their verified heads) inside a root box.

        Raises:
            protocol.LinkError: ``link.bad_box`` if it does not open for ``answer``,
                ``link.refused`` if the other device refused.
        """
        payload = open_link(code, box, answer=answer, hello_key=hello_key)
        return cls(RootSeed(payload.root)), list(payload.heads)

    def store_key(self) -> bytes:
        """The key that encrypts this identity's local store (``PERSON_LOCAL_STORE``)."""
        return crypto.kdf(self._root.secret, b"store", person=crypto.PERSON_LOCAL_STORE)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Identity):
            return NotImplemented
        return hmac.compare_digest(self._root.secret, other._root.secret)

    __hash__ = None  # type: ignore[assignment]  # equal by secret, never a dict key

    def __repr__(self) -> str:
        return "Identity(<secret>)"
