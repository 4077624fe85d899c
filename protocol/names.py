"""Members' display names: which names a receiver accepts, and when two look alike.

A member picks a display name per room and sends it as an encrypted
``member.profile`` message (:class:`protocol.messages.MemberProfileBody`), signed
by its room key like any message: a name is never one object shared across rooms,
so it links nothing. Two rules here are protocol behaviour (protocol.md 8.12), so
that every client shows the same names and tells the same ones apart:

- :func:`member_name`: the name as shown is the NFC normalisation of what was sent;
  it is refused (the message counts for nothing) unless it has 1 to
  :data:`MAX_NAME_CHARS` code points, no control, surrogate, private-use, line or
  paragraph separator or bidirectional formatting character, no white space at
  either end, and at least one visible character.
- :func:`name_skeleton`: what a name looks like, for comparison only: NFKC, without
  invisible characters, case folded, with letters of other scripts that look like
  Latin ones (and ``0``/``O``, ``1``/``l``/``I``, ``rn``/``m``, ``vv``/``w``) mapped to
  one form, white space collapsed. Two members whose skeletons are equal are shown
  with a short key beside the name. The table is a deliberate subset of Unicode's
  confusables (UTS #39) covering the look-alikes of Latin letters in Cyrillic, Greek
  and Armenian: a collision only adds a suffix, a miss shows two similar names.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["MAX_NAME_CHARS", "member_name", "name_skeleton"]

MAX_NAME_CHARS: Final = 64
"""A display name's length limit, in code points after NFC normalisation."""

_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})
_BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Characters that reorder what follows them: a name could make later text read backwards."""


def _visible(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) not in {"Cf", "Mn", "Me"}


def member_name(raw: str) -> str:
    """The display name ``raw`` stands for: its NFC form, if it is acceptable.

    Raises:
        ValueError: Saying why the name is refused (see the module docstring).
    """
    name = unicodedata.normalize("NFC", raw)
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise ValueError(f"a name has 1 to {MAX_NAME_CHARS} characters")
    for char in name:
        if unicodedata.category(char) in _REFUSED_CATEGORIES or char in _BIDI_CONTROLS:
            raise ValueError(f"a name cannot hold the control character U+{ord(char):04X}")
    if name[0].isspace() or name[-1].isspace():
        raise ValueError("a name cannot start or end with a space")
    if not any(_visible(c) for c in name):
        raise ValueError("a name needs at least one visible character")
    return name


def _table(pairs: str) -> dict[int, str]:
    """``"Aa Bb"``: each look-alike character, then the Latin letter it maps to.

    The look-alikes are written as escapes: on screen they are, by design,
    indistinguishable from the letters they map to.
    """
    return {ord(pair[0]): pair[1:] for pair in pairs.split()}


_BEFORE_CASEFOLD: Final = _table(
    # Capitals that look like a Latin letter whose own lower case differs from theirs.
    # Cyrillic: A B E S I I J K M H O P C T X Y Y Q W
    "\u0410a \u0412b \u0415e \u0405s \u0406l \u04c0l \u0408j \u041ak \u041cm \u041dh "
    "\u041eo \u0420p \u0421c \u0422t \u0425x \u0423y \u04aey \u051aq \u051cw "
    # Greek: A B E Z H I K M N O P T Y X
    "\u0391a \u0392b \u0395e \u0396z \u0397h \u0399l \u039ak \u039cm \u039dn \u039fo "
    "\u03a1p \u03a4t \u03a5y \u03a7x "
    # Latin capital I and lower-case l, and the digits and bar that look like letters.
    "Il 0o 1l |l"
)
_AFTER_CASEFOLD: Final = _table(
    # Cyrillic: a e o p c y x s i j d h l q w
    "\u0430a \u0435e \u043eo \u0440p \u0441c \u0443y \u0445x \u0455s \u0456i \u0458j "
    "\u0501d \u04bbh \u04cfl \u051bq \u051dw "
    # Greek: a o v p i k u x c j
    "\u03b1a \u03bfo \u03bdv \u03c1p \u03b9i \u03bak \u03c5u \u03c7x \u03f2c \u03f3j "
    # Armenian: o u n g h
    "\u0585o \u057du \u0578n \u0581g \u0570h "
    # Latin: dotless i, script g, alpha; digits and bar again (case folding keeps them)
    "\u0131i \u0261g \u0251a 0o 1l |l"
)
_SEQUENCES: Final = (("rn", "m"), ("vv", "w"))


def name_skeleton(name: str) -> str:
    """What ``name`` looks like, for telling look-alike names apart (never shown).

    Equal skeletons mean two names a reader could take for one another.
    """
    text = unicodedata.normalize("NFKC", name)
    text = "".join(
        c for c in text if unicodedata.category(c) != "Cf" and not ("\ufe00" <= c <= "\ufe0f")
    )
    text = text.translate(_BEFORE_CASEFOLD).casefold()
    text = unicodedata.normalize("NFKC", text).translate(_AFTER_CASEFOLD)
    for sequence, letter in _SEQUENCES:
        text = text.replace(sequence, letter)
    return " ".join(text.split())
