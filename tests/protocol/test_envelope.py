"""Message envelopes: seal/open round-trips, tampering, and the relay's admission check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import (
    BUCKETS,
    DecodeError,
    EnvelopeError,
    ForkDetected,
    InviteKey,
    MemberId,
    MessageId,
    canonical,
    check_envelope,
    crypto,
    from_json,
    message_key,
    open_message,
    pad,
    seal_message,
    to_json,
    verify_signature,
)
from protocol.envelope import check_place
from protocol.messages import Envelope, Plaintext, ReactionBody, TextBody, UnsupportedBody
from tests.protocol.builders import FAST, T0, Room, flip, leaf_paths

ROOM = Room()
ROOM.add("owner", "alice")
ROOM.add("owner", "bob")
SECRET = ROOM.secrets[ROOM.log.epoch]
ALICE = ROOM.keys("alice")
BOB = ROOM.keys("bob")


def _plaintext(body: Any, counter: int = 1) -> Plaintext:
    return Plaintext(device=b"d" * 16, counter=counter, sent_at=T0, body=body)


def _seal(plaintext: Plaintext, **kw: Any) -> Envelope:
    args: dict[str, Any] = {
        "epoch": ROOM.log.epoch,
        "epoch_secret": SECRET,
        "head_index": ROOM.log.index,
        "head": ROOM.log.head,
    }
    return seal_message(ALICE, plaintext, **(args | kw))


ENVELOPE = _seal(_plaintext(TextBody(text="I had a rough week.", content_warning="grief")))


def _resign(envelope: Envelope, keys: Any = ALICE) -> Envelope:
    sig = keys.sign(crypto.CTX_MSG, canonical(envelope.header) + envelope.ciphertext)
    return msgspec.structs.replace(envelope, sig=sig)


def _wire(envelope: Envelope) -> Envelope | None:
    """The envelope as a peer decodes it; None if it cannot exist on the wire."""
    try:
        return from_json(to_json(envelope), Envelope)
    except DecodeError:
        return None


# -- round trips ---------------------------------------------------------------------


@FAST
@given(
    text=st.text(max_size=3000),
    warning=st.none() | st.text(max_size=500),
    counter=st.integers(1, 2**53),
)
def test_seal_open_round_trip(text: str, warning: str | None, counter: int) -> None:
    plaintext = _plaintext(TextBody(text=text, content_warning=warning), counter)
    envelope = _seal(plaintext)
    assert len(envelope.ciphertext) - crypto.AEAD_TAG_BYTES in BUCKETS
    assert len(envelope.ciphertext) == len(pad(canonical(plaintext))) + crypto.AEAD_TAG_BYTES
    received = from_json(to_json(envelope), Envelope)
    assert open_message(received, epoch_secret=SECRET) == plaintext
    check_envelope(ROOM.log, received)


@FAST
@given(size=st.integers(0, 20_000))
def test_ciphertext_length_is_a_bucket_plus_the_tag(size: int) -> None:
    envelope = _seal(_plaintext(TextBody(text="x" * size)))
    assert len(envelope.ciphertext) in {b + 16 for b in BUCKETS}
    # Lengths only leak the bucket: every size in one bucket looks the same.
    small = _seal(_plaintext(TextBody(text="")))
    same_bucket = len(canonical(_plaintext(TextBody(text="x" * size)))) < BUCKETS[0]
    assert (len(envelope.ciphertext) == len(small.ciphertext)) == same_bucket


def test_header_names_sender_epoch_and_head() -> None:
    header = ENVELOPE.header
    assert header.room == ROOM.room
    assert header.sender == ALICE.member
    assert header.epoch == ROOM.log.epoch
    assert (header.head_index, header.head) == (ROOM.log.index, ROOM.log.head)
    assert verify_signature(ENVELOPE) == canonical(header)


def test_sealing_is_deterministic_given_the_rng_and_random_otherwise() -> None:
    def rng(n: int) -> bytes:
        return bytes(range(n))

    plaintext = _plaintext(ReactionBody(target=MessageId("t" * 22), emoji="🫂"))
    a = _seal(plaintext, rng=rng)
    assert a == _seal(plaintext, rng=rng)
    assert a.header.nonce == bytes(range(24))
    assert _seal(plaintext).header.nonce != _seal(plaintext).header.nonce
    fixed = _seal(plaintext, message_id=MessageId("i" * 22))
    assert fixed.header.id == "i" * 22


def test_too_large_plaintext_is_refused() -> None:
    with pytest.raises(EnvelopeError) as info:
        _seal(_plaintext(TextBody(text="x" * 60_000 + "é" * 3000)))
    assert info.value.code == "msg.too_large"


# -- tampering -------------------------------------------------------------------------

PATHS = leaf_paths(ENVELOPE)
ADMISSION_CODE = {
    ("header", "room"): "msg.bad_room",
    ("header", "sender"): "msg.not_member",
    ("header", "epoch"): "msg.stale_epoch",
    ("header", "head_index"): "msg.unknown_head",
    ("header", "head"): "msg.unknown_head",
}
"""What the relay's check refuses first when one header field is flipped."""


