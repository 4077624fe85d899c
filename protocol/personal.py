"""A person's devices: link codes, and the encrypted personal store they share.

Linking. An existing device draws a 22-byte secret S and shows it as a *link code*:
``HL2-`` then S and a 3-byte checksum in Crockford base32 (40 characters in groups
of 4), fit for a QR code's alphanumeric mode. From S, keyed BLAKE2b derives three
*rendezvous ids* (16 bytes, base64url) under which the relay files one sealed box
each, claimed once, and the key that seals the first two (XChaCha20-Poly1305, the
rendezvous id as associated data). The relay sees the ids and the ciphertexts,
never S or a key. The exchange: the existing device files a *hello* (its
ephemeral X25519 key); the new device claims it and files an *answer* (its own
ephemeral key); both compute a six-digit *short code* from S and the two keys and
show it; only when the person confirms that both screens agree does the existing
device file the *root box*, sealed under a key from S and the two ephemeral keys'
Diffie-Hellman, which only the device that made the answer can open. Someone who
learned the code and answered first shows the existing device a short code that
the real new device does not show (that device cannot answer: the answer id is
taken), so the person refuses and the root never moves.

Personal store. From the root seed, with their own personalisations, come an
Ed25519 key that authenticates to the relay as the store's *owner* (nothing links
it to a room key without the root), the key that encrypts documents, and the key
that turns a document's name (``rooms``, ``notes``...) into the opaque 16-byte id
the relay sees. A document is a map of entries; each entry is a value or a
tombstone, stamped with the writer's clock and device. Documents are padded to a
power of two and sealed with the owner, the id and the version being written as
associated data, so the relay can neither move a document nor serve an old one
under a newer version.

Merging (:func:`merge`) is three-way against the last version both sides shared:
an entry only one side changed takes that side's value; an entry both changed
takes the later (``at``, then ``device``); under the ``keep`` rule (notes) an
edit beats a concurrent deletion and the losing one of two concurrent edits is
kept as a conflict copy, so no edit is ever lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, final

import msgspec

from protocol import base32, crypto
from protocol.encoding import canonical, from_msgpack
from protocol.errors import CryptoError, DecodeError, EnvelopeError, ForkDetected, LinkError
from protocol.ids import MemberId, RoomIdField, b64url_encode, member_id_from_key
from protocol.ops import Count, Hash
from protocol.padding import pad, unpad
from protocol.roomlog import RoomLog, op_hash

__all__ = [
    "DOC_ID_BYTES",
    "LINK_PAD_FLOOR",
    "LINK_PREFIX",
    "Document",
    "Entry",
    "LinkAnswer",
    "LinkCode",
    "LinkHello",
    "LinkPayload",
    "LinkRefusal",
    "LinkRoom",
    "MergeRule",
    "PersonalKeys",
    "VerifiedHead",
    "check_verified_head",
    "merge",
    "open_answer",
    "open_document",
    "open_hello",
    "open_link",
    "pad_document",
    "seal_answer",
    "seal_document",
    "seal_hello",
    "seal_link",
    "short_code",
    "unpad_document",
]

LINK_PREFIX: Final = "HL2"
"""Version prefix of a link code (Hearth link, format 2).

