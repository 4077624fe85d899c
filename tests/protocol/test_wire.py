"""Wire types: every struct and union of ops, messages and api round-trips.

Values are drawn from each type's own msgspec description (``msgspec.inspect``),
so the strategies respect every ``Meta`` constraint (id lengths and alphabet, key
and signature sizes, integer bounds) and a new wire type is covered the moment it
is exported. Each value must survive JSON (the network form) and canonical
MessagePack (the signed form) unchanged, and both paths must agree on the
canonical bytes.
"""

from __future__ import annotations

import json
import types
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import DecodeError, api, canonical, from_json, from_msgpack, messages, ops, to_json
from tests.protocol.builders import FAST

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CAP = 64  # longest unbounded string or byte string drawn; keeps examples fast


def _json_value() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=10)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    )


def strategy(info: mi.Type) -> st.SearchStrategy[Any]:
    """Values of a msgspec type that satisfy all of its constraints."""
    if isinstance(info, mi.StructType):
        required = {f.name: strategy(f.type) for f in info.fields if f.required}
        optional = {f.name: strategy(f.type) for f in info.fields if not f.required}
        return st.fixed_dictionaries(required, optional=optional).map(lambda kw: info.cls(**kw))
    if isinstance(info, mi.UnionType):
        return st.one_of([strategy(t) for t in info.types])
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, mi.NoneType):
        return st.none()
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.IntType):
        low = info.ge if info.ge is not None else -(2**63)
        high = info.le if info.le is not None else 2**64 - 1
        if info.lt is not None:
            high = info.lt - 1
        return st.integers(low, high)
    if isinstance(info, mi.BytesType):
        low = info.min_length or 0
        return st.binary(min_size=low, max_size=min(info.max_length or _CAP, max(low, _CAP)))
    if isinstance(info, mi.StrType):
        low = info.min_length or 0
        high = min(info.max_length or _CAP, max(low, _CAP))
        if info.pattern is None:
            return st.text(min_size=low, max_size=high)
        if info.pattern == "^([A-Za-z]{2}|\\*)$":  # a region code
            return st.just("*") | st.from_regex(r"[A-Za-z]{2}", fullmatch=True)
        if info.pattern == "^https?://":  # a URL
            return st.text(max_size=high - 8).map(lambda rest: "https://" + rest)
        assert info.pattern == "^[A-Za-z0-9_-]*$", info.pattern
        return st.text(alphabet=B64URL, min_size=low, max_size=high)
    if isinstance(info, mi.ListType):
        return st.lists(
            strategy(info.item_type),
            min_size=info.min_length or 0,
            max_size=max(info.min_length or 0, 3),
        )
    if isinstance(info, mi.DictType):
        return st.dictionaries(strategy(info.key_type), strategy(info.value_type), max_size=3)
    if isinstance(info, mi.AnyType):
        return _json_value()
    raise AssertionError(f"no strategy for {info!r}")


def _wire_types() -> tuple[dict[str, type[msgspec.Struct]], dict[str, Any]]:
    structs: dict[str, type[msgspec.Struct]] = {}
    unions: dict[str, Any] = {}
    for module in (ops, messages, api):
        short = module.__name__.rsplit(".", 1)[1]
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, msgspec.Struct):
                structs[f"{short}.{name}"] = obj
            elif isinstance(obj, types.UnionType):
                unions[f"{short}.{name}"] = obj
    return structs, unions


STRUCTS, UNIONS = _wire_types()
WIRE_TYPES: dict[str, Any] = {**STRUCTS, **UNIONS}


def test_every_wire_type_is_covered() -> None:
    # Types are discovered from __all__, so new ones are covered at once; this
    # guards the discovery itself, and notices a type that stops being exported.
    names = {name.rsplit(".", 1)[1] for name in STRUCTS}
    assert names >= {
        *("AddOp", "Binding", "Commit", "CreateOp", "InviteCreateOp", "InviteProof"),
        *("InviteRevokeOp", "JoinOp", "LeaveOp", "OpContent", "Policy", "RemoveOp"),
        *("RetentionOp", "RoleOp", "RotateOp", "Share", "SignedOp"),
        *("DeleteContent", "DeleteRequest", "EditBody", "Envelope", "EnvelopeHeader"),
        *("Plaintext", "ProfileBody", "ReactionBody", "RulesAcceptBody", "RulesBody"),
        "TextBody",
        *("AckFrame", "AuthContent", "AuthFrame", "AuthRequest", "Challenge"),
        *("ChallengeRequest", "ErrorBody", "ErrorFrame", "EventFrame", "LogEvent"),
        *("MessageEvent", "ReadyFrame", "RoomSync", "SendFrame", "Session"),
        *("SubscribeFrame", "SyncRequest", "SyncResponse", "TombstoneEvent"),
    }
    assert set(UNIONS) >= {
        "ops.OpBody",
        "messages.Body",
        "api.RoomEvent",
        "api.ClientFrame",
        "api.ServerFrame",
    }
    for union in UNIONS.values():
        assert set(union.__args__) <= set(STRUCTS.values()), union


@pytest.mark.parametrize("name", sorted(WIRE_TYPES))
@FAST
@given(data=st.data())
def test_round_trip(name: str, data: st.DataObject) -> None:
    kind = WIRE_TYPES[name]
    value = data.draw(strategy(mi.type_info(kind)), label=name)
    via_json = from_json(to_json(value), kind)
    via_msgpack = from_msgpack(canonical(value), kind)
    assert via_json == value
    assert via_msgpack == value
    assert canonical(via_json) == canonical(value)
    assert to_json(via_msgpack) == to_json(value)


