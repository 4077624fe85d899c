"""Epochs: the group key of a room and how a commit hands it to every member.

A commit carries 32 fresh random bytes (the commit secret) sealed to each member's
X25519 key. Every member derives the same epoch secret from it::

    epoch_secret = BLAKE2b(key=commit_secret,
                           data=room_id || u64be(epoch) || prev,
                           person="hearth-epoch")

where ``prev`` is the hash of the log operation before the commit, so members agree
on a key only if they agree on the log. The commit also publishes
``confirm = BLAKE2b(key=epoch_secret, person="hearth-confirm")``: a member whose
unsealed secret gives another tag was handed a different key, and rejects it.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from protocol import crypto
from protocol.encoding import canonical, from_msgpack
from protocol.errors import CryptoError, DecodeError, LogError
from protocol.ids import MemberId, RoomId
from protocol.keys import RoomKeys
from protocol.ops import Commit, Share

__all__ = [
    "confirm_tag",
    "derive_epoch_secret",
    "make_commit",
    "message_key",
    "open_commit",
    "open_history",
]


class _HistoryEntry(msgspec.Struct, frozen=True, array_like=True):
    epoch: int
    secret: bytes


def derive_epoch_secret(commit_secret: bytes, room: RoomId, epoch: int, prev: bytes) -> bytes:
    """The epoch secret members derive from an unsealed commit secret."""
    data = room.encode("ascii") + epoch.to_bytes(8, "big") + prev
    return crypto.kdf(commit_secret, data, person=crypto.PERSON_EPOCH)


def confirm_tag(epoch_secret: bytes) -> bytes:
    """The public key-confirmation tag of an epoch secret."""
    return crypto.kdf(epoch_secret, b"", person=crypto.PERSON_CONFIRM)


def message_key(epoch_secret: bytes) -> bytes:
    """The XChaCha20-Poly1305 key for messages of an epoch."""
    return crypto.kdf(epoch_secret, b"", person=crypto.PERSON_MSG_KEY)


def _history_ad(room: RoomId, epoch: int) -> bytes:
    return room.encode("ascii") + epoch.to_bytes(8, "big")


def make_commit(
    *,
    room: RoomId,
    epoch: int,
    prev: bytes,
    recipients: Mapping[MemberId, bytes],
    history: Mapping[int, bytes] | None = None,
    rng: crypto.Rng = crypto.random_bytes,
) -> tuple[Commit, bytes]:
    """Build the commit for ``epoch`` and return it with the new epoch secret.

    Args:
        room: The room.
        epoch: The new epoch number (the current one plus one).
        prev: Hash of the log operation the commit's operation will follow.
        recipients: Every member after the operation, with the X25519 key the
            verified log holds for them. Never take these keys from anywhere else.
        history: Earlier epoch secrets to pass on (only in rooms whose policy
            shares history).
        rng: Source of the commit secret and nonces.

    Raises:
        CryptoError: ``crypto.bad_key`` naming the member whose key nothing can be
            sealed to (the log refuses such keys; this guards keys from elsewhere).
    """
    commit_secret = rng(crypto.KEY_BYTES)
    secret = derive_epoch_secret(commit_secret, room, epoch, prev)
    shares = []
    for member in sorted(recipients):
        try:
            sealed = crypto.seal(recipients[member], commit_secret)
        except CryptoError as exc:
            # Say whose key it is: the app (and whoever reads the log) can act on it.
            raise CryptoError(
                f"cannot seal the commit to {member}: their X25519 key is not usable",
                code="crypto.bad_key",
            ) from exc
        shares.append(Share(member=member, sealed=sealed))
    sealed_history = None
    if history:
        entries = [_HistoryEntry(e, s) for e, s in sorted(history.items())]
        nonce = rng(crypto.AEAD_NONCE_BYTES)
        key = crypto.kdf(secret, b"", person=crypto.PERSON_HISTORY)
        sealed_history = nonce + crypto.aead_encrypt(
            key, nonce, canonical(entries), _history_ad(room, epoch)
        )
    commit = Commit(epoch=epoch, shares=shares, confirm=confirm_tag(secret), history=sealed_history)
    return commit, secret


def open_commit(commit: Commit, *, prev: bytes, keys: RoomKeys) -> bytes:
    """Unseal this member's share and return the epoch secret, after key confirmation.

    Raises:
        LogError: ``log.not_recipient`` if the commit has no share for this member,
            ``log.bad_commit`` if the share does not open or the confirmation tag
            does not match (the committer handed out different keys).
    """
    share = next((s for s in commit.shares if s.member == keys.member), None)
    if share is None:
        raise LogError("this commit has no share for us", code="log.not_recipient")
    try:
        commit_secret = crypto.unseal(keys.box, share.sealed)
    except CryptoError as exc:
        raise LogError("our share of the commit does not open", code="log.bad_commit") from exc
    secret = derive_epoch_secret(commit_secret, keys.room, commit.epoch, prev)
    if confirm_tag(secret) != commit.confirm:
        raise LogError("the epoch key does not match its confirmation", code="log.bad_commit")
    return secret


def open_history(
    commit: Commit, *, room: RoomId, epoch_secret: bytes, confirms: Mapping[int, bytes]
) -> dict[int, bytes]:
    """The earlier epoch secrets a commit passes on (empty if it carries none).

    ``confirms`` are the confirmation tags of earlier commits, from the verified
    log (:attr:`RoomLog.confirms`): every secret passed on must match its epoch's
    tag, so a committer cannot hand a newcomer a false history unnoticed.

    Raises:
        LogError: ``log.bad_commit`` if the history does not open or a secret does
            not match its epoch's confirmation tag.
    """
    if commit.history is None:
        return {}
    nonce = commit.history[: crypto.AEAD_NONCE_BYTES]
    body = commit.history[crypto.AEAD_NONCE_BYTES :]
    key = crypto.kdf(epoch_secret, b"", person=crypto.PERSON_HISTORY)
    try:
        plain = crypto.aead_decrypt(key, nonce, body, _history_ad(room, commit.epoch))
        entries = from_msgpack(plain, list[_HistoryEntry])
    except (CryptoError, DecodeError) as exc:
        raise LogError("the shared history does not open", code="log.bad_commit") from exc
    for e in entries:
        expected = confirms.get(e.epoch)
        if e.epoch >= commit.epoch or expected is None or confirm_tag(e.secret) != expected:
            raise LogError(
                f"the shared secret of epoch {e.epoch} does not match its commit",
                code="log.bad_commit",
            )
    return {e.epoch: e.secret for e in entries}