Format 1 (``HL1``) offers carried bare room ids, unpadded; a code of another
format is refused (``link.version``), never read as this one."""
LINK_PAD_FLOOR: Final = 8192
"""A link offer's plaintext is padded (:func:`protocol.padding.pad`) to at least
this many bytes, so its size tells nothing of the room count below ~90 rooms."""

_LINK_SECRET: Final = 22  # 176 bits
_LINK_SUM: Final = 3
_LINK_CHARS: Final = (_LINK_SECRET + _LINK_SUM) * 8 // 5  # 40
DOC_ID_BYTES: Final = 16
_MIN_DOC: Final = 256


# -- link codes ---------------------------------------------------------------


@final
@dataclass(frozen=True, repr=False)
class LinkCode:
    """The one-time secret an existing device shows to link a new one."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != _LINK_SECRET:
            raise ValueError(f"a link secret is {_LINK_SECRET} bytes")

    def __repr__(self) -> str:
        return "LinkCode(<secret>)"

    @classmethod
    def generate(cls, rng: crypto.Rng = crypto.random_bytes) -> LinkCode:
        """A fresh code (176 random bits)."""
        return cls(rng(_LINK_SECRET))

    @staticmethod
    def _checksum(secret: bytes) -> bytes:
        return crypto.blake2b(secret, person=crypto.PERSON_LINK_SUM)[:_LINK_SUM]

    @property
    def text(self) -> str:
        """``HL1-`` and 10 groups of 4 characters: what the QR code or the screen shows."""
        body = base32.encode(self.secret + self._checksum(self.secret))
        return "-".join([LINK_PREFIX, *(body[i : i + 4] for i in range(0, len(body), 4))])

    @classmethod
    def parse(cls, text: str) -> LinkCode:
        """Read a code as typed or scanned: case, spaces and hyphens are ignored.

        Raises:
            LinkError: ``link.bad_code`` (wrong version, length, character or checksum).
        """
        if not isinstance(text, str) or not text.isascii():
            raise LinkError("a link code is plain ASCII", code="link.bad_code")
        chars = base32.normalize(text)
        if chars[:2] == "HL" and chars[2:3].isdigit() and not chars.startswith(LINK_PREFIX):
            raise LinkError(
                f"this is a link code of format {chars[2]}; this SDK reads format"
                f" {LINK_PREFIX[2:]} only: update the other device",
                code="link.version",
            )
        if not chars.startswith(LINK_PREFIX):
            raise LinkError(f"a link code starts with {LINK_PREFIX}-", code="link.bad_code")
        chars = chars[len(LINK_PREFIX) :]
        if len(chars) != _LINK_CHARS:
            raise LinkError(
                f"a link code has {_LINK_CHARS} characters after {LINK_PREFIX}-,"
                f" this one {len(chars)}",
                code="link.bad_code",
            )
        try:
            data = base32.decode(chars, _LINK_SECRET + _LINK_SUM)
        except base32.BadCharacter as exc:
            raise LinkError(
                f"{exc.char!r} is not in the code's alphabet", code="link.bad_code"
            ) from exc
        secret, check = data[:_LINK_SECRET], data[_LINK_SECRET:]
        if cls._checksum(secret) != check:
            raise LinkError("the link code has a typo: its checksum fails", code="link.bad_code")
        return cls(secret)

    @property
    def rendezvous(self) -> str:
        """Where the relay files the hello: 16 bytes, base64url (22 characters)."""
        return self._id(b"id")

    @property
    def answer_rendezvous(self) -> str:
        """Where the relay files the new device's answer."""
        return self._id(b"answer")

    @property
    def root_rendezvous(self) -> str:
        """Where the relay files the root box (or the refusal)."""
        return self._id(b"root")

    def _id(self, label: bytes) -> str:
        return b64url_encode(crypto.kdf(self.secret, label, person=crypto.PERSON_LINK_ID, size=16))

    def key(self) -> bytes:
        """The key that seals the hello and the answer."""
        return crypto.kdf(self.secret, b"key", person=crypto.PERSON_LINK_KEY)


class VerifiedHead(msgspec.Struct, frozen=True, kw_only=True):
    """A room-log head a device of this person verified: the operation's index and hash.

    A device that takes the room up again (a restore, a linked device) requires
    the log the relay serves to hold this very operation at this index
    (:func:`check_verified_head`) before it signs or seals anything there. It may
    be older than the room's true head, never wrong.
    """

    index: Count
    head: Hash


class LinkRoom(msgspec.Struct, frozen=True, kw_only=True):
    """A room in a link offer, with the last head the offering device verified."""

    room: RoomIdField
    verified: VerifiedHead | None = None


_BoxKey = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class LinkHello(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="link.hello"):
    """The existing device's ephemeral X25519 public key (at the hello id)."""

    box_key: _BoxKey


class LinkAnswer(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="link.answer"):
    """The new device's ephemeral X25519 public key (at the answer id)."""

    box_key: _BoxKey


