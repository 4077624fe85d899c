"""Padding to size buckets: exact sizes, and nothing but what pad() made unpads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import BUCKETS, EnvelopeError, pad, unpad
from protocol.padding import MAX_PLAINTEXT
from tests.protocol.builders import FAST


@FAST
@given(st.binary(max_size=5000))
def test_round_trip_to_the_smallest_bucket(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) in BUCKETS
    assert len(padded) == min(b for b in BUCKETS if b > len(data))
    assert unpad(padded) == data


@pytest.mark.parametrize(
    ("size", "bucket"),
    [
        (0, 256),
        (1, 256),
        (255, 256),
        (256, 512),
        (511, 512),
        (512, 1024),
        (32767, 32768),
        (32768, 65536),
        (MAX_PLAINTEXT, 65536),
    ],
)
def test_bucket_boundaries(size: int, bucket: int) -> None:
    data = b"\x00" * size  # trailing zeros are data, not padding
    padded = pad(data)
    assert len(padded) == bucket
    assert padded[size] == 0x80
    assert unpad(padded) == data


@pytest.mark.parametrize("size", [MAX_PLAINTEXT + 1, 70_000])
def test_too_large(size: int) -> None:
    with pytest.raises(EnvelopeError) as info:
        pad(bytes(size))
    assert info.value.code == "msg.too_large"


@pytest.mark.parametrize(
    "padded",
    [
        b"",  # not a bucket
        b"abc\x80",
        b"\x80" + bytes(254),  # 255 bytes: not a bucket
        b"\x80" + bytes(256),  # 257 bytes
        bytes(256),  # no marker at all
        b"abc\x81" + bytes(252),  # wrong marker
        b"abc\x01" + bytes(252),
        b"a" * 256,  # data to the end, no marker
        b"\x80" + bytes(510) + b"\x01",  # a bucket size, but ends in data
    ],
)
def test_malformed_padding(padded: bytes) -> None:
    with pytest.raises(EnvelopeError) as info:
        unpad(padded)
    assert info.value.code == "msg.bad_padding"


@FAST
@given(data=st.binary(max_size=300), extra=st.integers(1, 255))
def test_a_shifted_marker_changes_the_result_or_fails(data: bytes, extra: int) -> None:
    # Padding is unambiguous: the marker is the last non-zero byte.
    padded = pad(data)
    assert unpad(padded[: len(data)] + b"\x80" + bytes(len(padded) - len(data) - 1)) == data
    mangled = bytearray(padded)
    mangled[len(data)] = extra if extra != 0x80 else 0x7F
    with pytest.raises(EnvelopeError):
        unpad(bytes(mangled))