def test_every_field_is_covered_by_the_signature_and_the_aead() -> None:
    # Deterministic sweep over every leaf; hypothesis below picks arbitrary bits.
    for path in PATHS:
        for bit in (0, 9, 100):
            bad = _wire(flip(ENVELOPE, path, bit))
            if bad is None:
                assert path in {("header", "v"), ("header", "epoch")}, path
                continue
            with pytest.raises(EnvelopeError) as info:
                open_message(bad, epoch_secret=SECRET)
            assert info.value.code == "msg.bad_signature", path
            with pytest.raises(EnvelopeError) as info:
                check_envelope(ROOM.log, bad)
            assert info.value.code == ADMISSION_CODE.get(path, "msg.bad_signature"), path
            if path not in {("sig",), ("header", "sender")}:
                with pytest.raises(EnvelopeError) as info:
                    open_message(_resign(bad), epoch_secret=SECRET)
                assert info.value.code == "msg.decrypt_failed", path


@FAST
@given(path=st.sampled_from(PATHS), bit=st.integers(0, 2**20))
def test_any_flipped_bit_breaks_the_signature(path: tuple[Any, ...], bit: int) -> None:
    bad = _wire(flip(ENVELOPE, path, bit))
    assume(bad is not None)  # v != 1 or epoch 0: refused by the decoder already
    assert bad is not None
    with pytest.raises(EnvelopeError) as info:
        open_message(bad, epoch_secret=SECRET)
    assert info.value.code == "msg.bad_signature"
    with pytest.raises(EnvelopeError) as info:
        check_envelope(ROOM.log, bad)
    assert info.value.code == ADMISSION_CODE.get(path, "msg.bad_signature")


@FAST
@given(
    path=st.sampled_from([p for p in PATHS if p not in {("sig",), ("header", "sender")}]),
    bit=st.integers(0, 2**20),
)
def test_the_sender_re_signing_a_flipped_bit_does_not_decrypt(
    path: tuple[Any, ...], bit: int
) -> None:
    # The signature is the sender's; the AEAD binds the header and ciphertext
    # for every holder of the epoch key, so a member cannot rewrite a message.
    bad = _wire(_resign(flip(ENVELOPE, path, bit)))
    assume(bad is not None)
    assert bad is not None
    with pytest.raises(EnvelopeError) as info:
        open_message(bad, epoch_secret=SECRET)
    assert info.value.code == "msg.decrypt_failed"


def test_another_member_cannot_claim_a_message() -> None:
    header = msgspec.structs.replace(ENVELOPE.header, sender=BOB.member)
    claimed = _resign(msgspec.structs.replace(ENVELOPE, header=header), BOB)
    verify_signature(claimed)
    with pytest.raises(EnvelopeError) as info:
        open_message(claimed, epoch_secret=SECRET)
    assert info.value.code == "msg.decrypt_failed"
    with pytest.raises(EnvelopeError) as info:
        open_message(_resign(ENVELOPE, BOB), epoch_secret=SECRET)
    assert info.value.code == "msg.bad_signature"


@pytest.mark.parametrize("length", [0, 15])
def test_a_signed_truncated_ciphertext_is_refused_not_crashed(length: int) -> None:
    short = _resign(msgspec.structs.replace(ENVELOPE, ciphertext=ENVELOPE.ciphertext[:length]))
    with pytest.raises(EnvelopeError) as info:
        open_message(short, epoch_secret=SECRET)
    assert info.value.code == "msg.decrypt_failed"


def test_wrong_epoch_secret_does_not_decrypt() -> None:
    with pytest.raises(EnvelopeError) as info:
        open_message(ENVELOPE, epoch_secret=ROOM.secrets[1])
    assert info.value.code == "msg.decrypt_failed"


