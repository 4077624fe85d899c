"""Domain ids: base64url without padding, one spelling per value."""

from __future__ import annotations

import hashlib

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
    room_id_from_genesis,
)
from protocol.ids import ROOM_ID_CHARS
from tests.protocol.builders import FAST, root, some_room_id

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
    keys = root("alice").room_keys(some_room_id())
    assert member_key(keys.member) == bytes(keys.signing.verify_key)
    assert len(keys.member) == 43


def test_new_ids_use_the_rng() -> None:
    assert new_message_id(lambda n: b"\xff" * n) == "_" * 21 + "w"
    assert new_message_id() != new_message_id()


def test_a_room_id_is_the_hash_of_its_genesis_key_and_nonce() -> None:
    key, nonce = bytes(range(32)), bytes(range(16))
    digest = hashlib.blake2b(key + nonce, digest_size=24, person=b"hearth-room-id").digest()
    assert room_id_from_genesis(key, nonce) == b64url_encode(digest)
    assert len(room_id_from_genesis(key, nonce)) == ROOM_ID_CHARS == 32
    assert room_id_from_genesis(key, bytes(16)) != room_id_from_genesis(key, nonce)
    with pytest.raises(DecodeError):
        room_id_from_genesis(key[:31], nonce)
    with pytest.raises(DecodeError):
        room_id_from_genesis(key, nonce + b"\x00")


def test_a_root_derives_one_genesis_key_per_nonce() -> None:
    me = root("alice")
    first, again = me.genesis(bytes(16)), me.genesis(bytes(16))
    assert first.room == again.room
    assert me.genesis(b"\x01" * 16).room != first.room
    assert root("bob").genesis(bytes(16)).room != first.room
    assert me.new_room().room != me.new_room().room
    assert "secret" not in repr(first)
    assert first.room in repr(first)