class LinkPayload(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="link.root"):
    """What the new device receives once confirmed: the root, and the rooms the person is in."""

    root: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    heads: list[LinkRoom] = []
    made_at: int = 0


class LinkRefusal(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="link.refused"):
    """The person did not confirm the short code: no root for this answer."""


_SHORT_CODE_DIGITS: Final = 6


def _seal(key: bytes, link_id: str, data: bytes, floor: int, rng: crypto.Rng) -> bytes:
    nonce = rng(crypto.AEAD_NONCE_BYTES)
    plain = pad(data, floor=floor)
    return nonce + crypto.aead_encrypt(key, nonce, plain, crypto.AD_LINK + link_id.encode())


def _open(key: bytes, link_id: str, box: bytes, kind: Any) -> Any:
    nonce, body = box[: crypto.AEAD_NONCE_BYTES], box[crypto.AEAD_NONCE_BYTES :]
    try:
        plain = crypto.aead_decrypt(key, nonce, body, crypto.AD_LINK + link_id.encode())
        return from_msgpack(unpad(plain), kind)
    except (CryptoError, DecodeError, EnvelopeError) as exc:
        raise LinkError("the link box does not open under this code", code="link.bad_box") from exc


def seal_hello(code: LinkCode, hello: LinkHello, rng: crypto.Rng = crypto.random_bytes) -> bytes:
    """``nonce || XChaCha20-Poly1305(code.key(), pad(canonical(hello)), AD_LINK || id)``."""
    return _seal(code.key(), code.rendezvous, canonical(hello), 256, rng)


def open_hello(code: LinkCode, box: bytes) -> LinkHello:
    """Open a hello. Raises :class:`LinkError` ``link.bad_box``."""
    hello: LinkHello = _open(code.key(), code.rendezvous, box, LinkHello)
    return hello


def seal_answer(code: LinkCode, answer: LinkAnswer, rng: crypto.Rng = crypto.random_bytes) -> bytes:
    """As :func:`seal_hello`, at the answer id."""
    return _seal(code.key(), code.answer_rendezvous, canonical(answer), 256, rng)


def open_answer(code: LinkCode, box: bytes) -> LinkAnswer:
    """Open an answer. Raises :class:`LinkError` ``link.bad_box``."""
    answer: LinkAnswer = _open(code.key(), code.answer_rendezvous, box, LinkAnswer)
    return answer


def short_code(code: LinkCode, hello_key: bytes, answer_key: bytes) -> str:
    """The six digits both screens show: ``BLAKE2b("sas" || hello || answer; key=S)``.

    Shown as ``123 456``. The existing device confirms only if the new device's
    screen shows the same digits.
    """
    digest = crypto.kdf(
        code.secret, b"sas" + hello_key + answer_key, person=crypto.PERSON_LINK_SAS, size=8
    )
    number = int.from_bytes(digest, "big") % 10**_SHORT_CODE_DIGITS
    text = f"{number:0{_SHORT_CODE_DIGITS}d}"
    return f"{text[:3]} {text[3:]}"


def _root_key(code: LinkCode, shared: bytes, hello_key: bytes, answer_key: bytes) -> bytes:
    return crypto.kdf(
        code.secret, b"root" + shared + hello_key + answer_key, person=crypto.PERSON_LINK_KEY
    )


def seal_link(
    code: LinkCode,
    payload: LinkPayload | LinkRefusal,
    *,
    hello: crypto.BoxPrivateKey,
    answer_key: bytes,
    rng: crypto.Rng = crypto.random_bytes,
) -> bytes:
    """The root box: ``payload`` sealed for the device that made ``answer_key``.

    The key is ``BLAKE2b("root" || X25519(hello, answer) || hello pub || answer pub;
    key=S, person=hearth-link-key)``: only the holder of the answer's private key
    (and of S) opens it, and only the holder of the hello's private key made it.
    The plaintext is padded to at least :data:`LINK_PAD_FLOOR` bytes (then to the
    padding buckets), so the box's size does not tell the relay how many rooms the
    person is in.

    Raises:
        CryptoError: ``crypto.bad_key`` if ``answer_key`` is not a usable key.
    """
    hello_key = crypto.box_public(hello)
    key = _root_key(code, crypto.box_shared(hello, answer_key), hello_key, answer_key)
    return _seal(key, code.root_rendezvous, canonical(payload), LINK_PAD_FLOOR, rng)


