"""Every cryptographic primitive Hearth uses, and only here.

Thin, typed wrappers over libsodium through PyNaCl. Each function takes its domain
separation explicitly: hashes and key derivations are BLAKE2b with a personalisation
string (``PERSON_*``), signatures cover a context string (``CTX_*``) followed by the
signed bytes. No other module of Hearth calls PyNaCl directly, so this file is the
complete list of algorithms and contexts that ``docs/protocol.md`` specifies.

Randomness is a parameter (``rng``) with the system CSPRNG as default, so tests and
vectors can fix it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Final, TypeAlias

import nacl.bindings as _b
import nacl.exceptions
import nacl.public
import nacl.pwhash
import nacl.secret
import nacl.signing

from protocol.errors import CryptoError

__all__ = [
    "AD_LINK",
    "AD_PERSONAL",
    "AEAD_NONCE_BYTES",
    "AEAD_TAG_BYTES",
    "CTX_AUTH",
    "CTX_BINDING",
    "CTX_DELETE",
    "CTX_ERASE",
    "CTX_GENESIS",
    "CTX_INVITE",
    "CTX_INVITE_READ",
    "CTX_MSG",
    "CTX_MSG_AD",
    "CTX_OP",
    "CTX_REPORT",
    "CTX_RISK_ALERT",
    "CTX_SUPPORT",
    "HASH_BYTES",
    "KEY_BYTES",
    "PASSPHRASE_LIMITS",
    "PASSPHRASE_MIN_LIMITS",
    "PASSPHRASE_SALT_BYTES",
    "PERSON_CONFIRM",
    "PERSON_EPOCH",
    "PERSON_GENESIS",
    "PERSON_HISTORY",
    "PERSON_LINK_ID",
    "PERSON_LINK_KEY",
    "PERSON_LINK_SAS",
    "PERSON_LINK_SUM",
    "PERSON_LOCAL_INDEX",
    "PERSON_LOCAL_STORE",
    "PERSON_MSG_KEY",
    "PERSON_OP_HASH",
    "PERSON_PERSONAL_DATA",
    "PERSON_PERSONAL_NAME",
    "PERSON_PERSONAL_SIGN",
    "PERSON_PHRASE",
    "PERSON_POW",
    "PERSON_PUSH_DEVICE",
    "PERSON_PUSH_SCOPE",
    "PERSON_ROOM_BOX",
    "PERSON_ROOM_DEVICE",
    "PERSON_ROOM_FP",
    "PERSON_ROOM_ID",
    "PERSON_ROOM_SIGN",
    "PERSON_SAFETY",
    "PERSON_TOKEN",
    "SIGNATURE_BYTES",
    "BoxPrivateKey",
    "Rng",
    "SigningKey",
    "aead_decrypt",
    "aead_encrypt",
    "blake2b",
    "box_keypair_from_seed",
    "box_public",
    "box_shared",
    "check_box_key",
    "kdf",
    "passphrase_key",
    "pow_check",
    "pow_solve",
    "random_bytes",
    "seal",
    "secretbox_decrypt",
    "secretbox_encrypt",
    "sign",
    "signing_key_from_seed",
    "unseal",
    "verify",
]

Rng = Callable[[int], bytes]
"""A source of random bytes: ``rng(n)`` returns ``n`` bytes."""

# The two key objects other modules hold and pass back in here. They are named here so
# that a type hint elsewhere never imports PyNaCl (this module is its only importer).
SigningKey: TypeAlias = nacl.signing.SigningKey
"""An Ed25519 signing key (from :func:`signing_key_from_seed`)."""
BoxPrivateKey: TypeAlias = nacl.public.PrivateKey
"""An X25519 private key (from :func:`box_keypair_from_seed`)."""

KEY_BYTES: Final = 32
HASH_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
AEAD_NONCE_BYTES: Final = _b.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
AEAD_TAG_BYTES: Final = _b.crypto_aead_xchacha20poly1305_ietf_ABYTES

# BLAKE2b personalisations (at most 16 bytes each; libsodium pads them with zeros).
PERSON_OP_HASH: Final = b"hearth-op-hash"
PERSON_ROOM_SIGN: Final = b"hearth-room-sig"
PERSON_ROOM_BOX: Final = b"hearth-room-box"
PERSON_EPOCH: Final = b"hearth-epoch"
PERSON_CONFIRM: Final = b"hearth-confirm"
PERSON_HISTORY: Final = b"hearth-history"
PERSON_MSG_KEY: Final = b"hearth-msg-key"
PERSON_PHRASE: Final = b"hearth-phrase"
PERSON_SAFETY: Final = b"hearth-safety"
# A room fingerprint: the digits two members compare to check they hold the same log
# up to the same index (a relay that keeps two groups apart cannot make them agree).
PERSON_ROOM_FP: Final = b"hearth-room-fp"
PERSON_TOKEN: Final = b"hearth-token"
PERSON_POW: Final = b"hearth-pow"
# A room's genesis: the creator's one-off genesis key comes from the root and a random
# nonce, and the room id is the hash of that key and nonce, so only the holder of the
# root that made the room can sign a room.create that verifies for its id.
PERSON_GENESIS: Final = b"hearth-genesis"
PERSON_ROOM_ID: Final = b"hearth-room-id"
# The SDK's key for its local store (epoch secrets, message plaintext at rest on a
# device), derived from the root so the recovery phrase alone can reopen a store.
PERSON_LOCAL_STORE: Final = b"hearth-local"
# The local store's row keys: a keyed hash of a room, message or member id, so the
# store names none of them in clear (key: derived from the store key).
PERSON_LOCAL_INDEX: Final = b"hearth-local-idx"
# The SDK's name for a device in one room's push registrations: from the device's
# random id and the room, so the relay cannot link one device's rooms by it.
PERSON_PUSH_DEVICE: Final = b"hearth-push-dev"
# A browser's local name for one room's push subscription (a service worker scope):
# keyed by the device's secret, so neither the relay (which knows the push device
# names) nor a reader of the browser's profile without the store's key can tell
# which room a subscription belongs to. Local only.
PERSON_PUSH_SCOPE: Final = b"hearth-sw-scope"
# A device's id inside the plaintexts it sends in one room: keyed by the device's
# random secret, so co-members of two rooms cannot match one person's device.
PERSON_ROOM_DEVICE: Final = b"hearth-room-dev"
# Linking a device: from the link code's secret S, the rendezvous id the relay files
# the sealed root under, the key that seals it, and the code's typo checksum.
PERSON_LINK_ID: Final = b"hearth-link-id"
PERSON_LINK_KEY: Final = b"hearth-link-key"
PERSON_LINK_SUM: Final = b"hearth-link-sum"
# The short code both screens show before the root moves (from S and the two
# devices' ephemeral X25519 keys).
PERSON_LINK_SAS: Final = b"hearth-link-sas"
# The personal store, from the root: the key that authenticates to it (an Ed25519
# seed, unlinkable to every room key), the key that encrypts its documents, and the
# key that turns a document's name into the opaque id the relay sees.
PERSON_PERSONAL_SIGN: Final = b"hearth-pers-sign"
PERSON_PERSONAL_DATA: Final = b"hearth-pers-data"
PERSON_PERSONAL_NAME: Final = b"hearth-pers-name"

# Signature contexts: the signed bytes are CTX || payload. Each ends in NUL so no
# context is a prefix of another.
CTX_OP: Final = b"hearth/v1/op\x00"
CTX_BINDING: Final = b"hearth/v1/binding\x00"
CTX_INVITE: Final = b"hearth/v1/invite\x00"
CTX_MSG: Final = b"hearth/v1/msg\x00"
CTX_MSG_AD: Final = b"hearth/v1/msg-ad\x00"
CTX_DELETE: Final = b"hearth/v1/delete\x00"
CTX_ERASE: Final = b"hearth/v1/erase\x00"
CTX_REPORT: Final = b"hearth/v1/report\x00"
CTX_SUPPORT: Final = b"hearth/v1/support\x00"
CTX_RISK_ALERT: Final = b"hearth/v1/risk-alert\x00"
CTX_AUTH: Final = b"hearth/v1/auth\x00"
CTX_INVITE_READ: Final = b"hearth/v1/invite-read\x00"
CTX_GENESIS: Final = b"hearth/v1/genesis\x00"
# Associated data (not signature contexts) of the two AEAD uses below; same rule.
AD_LINK: Final = b"hearth/v1/link\x00"
AD_PERSONAL: Final = b"hearth/v1/personal\x00"


def random_bytes(n: int) -> bytes:
    """Return ``n`` bytes from the operating system's CSPRNG."""
    return os.urandom(n)


