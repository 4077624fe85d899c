"""The error root shared by the protocol core, the relay and the SDK.

Every failure Hearth reports carries a stable string ``code`` (``log.bad_signature``,
``auth.expired``). Codes are part of the wire contract: the relay puts them in error
bodies and the SDK raises them as exceptions, so a code never changes meaning once
published. Messages are for humans and may change.
"""

from __future__ import annotations

from typing import ClassVar, final

__all__ = [
    "CryptoError",
    "DecodeError",
    "EnvelopeError",
    "ForkDetected",
    "HearthError",
    "LinkError",
    "LogError",
    "PhraseError",
]


class HearthError(Exception):
    """Root of every Hearth error; ``code`` is stable and machine-readable."""

    code: str
    default_code: ClassVar[str] = "hearth.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


@final
class DecodeError(HearthError):
    """Bytes that do not decode to the expected wire type."""

    default_code = "wire.malformed"


@final
class PhraseError(HearthError):
    """A recovery phrase that is malformed or fails its checksum."""

    default_code = "phrase.invalid"


@final
class LinkError(HearthError):
    """Linking a device failed.

    Codes: ``link.bad_code`` (not a link code: length, alphabet or checksum),
    ``link.version`` (a link code of another format, named in the message),
    ``link.not_found`` (no offer under this code: mistyped, or never uploaded),
    ``link.used`` (already claimed once), ``link.expired``,
    ``link.bad_box`` (a sealed box does not open under the code), ``link.refused``
    (the other device refused the short code); in the SDK also ``link.taken``
    (another device answered the code first), ``link.no_claimant`` and
    ``link.closed`` (a confirm or refuse out of turn).
    """

    default_code = "link.bad_code"


@final
class CryptoError(HearthError):
    """A signature, seal or ciphertext that does not verify."""

    default_code = "crypto.invalid"


@final
class LogError(HearthError):
    """A room-log operation that breaks an invariant.

    Codes: ``log.bad_signature``, ``log.bad_index``, ``log.bad_prev``,
    ``log.bad_room``, ``log.replay``, ``log.unauthorized``, ``log.not_member``,
    ``log.bad_commit``, ``log.bad_binding``, ``log.bad_key``, ``log.bad_invite``,
    ``log.banned``, ``log.room_full``,
    ``log.not_recipient``, ``log.empty``, ``log.invalid``.
    """

    default_code = "log.invalid"


@final
class ForkDetected(HearthError):
    """Two different histories were shown for one room (``log.fork``)."""

    default_code = "log.fork"


@final
class EnvelopeError(HearthError):
    """A message envelope that fails verification or decryption.

    Codes: ``msg.bad_signature``, ``msg.decrypt_failed``, ``msg.bad_padding``,
    ``msg.malformed``, ``msg.too_large``, ``msg.bad_size``, ``msg.bad_room``,
    ``msg.not_member``, ``msg.stale_epoch``, ``msg.unknown_head``, ``msg.replay``,
    ``msg.counter_jump``.
    """

    default_code = "msg.invalid"
