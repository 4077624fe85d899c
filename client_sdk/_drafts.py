"""The on-device draft check: does a draft suggest showing crisis resources?

An opt-in aid, off by default (:meth:`client_sdk.HearthClient.set_draft_check`).
It is a plain phrase list, matched on whole words after lower-casing and folding
apostrophes and punctuation, so anyone can read exactly what it looks for and
why it fired. It is pure and synchronous: it runs on the device, reads nothing
but its argument, writes nothing, and cannot send anything anywhere (no I/O,
no event loop). It is not a diagnosis and not a classifier: it misses crises
worded otherwise and fires on phrases quoted or negated ("I don't want to die").
Its only use is to offer the operator's crisis lines to the person writing; it
never blocks, delays or reports a message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, final

__all__ = ["CRISIS_PHRASES", "DraftCheck", "check_draft"]

CRISIS_PHRASES: Final[tuple[str, ...]] = (
    "suicide",
    "suicidal",
    "kill myself",
    "killing myself",
    "end my life",
    "ending my life",
    "take my own life",
    "taking my own life",
    "end it all",
    "want to die",
    "wanna die",
    "wish i was dead",
    "wish i were dead",
    "better off dead",
    "better off without me",
    "no reason to live",
    "nothing to live for",
    "cant go on",
    "dont want to be here anymore",
    "dont want to wake up",
    "hurt myself",
    "hurting myself",
    "harm myself",
    "self harm",
    "cut myself",
    "cutting myself",
    "overdose",
    "goodbye forever",
)
"""What the check looks for, as normalised text (lower case, no apostrophes,
words separated by single spaces). Kept short and explicit on purpose."""

_APOSTROPHES: Final = re.compile(r"['\u2019\u2018`]")
_NON_WORD: Final = re.compile(r"[^a-z0-9]+")


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = _APOSTROPHES.sub("", folded.lower())
    return " " + _NON_WORD.sub(" ", folded).strip() + " "


_PATTERNS: Final = tuple((p, " " + p + " ") for p in CRISIS_PHRASES)


@final
@dataclass(frozen=True, slots=True)
class DraftCheck:
    """What :func:`check_draft` found in a draft.

    Attributes:
        suggest: True if the front end should offer crisis resources now.
        matches: The phrases of :data:`CRISIS_PHRASES` found, in list order (so a
            front end can say why it is offering them).
    """

    suggest: bool
    matches: tuple[str, ...] = ()


def check_draft(text: str) -> DraftCheck:
    """Look for crisis language in a draft, on this device only.

    Pure: no network, no storage, no logging. Whole words on normalised text:
    "cut myself" fires on "I CUT myself again", "can't go on" on "cant go on",
    and "overdose" does not fire inside another word.

    Args:
        text: The person's draft, as typed.
    """
    normal = _normalise(text)
    matches = tuple(phrase for phrase, padded in _PATTERNS if padded in normal)
    return DraftCheck(suggest=bool(matches), matches=matches)