# BLAKE2b comes from the standard library's hashlib: the same function as libsodium's
# crypto_generichash_blake2b_salt_personal (personalisation zero-padded to 16 bytes,
# checked by the vectors), at a half to an eighth of PyNaCl's cost per call, which
# is mostly argument checks and buffer allocation around a few microseconds of work.


def blake2b(data: bytes, *, person: bytes, size: int = HASH_BYTES) -> bytes:
    """Unkeyed BLAKE2b of ``data`` under a personalisation (``size`` bytes, default 32)."""
    return hashlib.blake2b(data, digest_size=size, person=person).digest()


def kdf(key: bytes, data: bytes, *, person: bytes, size: int = KEY_BYTES) -> bytes:
    """Keyed BLAKE2b: derive ``size`` bytes from secret ``key`` and public ``data``."""
    return hashlib.blake2b(data, digest_size=size, key=key, person=person).digest()


# -- signatures ---------------------------------------------------------------


def signing_key_from_seed(seed: bytes) -> SigningKey:
    """The Ed25519 key whose 32-byte seed is ``seed``."""
    return SigningKey(seed)


def sign(key: SigningKey, context: bytes, payload: bytes) -> bytes:
    """Detached Ed25519 signature over ``context || payload``."""
    return key.sign(context + payload).signature


