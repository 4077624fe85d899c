"""Display-name rules (protocol.md 8.12): which names count, and which look alike."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.names import MAX_NAME_CHARS, member_name, name_skeleton


@given(st.text(max_size=80))
def test_an_accepted_name_is_its_own_nfc_form_and_accepted_again(raw: str) -> None:
    try:
        name = member_name(raw)
    except ValueError:
        return
    assert name == unicodedata.normalize("NFC", raw)
    assert 1 <= len(name) <= MAX_NAME_CHARS
    assert member_name(name) == name
    assert name.strip() == name


@given(st.text(min_size=1, max_size=20), st.sampled_from(["\n", "\x00", "\u202e", "\u2028"]))
def test_a_control_character_anywhere_is_refused(text: str, control: str) -> None:
    with pytest.raises(ValueError, match="a name"):
        member_name(text[:1] + control + text[1:] + "x")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Sam", "\u0405am"),  # Cyrillic capital DZE
        ("Sam", "sam"),
        ("Sam", "S\u200bam"),  # a zero-width space inside
        ("Sam", "\uff33\uff41\uff4d"),  # fullwidth
        ("Ian", "lan"),
        ("Tom", "T\u043em"),  # Cyrillic small o
        ("Sam Lee", "Sam  Lee"),
    ],
)
def test_look_alikes_share_a_skeleton(a: str, b: str) -> None:
    assert name_skeleton(a) == name_skeleton(b)


@pytest.mark.parametrize(("a", "b"), [("Sam", "Pam"), ("Sam", "Sami"), ("Ana", "Anna")])
def test_different_names_keep_different_skeletons(a: str, b: str) -> None:
    assert name_skeleton(a) != name_skeleton(b)
