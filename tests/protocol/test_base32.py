"""protocol.base32: the one Crockford base32 codec (recovery phrases, link codes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import base32


def test_encode_is_big_endian_five_bits_a_character() -> None:
    assert base32.encode(bytes(5)) == "00000000"
    assert base32.encode(b"\xff" * 5) == "ZZZZZZZZ"
    # 0x0842108421: every 5-bit group is 1, then the last is 1 too.
    assert base32.encode(bytes.fromhex("0842108421")) == "11111111"
    assert base32.encode(bytes.fromhex("00000000" + "1f")) == "0000000Z"


@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda n: st.binary(min_size=5 * n, max_size=5 * n)
    )
)
def test_decode_inverts_encode(data: bytes) -> None:
    text = base32.encode(data)
    assert len(text) == len(data) * 8 // 5
    assert set(text) <= set(base32.ALPHABET)
    assert base32.decode(text, len(data)) == data


def test_aliases_and_layout_read_as_the_characters_they_look_like() -> None:
    assert base32.normalize("o-i l\tz\r\n") == "OILZ"
    assert base32.decode("OIL0", 2) == base32.decode("0110", 2)
    assert base32.decode(base32.normalize("zz-zz zz-zz"), 5) == b"\xff" * 5


@pytest.mark.parametrize("char", ["U", "!", "*", "é"])
def test_decode_names_the_first_character_outside_the_alphabet(char: str) -> None:
    with pytest.raises(base32.BadCharacter) as info:
        base32.decode("00" + char + "U0", 5)
    assert info.value.char == char
    assert isinstance(info.value, ValueError)


def test_the_alphabet_has_no_look_alikes() -> None:
    assert len(set(base32.ALPHABET)) == 32
    assert not set("ILOU") & set(base32.ALPHABET)
