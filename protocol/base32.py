"""Crockford base32: how a secret is written for a person to read and type.

The recovery phrase (``protocol.keys``) and the link code (``protocol.personal``)
both write bytes in this alphabet: digits and capitals without I, L, O and U, so no
two characters look alike. Reading is forgiving where it cannot be wrong: lower
case is upper case, ``O`` is ``0``, ``I`` and ``L`` are ``1``, and spaces and
hyphens are layout. The encoding is big-endian and unpadded: ``n`` bytes are
``8n // 5`` characters, so callers pick lengths where that is exact (35 and 25 bytes).
This module is the alphabet's only definition; a test holds every other module to it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ALPHABET", "BadCharacter", "decode", "encode", "normalize"]

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""The 32 characters, in value order."""
_DECODE: Final = {c: i for i, c in enumerate(ALPHABET)} | {"O": 0, "I": 1, "L": 1}
_LAYOUT: Final = frozenset(" -\t\r\n")


class BadCharacter(ValueError):
    """A character outside the alphabet and its aliases; ``char`` is the first one."""

    def __init__(self, char: str) -> None:
        super().__init__(f"{char!r} is not a Crockford base32 character")
        self.char = char


def encode(data: bytes) -> str:
    """``data`` as ``len(data) * 8 // 5`` characters (whole bytes of 5 bits only)."""
    number = int.from_bytes(data, "big")
    chars = len(data) * 8 // 5
    return "".join(ALPHABET[(number >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def normalize(text: str) -> str:
    """``text`` in upper case without spaces and hyphens: what :func:`decode` reads."""
    return "".join(c for c in text.upper() if c not in _LAYOUT)


def decode(chars: str, size: int) -> bytes:
    """The ``size`` bytes that normalized ``chars`` spell (callers check the length first).

    Raises:
        BadCharacter: A character that is neither in the alphabet nor an alias.
    """
    number = 0
    for c in chars:
        value = _DECODE.get(c)
        if value is None:
            raise BadCharacter(c)
        number = (number << 5) | value
    return number.to_bytes(size, "big")