def open_link(
    code: LinkCode, box: bytes, *, answer: crypto.BoxPrivateKey, hello_key: bytes
) -> LinkPayload:
    """Open the root box sealed by :func:`seal_link` for ``answer``.

    Raises:
        LinkError: ``link.bad_box`` if it does not authenticate or decode,
            ``link.refused`` if the person refused this answer.
    """
    answer_key = crypto.box_public(answer)
    try:
        shared = crypto.box_shared(answer, hello_key)
    except CryptoError as exc:
        raise LinkError("the hello's key is not usable", code="link.bad_box") from exc
    key = _root_key(code, shared, hello_key, answer_key)
    got: LinkPayload | LinkRefusal = _open(
        key, code.root_rendezvous, box, LinkPayload | LinkRefusal
    )
    if isinstance(got, LinkRefusal):
        raise LinkError(
            "the other device refused: its short code did not match", code="link.refused"
        )
    return got


def check_verified_head(log: RoomLog, verified: VerifiedHead) -> None:
    """Require ``log`` (verified) to hold the operation ``verified`` names, at its index.

    Raises:
        ForkDetected: ``log.behind_verified_head`` if the log ends before that
            index (the relay serves a prefix: an operation this person already
            verified, a removal perhaps, is withheld), ``log.fork`` if another
            operation stands at that index.
    """
    if log.index < verified.index:
        raise ForkDetected(
            f"the relay serves the log up to index {log.index}, but this person had"
            f" verified it up to index {verified.index}",
            code="log.behind_verified_head",
        )
    if op_hash(log.ops[verified.index]) != verified.head:
        raise ForkDetected(
            f"the operation at index {verified.index} is not the one this person verified",
            code="log.fork",
        )


# -- the personal store's keys -------------------------------------------------


@final
@dataclass(frozen=True, repr=False)
class PersonalKeys:
    """The personal store's keys, derived from the root seed."""

    signing: crypto.SigningKey
    data_key: bytes
    name_key: bytes

    def __repr__(self) -> str:
        return f"PersonalKeys(member={self.member!r})"

    @classmethod
    def derive(cls, root: bytes) -> PersonalKeys:
        """Keyed BLAKE2b under the root, one personalisation per key."""
        return cls(
            signing=crypto.signing_key_from_seed(
                crypto.kdf(root, b"owner", person=crypto.PERSON_PERSONAL_SIGN)
            ),
            data_key=crypto.kdf(root, b"data", person=crypto.PERSON_PERSONAL_DATA),
            name_key=crypto.kdf(root, b"name", person=crypto.PERSON_PERSONAL_NAME),
        )

    @property
    def member(self) -> MemberId:
        """The owner key as the relay sees it (a member id in form, in no room)."""
        return member_id_from_key(bytes(self.signing.verify_key))

    def sign(self, context: bytes, payload: bytes) -> bytes:
        """Sign ``context || payload`` (the relay's auth challenge)."""
        return crypto.sign(self.signing, context, payload)

    def document_id(self, name: str) -> str:
        """The opaque id of a document name: 16 bytes of keyed BLAKE2b, base64url."""
        digest = crypto.kdf(
            self.name_key, name.encode("utf-8"), person=crypto.PERSON_PERSONAL_NAME, size=16
        )
        return b64url_encode(digest)


# -- documents ----------------------------------------------------------------


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a document: a value, or a tombstone (``value`` None) after a removal."""

    value: bytes | None
    at: int
    """The writer's clock, milliseconds since the Unix epoch."""
    device: bytes
    """The writer's 16-byte device id (breaks ties of ``at``)."""


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """A personal document: entries by key."""

    entries: dict[str, Entry] = {}