def _forge(padded: bytes) -> Envelope:
    """A correctly encrypted and signed envelope around arbitrary padded bytes."""
    header_bytes = canonical(ENVELOPE.header)
    ct = crypto.aead_encrypt(
        message_key(SECRET), ENVELOPE.header.nonce, padded, crypto.CTX_MSG_AD + header_bytes
    )
    return _resign(msgspec.structs.replace(ENVELOPE, ciphertext=ct))


def test_a_member_sending_garbage_is_told_apart() -> None:
    with pytest.raises(EnvelopeError) as info:
        open_message(_forge(b"\x01" * 256), epoch_secret=SECRET)
    assert info.value.code == "msg.bad_padding"
    with pytest.raises(EnvelopeError) as info:
        open_message(_forge(pad(b"\x92\x01")), epoch_secret=SECRET)
    assert info.value.code == "msg.malformed"
    # A known tag with broken fields is garbage ...
    broken = canonical({"device": b"d" * 16, "counter": 1, "sent_at": 0, "body": {"type": "text"}})
    with pytest.raises(EnvelopeError) as info:
        open_message(_forge(pad(broken)), epoch_secret=SECRET)
    assert info.value.code == "msg.malformed"
    # ... and so is a frame without a device or counter, whatever its body.
    frameless = canonical({"counter": 1, "sent_at": 0, "body": {"type": "x"}})
    with pytest.raises(EnvelopeError) as info:
        open_message(_forge(pad(frameless)), epoch_secret=SECRET)
    assert info.value.code == "msg.malformed"
    # A tag from a newer client keeps its device and counter, shown as unsupported.
    unknown = canonical({"device": b"d" * 16, "counter": 7, "sent_at": 5, "body": {"type": "x"}})
    opened = open_message(_forge(pad(unknown)), epoch_secret=SECRET)
    assert opened == Plaintext(
        device=b"d" * 16, counter=7, sent_at=5, body=UnsupportedBody(kind="x")
    )
    plain = _plaintext(TextBody(text="fine"))
    assert open_message(_forge(pad(canonical(plain))), epoch_secret=SECRET) == plain


# -- the relay's admission check -------------------------------------------------------


def test_check_envelope_accepts_a_current_message() -> None:
    check_envelope(ROOM.log, ENVELOPE)
    # A head further back is fine while it is at or after the current epoch's commit
    # (the sender may not have seen later operations yet) ...
    log = ROOM.log
    commit_index = min(i for i in range(len(log)) if log.epoch_at(i) == log.epoch)
    older = _seal(
        _plaintext(TextBody(text="hi")), head_index=commit_index, head=log.hash_at(commit_index)
    )
    check_envelope(log, older)
    # ... but a head from before that commit cannot come with the current epoch's key.
    assert commit_index > 0
    before = _seal(_plaintext(TextBody(text="hi")), head_index=0, head=log.hash_at(0))
    with pytest.raises(EnvelopeError) as info:
        check_envelope(log, before)
    assert info.value.code == "msg.stale_epoch"


def test_check_envelope_refuses_a_ciphertext_outside_the_buckets() -> None:
    trimmed = msgspec.structs.replace(ENVELOPE, ciphertext=ENVELOPE.ciphertext[:-1])
    with pytest.raises(EnvelopeError) as info:
        check_envelope(ROOM.log, _resign(trimmed))
    assert info.value.code == "msg.bad_size"


def test_check_envelope_refuses_a_non_member() -> None:
    outsider = ROOM.keys("mallory")
    envelope = seal_message(
        outsider,
        _plaintext(TextBody(text="let me in")),
        epoch=ROOM.log.epoch,
        epoch_secret=SECRET,
        head_index=ROOM.log.index,
        head=ROOM.log.head,
    )
    with pytest.raises(EnvelopeError) as info:
        check_envelope(ROOM.log, envelope)
    assert info.value.code == "msg.not_member"


def test_check_envelope_refuses_another_room() -> None:
    other = Room()
    with pytest.raises(EnvelopeError) as info:
        check_envelope(other.log, ENVELOPE)
    assert info.value.code == "msg.bad_room"