def verify(public_key: bytes, context: bytes, payload: bytes, signature: bytes) -> None:
    """Check a signature made by :func:`sign`; raise :class:`CryptoError` if it fails."""
    if len(public_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise CryptoError("malformed key or signature", code="crypto.bad_signature")
    try:
        _b.crypto_sign_open(signature + context + payload, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise CryptoError("signature does not verify", code="crypto.bad_signature") from exc


# -- sealing to X25519 keys ---------------------------------------------------


def box_keypair_from_seed(seed: bytes) -> BoxPrivateKey:
    """The X25519 private key whose 32 secret bytes are ``seed`` (clamped by libsodium)."""
    return BoxPrivateKey(seed)


def box_public(key: BoxPrivateKey) -> bytes:
    """The 32-byte public half of an X25519 key."""
    return bytes(key.public_key)


# The X25519 public keys of small order (libsodium's ``has_small_order`` list): 0, 1,
# the two points of order 8, p - 1, p and p + 1, little-endian. X25519 ignores the top
# bit of the last byte, so each also stands for its twin with that bit set. A shared
# secret with any of them is all zeros whatever the private key: a member who bound
# one could never be sealed to, and every commit that had to include them would fail.
_LOW_ORDER: Final = (
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes([0xEC]) + b"\xff" * 30 + bytes([0x7F]),
    bytes([0xED]) + b"\xff" * 30 + bytes([0x7F]),
    bytes([0xEE]) + b"\xff" * 30 + bytes([0x7F]),
)
# Any fixed non-zero scalar does for the second test; this one is BLAKE2b of a label so
# nobody wonders where it came from.
_PROBE_SCALAR: Final = hashlib.blake2b(b"hearth-box-key-probe", digest_size=32).digest()


def check_box_key(public: bytes) -> None:
    """Refuse an X25519 public key that nothing can be sealed to.

    A key is refused if it is not 32 bytes, if it is one of the small-order points
    (ignoring the top bit, which X25519 ignores), or if ``crypto_scalarmult`` with a
    fixed scalar gives all zeros (libsodium refuses that itself).

    Raises:
        CryptoError: ``crypto.bad_key``.
    """
    if len(public) != KEY_BYTES:
        raise CryptoError("an X25519 key is 32 bytes", code="crypto.bad_key")
    masked = public[:31] + bytes([public[31] & 0x7F])
    if masked in _LOW_ORDER:
        raise CryptoError("an X25519 key of small order", code="crypto.bad_key")
    try:
        shared = _b.crypto_scalarmult(_PROBE_SCALAR, public)
    except (RuntimeError, nacl.exceptions.CryptoError, nacl.exceptions.TypeError) as exc:
        raise CryptoError("an X25519 key of small order", code="crypto.bad_key") from exc
    if shared == bytes(KEY_BYTES):  # pragma: no cover - libsodium refuses these above
        raise CryptoError("an X25519 key of small order", code="crypto.bad_key")


def box_shared(key: BoxPrivateKey, peer_public: bytes) -> bytes:
    """X25519 between ``key`` and ``peer_public``, hashed (``crypto_box_beforenm``), 32 bytes.

    Raises:
        CryptoError: ``crypto.bad_key`` for a malformed or low-order peer key.
    """
    try:
        return bytes(nacl.public.Box(key, nacl.public.PublicKey(peer_public)).shared_key())
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError, RuntimeError) as exc:
        raise CryptoError("cannot agree a key with this key", code="crypto.bad_key") from exc


def seal(recipient_public: bytes, plaintext: bytes) -> bytes:
    """Anonymous sealed box (``crypto_box_seal``) to an X25519 public key."""
    try:
        return _b.crypto_box_seal(plaintext, recipient_public)
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError) as exc:
        raise CryptoError("cannot seal to this key", code="crypto.bad_key") from exc