MergeRule = Literal["lww", "keep"]
"""``lww``: the later of two concurrent changes wins; ``keep``: no edit is lost."""


def _later(a: Entry, b: Entry) -> tuple[Entry, Entry]:
    return (a, b) if (a.at, a.device) >= (b.at, b.device) else (b, a)


def merge(base: Document, local: Document, remote: Document, *, rule: MergeRule) -> Document:
    """Three-way merge of ``local`` and ``remote``, which both started from ``base``.

    For each key: the same on both sides, or present on one side only: taken; changed
    on one side only (the other still equals ``base``): that side's; changed on
    both: the later by (``at``, ``device``). Under ``keep``, an edit beats a
    concurrent removal, and of two concurrent edits the earlier is kept as well,
    under the key ``<key>~<device hex>~<at>``.
    """
    out: dict[str, Entry] = {}
    for key in sorted(local.entries.keys() | remote.entries.keys()):
        mine, theirs = local.entries.get(key), remote.entries.get(key)
        if mine is None or theirs is None or mine == theirs:
            chosen = mine or theirs
            assert chosen is not None
            out.setdefault(key, chosen)
            continue
        was = base.entries.get(key)
        if mine == was:
            out[key] = theirs
            continue
        if theirs == was:
            out[key] = mine
            continue
        winner, loser = _later(mine, theirs)
        if rule == "keep" and loser.value is not None:
            if winner.value is None:
                winner, loser = loser, winner  # an edit beats a concurrent removal
            elif winner.value != loser.value:
                copy = f"{key}~{loser.device.hex()}~{loser.at}"
                if copy not in local.entries and copy not in remote.entries:
                    out[copy] = loser
        out[key] = winner
    return Document(entries=out)


def pad_document(data: bytes) -> bytes:
    """Pad to the next power of two (at least 256 bytes): ``0x80`` then zeros."""
    size = _MIN_DOC
    while size < len(data) + 1:
        size *= 2
    return data + b"\x80" + bytes(size - len(data) - 1)


def unpad_document(data: bytes) -> bytes:
    """Inverse of :func:`pad_document`."""
    if len(data) < _MIN_DOC or len(data) & (len(data) - 1):
        raise CryptoError(
            "a personal document's length is not a padded size", code="crypto.bad_padding"
        )
    end = len(data.rstrip(b"\x00"))
    if end == 0 or data[end - 1] != 0x80:
        raise CryptoError("a personal document's padding is damaged", code="crypto.bad_padding")
    return data[: end - 1]


def _doc_ad(owner: MemberId, doc_id: str, version: int) -> bytes:
    return crypto.AD_PERSONAL + f"{owner}\x00{doc_id}\x00".encode() + version.to_bytes(8, "big")


def seal_document(
    keys: PersonalKeys,
    doc_id: str,
    version: int,
    document: Document,
    rng: crypto.Rng = crypto.random_bytes,
) -> bytes:
    """Encrypt ``document`` as version ``version`` of ``doc_id``."""
    nonce = rng(crypto.AEAD_NONCE_BYTES)
    plain = pad_document(canonical(document))
    return nonce + crypto.aead_encrypt(
        keys.data_key, nonce, plain, _doc_ad(keys.member, doc_id, version)
    )


def open_document(keys: PersonalKeys, doc_id: str, version: int, box: bytes) -> Document:
    """Decrypt version ``version`` of ``doc_id``.

    Raises:
        CryptoError: ``crypto.decrypt_failed`` (wrong key, another document or
            version, tampering) or ``crypto.bad_padding``.
    """
    nonce, body = box[: crypto.AEAD_NONCE_BYTES], box[crypto.AEAD_NONCE_BYTES :]
    plain = crypto.aead_decrypt(keys.data_key, nonce, body, _doc_ad(keys.member, doc_id, version))
    try:
        return from_msgpack(unpad_document(plain), Document)
    except DecodeError as exc:
        raise CryptoError(
            "a personal document does not decode", code="crypto.decrypt_failed"
        ) from exc