def test_check_envelope_refuses_a_stale_epoch() -> None:
    room = Room()
    room.add("owner", "alice")
    old = room.send("alice", "sent at epoch 2")
    check_envelope(room.log, old)
    room.rotate("owner")
    with pytest.raises(EnvelopeError) as info:
        check_envelope(room.log, old)
    assert info.value.code == "msg.stale_epoch"
    future = room.send("alice", "from the future", epoch=room.log.epoch + 1, secret=bytes(32))
    with pytest.raises(EnvelopeError) as info:
        check_envelope(room.log, future)
    assert info.value.code == "msg.stale_epoch"
    check_envelope(room.log, room.send("alice", "at epoch 3"))


def test_check_envelope_refuses_everything_after_a_leave_until_rotation() -> None:
    room = Room()
    room.add("owner", "alice")
    room.add("owner", "bob")
    room.leave("bob")
    assert room.log.needs_rotation
    with pytest.raises(EnvelopeError) as info:
        check_envelope(room.log, room.send("alice", "bob still holds this key"))
    assert info.value.code == "msg.stale_epoch"
    room.rotate("alice")
    assert not room.log.needs_rotation
    check_envelope(room.log, room.send("alice", "safe again"))


def test_check_envelope_refuses_an_unknown_head() -> None:
    beyond = _seal(_plaintext(TextBody(text="?")), head_index=ROOM.log.index + 1, head=bytes(32))
    with pytest.raises(EnvelopeError) as info:
        check_envelope(ROOM.log, beyond)
    assert info.value.code == "msg.unknown_head"
    assert not isinstance(info.value.__cause__, ForkDetected)


def test_check_envelope_refuses_a_fork_head() -> None:
    # The sender saw another operation at an index this log holds.
    fork = Room(nonce=ROOM.nonce)
    fork.add("owner", "alice")
    fork.invite("owner", InviteKey.generate())
    assert fork.log.hash_at(2) != ROOM.log.hash_at(2)
    envelope = _seal(_plaintext(TextBody(text="?")), head_index=2, head=fork.log.hash_at(2))
    with pytest.raises(EnvelopeError) as info:
        check_envelope(ROOM.log, envelope)
    assert info.value.code == "msg.unknown_head"
    assert isinstance(info.value.__cause__, ForkDetected)


def test_check_envelope_refuses_a_bad_signature() -> None:
    forged = msgspec.structs.replace(ENVELOPE, sig=bytes(64))
    with pytest.raises(EnvelopeError) as info:
        check_envelope(ROOM.log, forged)
    assert info.value.code == "msg.bad_signature"


# -- the admission rule at one log position (relay and SDK alike) ---------------------


@dataclass(frozen=True)
class _Place:
    epoch: int
    needs_rotation: bool
    members: frozenset[MemberId]


def test_check_place_accepts_a_member_at_the_epoch_in_force() -> None:
    check_place(ENVELOPE.header, ROOM.log, "now")
    check_place(ENVELOPE.header, _Place(ROOM.log.epoch, False, frozenset({ALICE.member})), "x")


def test_check_place_refuses_another_epoch_or_a_pending_rotation() -> None:
    h = ENVELOPE.header
    for place in (
        _Place(h.epoch + 1, False, frozenset({ALICE.member})),
        _Place(h.epoch - 1, False, frozenset({ALICE.member})),
        _Place(h.epoch, True, frozenset({ALICE.member})),
    ):
        with pytest.raises(EnvelopeError) as info:
            check_place(h, place, "at its place in history")
        assert info.value.code == "msg.stale_epoch"
        assert info.value.message.endswith("at its place in history")


def test_check_place_refuses_a_non_member_and_judges_the_epoch_first() -> None:
    h = ENVELOPE.header
    with pytest.raises(EnvelopeError) as info:
        check_place(h, _Place(h.epoch, False, frozenset({BOB.member})), "when stored")
    assert info.value.code == "msg.not_member"
    # Neither a member nor at the epoch: the epoch is what the rule names.
    with pytest.raises(EnvelopeError) as info:
        check_place(h, _Place(h.epoch, True, frozenset()), "when stored")
    assert info.value.code == "msg.stale_epoch"


def test_check_envelope_applies_check_place_to_the_log_now() -> None:
    room = Room()
    room.add("owner", "alice")
    room.add("owner", "bob")
    room.leave("bob")
    envelope = room.send("alice", "while bob's leave awaits rotation")
    with pytest.raises(EnvelopeError) as info:
        check_envelope(room.log, envelope)
    assert info.value.code == "msg.stale_epoch"
    with pytest.raises(EnvelopeError) as info:
        check_place(envelope.header, room.log, "now")
    assert info.value.code == "msg.stale_epoch"