# -- tags and canonical form -----------------------------------------------------

TAGS = {
    ops.CreateOp: "room.create",
    ops.AddOp: "room.add",
    ops.RemoveOp: "room.remove",
    ops.LeaveOp: "room.leave",
    ops.InviteCreateOp: "room.invite.create",
    ops.InviteRevokeOp: "room.invite.revoke",
    ops.JoinOp: "room.join",
    ops.RoleOp: "room.role",
    ops.RotateOp: "room.rotate",
    ops.RetentionOp: "room.retention",
    messages.TextBody: "text",
    messages.EditBody: "edit",
    messages.ReactionBody: "reaction",
    messages.ProfileBody: "room.profile",
    messages.RulesBody: "rules",
    messages.RulesAcceptBody: "rules.accept",
    api.LogEvent: "log",
    api.MessageEvent: "msg",
    api.TombstoneEvent: "tombstone",
    api.RemovedEvent: "removed",
    api.ErasedEvent: "erased",
    api.AuthFrame: "auth",
    api.SubscribeFrame: "subscribe",
    api.SendFrame: "send",
    api.ReadyFrame: "ready",
    api.EventFrame: "event",
    api.AckFrame: "ack",
    api.ErrorFrame: "error",
}


@pytest.mark.parametrize(("cls", "tag"), TAGS.items(), ids=[c.__name__ for c in TAGS])
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_tags_are_stable_and_come_first(
    cls: type[msgspec.Struct], tag: str, data: st.DataObject
) -> None:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    assert (info.tag_field, info.tag) == ("type", tag)
    value = msgspec.msgpack.decode(canonical(data.draw(strategy(info))))
    assert next(iter(value.items())) == ("type", tag)


def test_canonical_bytes_are_pinned() -> None:
    # One hand-checked encoding: a map in declaration order, defaults included,
    # shortest integers, bytes as bin 8. Changing it breaks every signature.
    value = ops.InviteRevokeOp(invite_key=bytes(range(32)))
    assert canonical(value) == (
        b"\x82\xa4type\xb2room.invite.revoke\xaainvite_key\xc4\x20" + bytes(range(32))
    )
    policy = ops.Policy()
    assert canonical(policy) == (
        b"\x85\xa4kind\xa5group\xabinvite_role\xa9moderator\xadshare_history\xc2"
        b"\xabmax_members\xc0\xaeretention_days\xc0"
    )


def test_json_form_uses_base64_bytes_and_tags() -> None:
    value = ops.InviteRevokeOp(invite_key=b"\xff" * 32)
    assert json.loads(to_json(value)) == {
        "type": "room.invite.revoke",
        "invite_key": "//////////////////////////////////////////8=",
    }


# -- refusals ----------------------------------------------------------------------


HEADER = {
    "v": 2,
    "room": "A" * 32,
    "epoch": 1,
    "sender": "B" * 43,
    "id": "C" * 22,
    "head_index": 0,
    "head": "A" * 43 + "=",
    "nonce": "A" * 32,
}


def test_the_reference_header_is_valid() -> None:
    # The refusals below change one field of this header; it must pass as is.
    assert from_json(json.dumps(HEADER), messages.EnvelopeHeader).epoch == 1


@pytest.mark.parametrize(
    ("kind", "doc"),
    [
        (ops.OpBody, {"type": "room.nope"}),
        (ops.InviteRevokeOp, {"type": "room.invite.revoke", "invite_key": "AAAA"}),
        (ops.Share, {"member": "A" * 42, "sealed": "A" * 108}),
        (ops.Share, {"member": "A" * 42 + "!", "sealed": "A" * 108}),
        (ops.Policy, {"invite_role": "admin"}),
        (ops.Policy, {"max_members": 0}),
        (messages.EnvelopeHeader, {**HEADER, "v": "2"}),
        (messages.EnvelopeHeader, {**HEADER, "nonce": "AAAA"}),
        (messages.EnvelopeHeader, {**HEADER, "epoch": 0}),
        (api.AuthFrame, {"type": "auth", "tokens": []}),
        (api.SyncRequest, {"positions": {}, "limit": 1001}),
    ],
)
def test_constraint_violations_are_decode_errors(kind: Any, doc: object) -> None:
    with pytest.raises(DecodeError) as info:
        from_json(json.dumps(doc), kind)
    assert info.value.code == "wire.malformed"
    with pytest.raises(DecodeError):
        from_msgpack(msgspec.msgpack.encode(doc), kind)


@pytest.mark.parametrize("version", [1, 3])
def test_another_protocol_version_is_refused_by_name(version: int) -> None:
    # An operation or an envelope of version 1 (or a future one) is refused with a
    # code of its own that names the version, never misread as this version's.
    with pytest.raises(DecodeError) as info:
        from_json(json.dumps({**HEADER, "v": version}), messages.EnvelopeHeader)
    assert info.value.code == "wire.version"
    assert f"protocol version {version}" in str(info.value)
    assert "version 2" in str(info.value)
    with pytest.raises(DecodeError) as info:
        from_msgpack(msgspec.msgpack.encode({**HEADER, "v": version}), messages.EnvelopeHeader)
    assert info.value.code == "wire.version"


def test_garbage_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        from_json(b"{not json", ops.SignedOp)
    with pytest.raises(DecodeError):
        from_msgpack(b"\xc1", ops.SignedOp)


def test_unknown_fields_are_ignored_for_evolution() -> None:
    # New fields take defaults: an old reader skips what it does not know.
    doc = {"kind": "buddy", "future_field": [1, 2, 3]}
    assert from_json(json.dumps(doc), ops.Policy) == ops.Policy(kind="buddy")
