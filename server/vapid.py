"""VAPID (RFC 8292): the relay's P-256 key pair and the token on each Web Push.

A browser subscribes to push with the relay's public key
(``PushManager.subscribe({applicationServerKey})``), and its push service then
accepts a POST to that subscription's endpoint only with a JWT signed by the
matching private key: ``Authorization: vapid t=<JWT>, k=<public key>``. The JWT
is ES256 over ``{"aud": <the endpoint's origin>, "exp": <at most 24 h ahead>,
"sub": <a contact for the push service's operator>}`` and names nothing else: no
room, member or device.

The private key is the operator's (``push_vapid_key``) or else made once and kept
in the storage beside the token MAC key (:meth:`Storage.vapid_secret`), so that
every instance signs with the one key the browsers subscribed with, across
restarts. A signed token is kept per audience and reused until
:data:`REFRESH_S` before it expires: the push service sees the same token for
about an hour, and the relay signs at most once an hour per push service.
"""

from __future__ import annotations

import base64
import json
from typing import Final, final
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.clock import SYSTEM_CLOCK, Clock
from server.errors import RelayError

__all__ = [
    "LIFETIME_S",
    "PRIVATE_KEY_BYTES",
    "REFRESH_S",
    "Vapid",
    "audience",
    "b64url",
    "b64url_decode",
    "new_private_key",
]

PRIVATE_KEY_BYTES: Final = 32
LIFETIME_S: Final = 12 * 3600
"""A token's lifetime: well inside RFC 8292's 24 hours, whatever the clocks' skew."""
REFRESH_S: Final = 11 * 3600
"""A cached token is signed afresh once it is older than this."""

_HEADER: Final = b'{"typ":"JWT","alg":"ES256"}'
_CACHE_CAP: Final = 1024


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs and the Push API spell keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The inverse of :func:`b64url` (padding optional).

    Raises:
        ValueError: not base64url.
    """
    if "+" in text or "/" in text:  # the other alphabet, which b64decode would take
        raise ValueError("not base64url")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64url") from exc


def new_private_key() -> bytes:
    """A fresh P-256 private key, as its 32-byte big-endian scalar."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_numbers().private_value.to_bytes(PRIVATE_KEY_BYTES, "big")


def audience(endpoint: str) -> str:
    """The JWT's ``aud``: the push endpoint's origin (``scheme://host[:port]``)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@final
class Vapid:
    """Signs VAPID tokens with one P-256 key, caching one token per audience."""

    def __init__(self, private_key: bytes, subject: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        """A signer for ``private_key`` (a 32-byte scalar).

        Raises:
            RelayError: ``internal`` if the bytes are not a P-256 private key.
        """
        try:
            if len(private_key) != PRIVATE_KEY_BYTES:
                raise ValueError("a P-256 private key is 32 bytes")
            self._key = ec.derive_private_key(int.from_bytes(private_key, "big"), ec.SECP256R1())
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise RelayError("the VAPID private key is not a P-256 key", code="internal") from exc
        self._subject = subject
        self._clock = clock
        self.public_key: Final = self._key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        """65 bytes: the uncompressed point a browser takes as ``applicationServerKey``."""
        self._cache: dict[str, tuple[int, str]] = {}

    def token(self, aud: str) -> tuple[str, int]:
        """A signed JWT for ``aud`` and its ``exp`` (seconds since the epoch)."""
        now = self._clock.now_ms() // 1000
        cached = self._cache.get(aud)
        if cached is not None and cached[0] - now > LIFETIME_S - REFRESH_S:
            return cached[1], cached[0]
        exp = now + LIFETIME_S
        claims = json.dumps(
            {"aud": aud, "exp": exp, "sub": self._subject}, separators=(",", ":"), sort_keys=True
        ).encode()
        signing_input = f"{b64url(_HEADER)}.{b64url(claims)}".encode("ascii")
        r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        jwt = f"{signing_input.decode('ascii')}.{b64url(signature)}"
        if len(self._cache) >= _CACHE_CAP:
            self._cache.clear()
        self._cache[aud] = (exp, jwt)
        return jwt, exp

    def authorization(self, endpoint: str) -> str:
        """The ``Authorization`` header for a push to ``endpoint`` (RFC 8292 section 3)."""
        jwt, _ = self.token(audience(endpoint))
        return f"vapid t={jwt}, k={b64url(self.public_key)}"
