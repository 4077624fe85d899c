"""Padding plaintexts to a few size buckets so ciphertext lengths leak little.

Scheme (ISO/IEC 7816-4): append one 0x80 byte, then zero bytes up to the smallest
bucket that fits. Unpadding strips trailing zeros and the 0x80 marker, and
refuses anything else, so every padded length is exactly a bucket size.
"""

from __future__ import annotations

from typing import Final

from protocol.errors import EnvelopeError

__all__ = ["BUCKETS", "MAX_PLAINTEXT", "pad", "unpad"]

BUCKETS: Final = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
MAX_PLAINTEXT: Final = BUCKETS[-1] - 1


def pad(data: bytes, *, floor: int = BUCKETS[0]) -> bytes:
    """Pad ``data`` to the smallest bucket holding ``len(data) + 1`` bytes, at least ``floor``.

    A ``floor`` above the first bucket (a bucket itself) hides more: a device-link
    offer pads to 8192 bytes at least, whatever number of rooms it lists.
    """
    need = len(data) + 1
    for size in BUCKETS:
        if need <= size and size >= floor:
            return data + b"\x80" + bytes(size - need)
    raise EnvelopeError(
        f"a message is at most {MAX_PLAINTEXT} bytes before padding", code="msg.too_large"
    )


def unpad(data: bytes) -> bytes:
    """Inverse of :func:`pad`; raise ``msg.bad_padding`` on anything it did not make."""
    if len(data) not in BUCKETS:
        raise EnvelopeError("padded length is not a bucket size", code="msg.bad_padding")
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise EnvelopeError("padding marker missing", code="msg.bad_padding")
    return stripped[:-1]
