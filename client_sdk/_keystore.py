"""The root seed at rest: Argon2id from a passphrase, then a secret box.

A keystore file is JSON: the format name and version, the Argon2id parameters and
salt it was written with, and ``secretbox(key, root_seed)``. Loading reads the
parameters from the file, so a later SDK may raise the defaults without breaking
old files, but it refuses parameters outside sane bounds (a crafted file must not
make us allocate gigabytes). The file is written to a temporary name, made
private (0600) and renamed, so a crash never leaves half a keystore behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final, Literal, get_args

import msgspec

from client_sdk.errors import KeystoreError
from protocol import crypto
from protocol.errors import CryptoError
from protocol.keys import RootSeed

__all__ = ["STRENGTHS", "Strength", "load_root", "save_root"]

Strength = Literal["interactive", "moderate", "sensitive"]

STRENGTHS: Final[dict[Strength, tuple[int, int]]] = {
    strength: crypto.PASSPHRASE_LIMITS[strength] for strength in get_args(Strength)
}
"""Argon2id (opslimit, memlimit) presets, libsodium's own."""

_FORMAT: Final = "hearth-keystore"
_VERSION: Final = 1
_SALT_BYTES: Final = crypto.PASSPHRASE_SALT_BYTES
_MIN_OPS, _MIN_MEM = crypto.PASSPHRASE_MIN_LIMITS
_MAX_OPS: Final = 16
_MAX_MEM: Final = crypto.PASSPHRASE_LIMITS["sensitive"][1]


class _KeystoreFile(msgspec.Struct, frozen=True, kw_only=True):
    format: str
    version: int
    kdf: Literal["argon2id"]
    opslimit: int
    memlimit: int
    salt: bytes
    box: bytes


def save_root(
    root: RootSeed, path: str | os.PathLike[str], passphrase: str, *, strength: Strength
) -> None:
    """Encrypt ``root`` under ``passphrase`` and write it atomically to ``path``."""
    if not passphrase:
        raise KeystoreError("a keystore needs a non-empty passphrase", code="keystore.passphrase")
    opslimit, memlimit = STRENGTHS[strength]
    salt = crypto.random_bytes(_SALT_BYTES)
    key = crypto.passphrase_key(passphrase, salt, opslimit=opslimit, memlimit=memlimit)
    record = _KeystoreFile(
        format=_FORMAT,
        version=_VERSION,
        kdf="argon2id",
        opslimit=opslimit,
        memlimit=memlimit,
        salt=salt,
        box=crypto.secretbox_encrypt(key, root.secret),
    )
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".keystore-", dir=target.parent or Path())
        try:
            with os.fdopen(fd, "wb") as handle:
                os.chmod(tmp, 0o600)
                handle.write(msgspec.json.encode(record))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise KeystoreError(f"cannot write {target}: {exc.strerror}", code="keystore.io") from exc


def load_root(path: str | os.PathLike[str], passphrase: str) -> RootSeed:
    """Read and decrypt a keystore written by :func:`save_root`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeystoreError(f"cannot read {path}: {exc.strerror}", code="keystore.io") from exc
    try:
        record = msgspec.json.decode(data, type=_KeystoreFile)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise KeystoreError("not a Hearth keystore file", code="keystore.corrupt") from exc
    if record.format != _FORMAT:
        raise KeystoreError("not a Hearth keystore file", code="keystore.corrupt")
    if record.version != _VERSION:
        raise KeystoreError(
            f"keystore version {record.version} is newer than this SDK", code="keystore.version"
        )
    if (
        len(record.salt) != _SALT_BYTES
        or not _MIN_OPS <= record.opslimit <= _MAX_OPS
        or not _MIN_MEM <= record.memlimit <= _MAX_MEM
    ):
        raise KeystoreError("keystore parameters out of bounds", code="keystore.corrupt")
    key = crypto.passphrase_key(
        passphrase, record.salt, opslimit=record.opslimit, memlimit=record.memlimit
    )
    try:
        secret = crypto.secretbox_decrypt(key, record.box)
    except CryptoError as exc:
        raise KeystoreError(
            "wrong passphrase, or the keystore was altered", code="keystore.wrong_passphrase"
        ) from exc
    if len(secret) != crypto.KEY_BYTES:
        raise KeystoreError("keystore holds no root seed", code="keystore.corrupt")
    return RootSeed(secret)
