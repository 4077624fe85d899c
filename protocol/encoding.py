"""Canonical bytes and the reusable codecs for every wire type.

Canonical bytes (what is hashed, signed or used as associated data) are the
MessagePack encoding msgspec produces for a struct: a map whose keys are the field
names in declaration order, the union tag first, every field present (defaults
included), integers in their shortest form. ``docs/protocol.md`` spells this out so
another language can reproduce it byte for byte.

On the network the same structs travel as JSON. Decoders are built once per type
and reused; every decode failure becomes :class:`DecodeError`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final, TypeVar, cast

import msgspec

from protocol.errors import DecodeError
from protocol.ops import PROTOCOL_VERSION

__all__ = ["canonical", "from_json", "from_msgpack", "to_json"]

T = TypeVar("T")

_msgpack_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()


def canonical(value: Any) -> bytes:
    """Canonical MessagePack bytes of a wire value."""
    return _msgpack_encoder.encode(value)


def to_json(value: Any) -> bytes:
    """JSON bytes of a wire value, as sent over HTTP and websockets."""
    return _json_encoder.encode(value)


@cache
def _json_decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(kind)


@cache
def _msgpack_decoder(kind: Any) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(kind)


# msgspec's words for a ``v: Literal[N]`` field that holds another integer.
_OTHER_VERSION: Final = re.compile(r"^Invalid enum value (-?\d+) - at `(\$[^`]*\.v)`$")


def _decode_error(exc: msgspec.MsgspecError) -> DecodeError:
    """Our error for a failed decode; another protocol version gets a code of its own."""
    found = _OTHER_VERSION.match(str(exc))
    if found is not None:
        return DecodeError(
            f"protocol version {found.group(1)} is not understood here: this implementation"
            f" speaks version {PROTOCOL_VERSION} - at `{found.group(2)}`",
            code="wire.version",
        )
    return DecodeError(str(exc))


def from_json(data: bytes | str, kind: type[T]) -> T:
    """Decode JSON into ``kind``; raise :class:`DecodeError` with the failing path."""
    try:
        result: T = _json_decoder(cast(Any, kind)).decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _decode_error(exc) from exc
    return result


def from_msgpack(data: bytes, kind: type[T]) -> T:
    """Decode canonical MessagePack into ``kind``."""
    try:
        result: T = _msgpack_decoder(cast(Any, kind)).decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _decode_error(exc) from exc
    return result