def unseal(key: BoxPrivateKey, sealed: bytes) -> bytes:
    """Open a sealed box addressed to ``key``."""
    try:
        return _b.crypto_box_seal_open(sealed, bytes(key.public_key), bytes(key))
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError) as exc:
        raise CryptoError("sealed box does not open", code="crypto.unseal_failed") from exc


# -- authenticated encryption -------------------------------------------------


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """XChaCha20-Poly1305-IETF; returns ciphertext with its 16-byte tag."""
    return _b.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated, nonce, key)


def aead_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes:
    """Inverse of :func:`aead_encrypt`; raise :class:`CryptoError` on any tampering."""
    if len(nonce) != AEAD_NONCE_BYTES:
        raise CryptoError("nonce must be 24 bytes", code="crypto.decrypt_failed")
    if len(ciphertext) < AEAD_TAG_BYTES:  # PyNaCl would raise a bare ValueError
        raise CryptoError("ciphertext shorter than its tag", code="crypto.decrypt_failed")
    try:
        return _b.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, associated, nonce, key)
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError) as exc:
        raise CryptoError("ciphertext does not authenticate", code="crypto.decrypt_failed") from exc


# -- local secrets at rest (SDK keystore) -------------------------------------

_ARGON: Final = nacl.pwhash.argon2id
PASSPHRASE_SALT_BYTES: Final[int] = _ARGON.SALTBYTES
"""The salt :func:`passphrase_key` takes (16 bytes)."""
PASSPHRASE_LIMITS: Final[dict[str, tuple[int, int]]] = {
    "interactive": (_ARGON.OPSLIMIT_INTERACTIVE, _ARGON.MEMLIMIT_INTERACTIVE),
    "moderate": (_ARGON.OPSLIMIT_MODERATE, _ARGON.MEMLIMIT_MODERATE),
    "sensitive": (_ARGON.OPSLIMIT_SENSITIVE, _ARGON.MEMLIMIT_SENSITIVE),
}
"""Argon2id (opslimit, memlimit) presets by name, libsodium's own."""
PASSPHRASE_MIN_LIMITS: Final[tuple[int, int]] = (_ARGON.OPSLIMIT_MIN, _ARGON.MEMLIMIT_MIN)
"""The lowest Argon2id (opslimit, memlimit) libsodium accepts."""


def passphrase_key(
    passphrase: str,
    salt: bytes,
    *,
    opslimit: int = _ARGON.OPSLIMIT_MODERATE,
    memlimit: int = _ARGON.MEMLIMIT_MODERATE,
) -> bytes:
    """Argon2id: a 32-byte key from a passphrase and a 16-byte salt."""
    return _ARGON.kdf(
        KEY_BYTES, passphrase.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit
    )


def secretbox_encrypt(key: bytes, plaintext: bytes, *, rng: Rng = random_bytes) -> bytes:
    """XSalsa20-Poly1305 secret box with a random nonce prepended."""
    nonce = rng(nacl.secret.SecretBox.NONCE_SIZE)
    return bytes(nacl.secret.SecretBox(key).encrypt(plaintext, nonce))


def secretbox_decrypt(key: bytes, box: bytes) -> bytes:
    """Inverse of :func:`secretbox_encrypt`."""
    try:
        return nacl.secret.SecretBox(key).decrypt(box)
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError) as exc:
        raise CryptoError("wrong key or damaged data", code="crypto.decrypt_failed") from exc


# -- proof of work for open registration ---------------------------------------


def _leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def pow_check(challenge: bytes, key: bytes, nonce: int, difficulty: int) -> bool:
    """True if BLAKE2b(challenge || key || u64be(nonce)) has ``difficulty`` leading zero bits."""
    if not 0 <= nonce < 2**64:
        return False
    digest = blake2b(challenge + key + nonce.to_bytes(8, "big"), person=PERSON_POW)
    return _leading_zero_bits(digest) >= difficulty


def pow_solve(challenge: bytes, key: bytes, difficulty: int) -> int:
    """The smallest nonce satisfying :func:`pow_check`."""
    nonce = 0
    while not pow_check(challenge, key, nonce, difficulty):
        nonce += 1
    return nonce
