"""Signed statements: each verifies, each refuses any flipped bit, none crosses purpose."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    DecodeError,
    EnvelopeError,
    HearthError,
    InviteKey,
    canonical,
    crypto,
    from_json,
    new_message_id,
    sign_auth,
    sign_delete,
    sign_op,
    to_json,
    verify_auth,
    verify_delete,
    verify_invite_read,
)
from protocol.api import AuthContent, InviteReadContent
from protocol.messages import DeleteContent, DeleteRequest
from protocol.ops import InviteProof, InviteRevokeOp, OpContent
from tests.protocol.builders import FAST, T0, flip, flip_bit, leaf_paths, root, some_room_id

ROOM = some_room_id(lambda n: bytes(range(n)))
TARGET = new_message_id(lambda n: b"m" * n)
KEYS = root("alice").room_keys(ROOM)
MALLORY = root("mallory").room_keys(ROOM)
ORIGIN = "https://relay.example"
CHALLENGE = bytes(range(32))

DEVICE = bytes(range(16))
DELETE = sign_delete(KEYS, target=TARGET, sender=MALLORY.member, device=DEVICE, counter=3, at=T0)
AUTH = AuthContent(origin=ORIGIN, challenge=CHALLENGE, key=KEYS.member, expires_at=T0)
AUTH_SIG = sign_auth(KEYS, origin=ORIGIN, challenge=CHALLENGE, expires_at=T0)
INVITE = InviteKey(bytes(range(32, 64)))
READ = InviteReadContent(room=ROOM, reader=KEYS.member, at=T0)
READ_SIG = INVITE.prove_read(room=ROOM, reader=KEYS.member, at=T0)


class SignedAuth(msgspec.Struct, frozen=True, kw_only=True):
    """An answer to a challenge as the relay receives it: content fields and sig."""

    content: AuthContent
    sig: bytes


def _check_auth(content: AuthContent, sig: bytes) -> None:
    verify_auth(
        key=content.key,
        origin=content.origin,
        challenge=content.challenge,
        expires_at=content.expires_at,
        sig=sig,
    )


def _check_read(content: InviteReadContent, sig: bytes, invite_key: bytes = INVITE.public) -> None:
    verify_invite_read(
        invite_key=invite_key, room=content.room, reader=content.reader, at=content.at, sig=sig
    )


def test_sign_op_signs_the_canonical_content() -> None:
    op = sign_op(KEYS, index=3, prev=bytes(32), at=T0, body=InviteRevokeOp(invite_key=bytes(32)))
    assert op.content == OpContent(
        room=ROOM,
        index=3,
        prev=bytes(32),
        author=KEYS.member,
        at=T0,
        body=InviteRevokeOp(invite_key=bytes(32)),
    )
    crypto.verify(bytes(KEYS.signing.verify_key), crypto.CTX_OP, canonical(op.content), op.sig)


def test_valid_statements_verify() -> None:
    verify_delete(DELETE)
    verify_delete(from_json(to_json(DELETE), DeleteRequest))
    _check_auth(AUTH, AUTH_SIG)
    _check_read(READ, READ_SIG)
    assert DELETE.content == DeleteContent(
        room=ROOM,
        target=TARGET,
        author=KEYS.member,
        at=T0,
        sender=MALLORY.member,
        device=DEVICE,
        counter=3,
    )


@FAST
@given(data=st.data())
def test_any_flipped_bit_of_a_delete_request_is_refused(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(leaf_paths(DELETE)), label="path")
    bad = flip(DELETE, path, data.draw(st.integers(0, 2**16), label="bit"))
    bad = from_json(to_json(bad), DeleteRequest)  # still well-formed on the wire
    with pytest.raises(EnvelopeError) as info:
        verify_delete(bad)
    assert info.value.code == "msg.bad_signature"


def test_every_field_of_signed_statements_is_covered() -> None:
    # Deterministic sweep over every leaf and a spread of bits; hypothesis above
    # and below picks arbitrary ones.
    signed_auth = SignedAuth(content=AUTH, sig=AUTH_SIG)
    for path in leaf_paths(DELETE):
        for bit in (0, 1, 5, 11, 52, 300):
            with pytest.raises(EnvelopeError) as info:
                verify_delete(from_json(to_json(flip(DELETE, path, bit)), DeleteRequest))
            assert info.value.code == "msg.bad_signature", path
    for path in leaf_paths(signed_auth):
        for bit in (0, 1, 5, 11, 52, 300):
            bad = flip(signed_auth, path, bit)
            with pytest.raises(HearthError) as info:
                _check_auth(from_json(to_json(bad.content), AuthContent), bad.sig)
            assert info.value.code == "auth.bad_signature", path


def test_delete_request_by_someone_else_is_refused() -> None:
    theirs = sign_delete(
        MALLORY, target=TARGET, sender=MALLORY.member, device=DEVICE, counter=3, at=T0
    )
    forged = msgspec.structs.replace(DELETE, sig=theirs.sig)
    with pytest.raises(EnvelopeError) as info:
        verify_delete(forged)
    assert info.value.code == "msg.bad_signature"


@FAST
@given(data=st.data())
def test_any_flipped_bit_of_an_auth_answer_is_refused(data: st.DataObject) -> None:
    signed = SignedAuth(content=AUTH, sig=AUTH_SIG)
    path = data.draw(st.sampled_from(leaf_paths(signed)), label="path")
    bad = flip(signed, path, data.draw(st.integers(0, 2**16), label="bit"))
    content = from_json(to_json(bad.content), AuthContent)
    with pytest.raises(HearthError) as info:
        _check_auth(content, bad.sig)
    assert info.value.code == "auth.bad_signature"


def test_auth_answer_for_another_origin_or_challenge_is_refused() -> None:
    for content in [
        msgspec.structs.replace(AUTH, origin="https://evil.example"),
        msgspec.structs.replace(AUTH, challenge=bytes(32)),
        msgspec.structs.replace(AUTH, key=MALLORY.member),
        msgspec.structs.replace(AUTH, expires_at=T0 + 1),
    ]:
        with pytest.raises(HearthError) as info:
            _check_auth(content, AUTH_SIG)
        assert info.value.code == "auth.bad_signature"


def test_auth_with_a_malformed_key_is_refused() -> None:
    with pytest.raises(HearthError) as info:
        _check_auth(msgspec.structs.replace(AUTH, key="A" * 42 + "B"), AUTH_SIG)
    assert info.value.code == "auth.bad_signature"


@FAST
@given(
    field=st.sampled_from(["room", "reader", "at", "sig", "invite_key"]), bit=st.integers(0, 511)
)
def test_any_flipped_bit_of_an_invite_read_is_refused(field: str, bit: int) -> None:
    content, sig, key = READ, READ_SIG, INVITE.public
    if field == "sig":
        sig = flip_bit(sig, bit)
    elif field == "invite_key":
        key = flip_bit(key, bit)
    else:
        content = flip(READ, (field,), bit)
    with pytest.raises(HearthError) as info:
        _check_read(content, sig, key)
    assert info.value.code == "auth.bad_signature"


def test_a_signature_serves_one_purpose_only() -> None:
    # The same payload signed under one context fails under every other.
    payload = canonical(DELETE.content)
    as_auth = KEYS.sign(crypto.CTX_AUTH, payload)
    with pytest.raises(EnvelopeError):
        verify_delete(msgspec.structs.replace(DELETE, sig=as_auth))
    auth_payload = canonical(AUTH)
    for context in (crypto.CTX_OP, crypto.CTX_DELETE, crypto.CTX_MSG, crypto.CTX_BINDING):
        with pytest.raises(HearthError):
            _check_auth(AUTH, KEYS.sign(context, auth_payload))


def test_invite_key() -> None:
    proof = INVITE.prove(room=ROOM, index=4, joiner=KEYS.member, box_key=KEYS.box_public)
    statement = InviteProof(room=ROOM, index=4, joiner=KEYS.member, box_key=KEYS.box_public)
    crypto.verify(INVITE.public, crypto.CTX_INVITE, canonical(statement), proof)
    with pytest.raises(crypto.CryptoError):
        crypto.verify(INVITE.public, crypto.CTX_INVITE_READ, canonical(statement), proof)
    assert InviteKey(INVITE.secret).public == INVITE.public
    assert InviteKey.generate().public != InviteKey.generate().public
    assert InviteKey.generate(lambda n: bytes(range(32, 64))).public == INVITE.public
    with pytest.raises(ValueError, match="32 bytes"):
        InviteKey(bytes(16))


def test_delete_request_with_malformed_author_is_refused_not_crashed() -> None:
    bad = msgspec.structs.replace(
        DELETE, content=msgspec.structs.replace(DELETE.content, author="A" * 42 + "B")
    )
    with pytest.raises(EnvelopeError):
        verify_delete(bad)
    with pytest.raises(DecodeError):
        from_json(b'{"content": {}, "sig": ""}', DeleteRequest)
