"""Domain ids: base64url without padding, one spelling per value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    DecodeError,
    b64url_decode,
    b64url_encode,
    member_id_from_key,
    member_key,
    new_message_id,
    new_room_id,
)
from tests.protocol.builders import FAST, root

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@FAST
@given(st.binary(max_size=80))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert set(text) <= set(ALPHABET)
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "AA==",  # padding
        "AA+A",  # the standard alphabet, not the URL one
        "AA/A",
        "A!AA",  # stray characters are not skipped
        "A AA",
        "AAAAA",  # a length no byte string has
        "AB",  # one byte, but the spare bits are not zero
        "ÄAAA",
    ],
)
def test_b64url_decode_refuses_other_spellings(text: str) -> None:
    with pytest.raises(DecodeError):
        b64url_decode(text)


@FAST
@given(key=st.binary(min_size=32, max_size=32), spare=st.integers(1, 3))
def test_a_member_id_has_exactly_one_spelling(key: bytes, spare: int) -> None:
    # 43 characters carry 258 bits for a 256-bit key. If the two spare bits were
    # ignored, one key would be four different members to the room log.
    member = member_id_from_key(key)
    assert member_key(member) == key
    alias = member[:-1] + ALPHABET[ALPHABET.index(member[-1]) ^ spare]
    with pytest.raises(DecodeError):
        member_key(alias)


def test_member_key_checks_length() -> None:
    with pytest.raises(DecodeError):
        member_key(b64url_encode(bytes(31)))
    with pytest.raises(DecodeError):
        member_key(b64url_encode(bytes(33)))


def test_member_id_is_the_signing_key() -> None:
    keys = root("alice").room_keys(new_room_id())
    assert member_key(keys.member) == bytes(keys.signing.verify_key)
    assert len(keys.member) == 43


def test_new_ids_use_the_rng() -> None:
    assert new_room_id(lambda n: bytes(range(n))) == b64url_encode(bytes(range(16)))
    assert new_message_id(lambda n: b"\xff" * n) == "_" * 21 + "w"
    assert len(new_room_id()) == 22
    assert new_room_id() != new_room_id()
