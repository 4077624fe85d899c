"""Root seed, recovery phrase, per-room pseudonymous keys, safety numbers, room fingerprints."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import (
    MemberId,
    PhraseError,
    RoomId,
    RoomKeys,
    RoomLog,
    RootSeed,
    canonical,
    crypto,
    member_key,
    room_fingerprint,
    safety_number,
)
from protocol.ops import Binding
from tests.protocol.builders import FAST, some_room_id
from tests.protocol.builders import Room as LogBuilder

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VALUE = {c: i for i, c in enumerate(ALPHABET)} | {"O": 0, "I": 1, "L": 1}
ROOM = RoomId("AAAAAAAAAAAAAAAAAAAAAA")
seeds = st.binary(min_size=32, max_size=32)


@FAST
@given(seeds)
def test_phrase_round_trip(seed: bytes) -> None:
    phrase = RootSeed(seed).phrase
    groups = phrase.split("-")
    assert len(groups) == 14
    assert all(len(g) == 4 and set(g) <= set(ALPHABET) for g in groups)
    assert RootSeed.from_phrase(phrase).secret == seed


@FAST
@given(seed=seeds, data=st.data())
def test_phrase_ignores_case_spaces_and_hyphens(seed: bytes, data: st.DataObject) -> None:
    chars = RootSeed(seed).phrase.replace("-", "")
    out = []
    for c in chars:
        out.append(c.lower() if data.draw(st.booleans()) else c)
        out.append(data.draw(st.sampled_from(["", "", " ", "-", "\t", "\n", "  -"])))
    assert RootSeed.from_phrase("".join(out)).secret == seed


@FAST
@given(seed=seeds, data=st.data())
def test_phrase_accepts_crockford_aliases(seed: bytes, data: st.DataObject) -> None:
    phrase = RootSeed(seed).phrase
    aliased = "".join(
        data.draw(st.sampled_from(["0", "O", "o"]))
        if c == "0"
        else data.draw(st.sampled_from(["1", "I", "i", "L", "l"]))
        if c == "1"
        else c
        for c in phrase
    )
    assert RootSeed.from_phrase(aliased).secret == seed


def test_alias_example() -> None:
    seed = bytes(32)
    phrase = RootSeed(seed).phrase
    assert phrase.startswith("0000-0000")
    assert RootSeed.from_phrase(phrase.replace("0", "O")).secret == seed


@FAST
@given(seed=seeds, position=st.integers(0, 55), data=st.data())
def test_any_single_substitution_fails_the_checksum(
    seed: bytes, position: int, data: st.DataObject
) -> None:
    chars = list(RootSeed(seed).phrase.replace("-", ""))
    replacement = data.draw(
        st.sampled_from([c for c in VALUE if VALUE[c] != VALUE[chars[position]]])
    )
    chars[position] = replacement
    with pytest.raises(PhraseError) as info:
        RootSeed.from_phrase("".join(chars))
    assert info.value.code == "phrase.checksum"


def test_every_substitution_of_one_phrase_fails() -> None:
    chars = list(RootSeed(bytes(range(32))).phrase.replace("-", ""))
    for position, original in enumerate(chars):
        for c in ALPHABET:
            if c != original:
                typo = [*chars[:position], c, *chars[position + 1 :]]
                with pytest.raises(PhraseError):
                    RootSeed.from_phrase("".join(typo))


@pytest.mark.parametrize("drop", [1, 4, -1])
def test_wrong_length(drop: int) -> None:
    phrase = RootSeed(bytes(32)).phrase.replace("-", "")
    text = phrase[:-drop] if drop > 0 else phrase + "0"
    with pytest.raises(PhraseError) as info:
        RootSeed.from_phrase(text)
    assert info.value.code == "phrase.length"


@pytest.mark.parametrize("bad", ["U", "*", "é", "_"])
def test_characters_outside_the_alphabet(bad: str) -> None:
    phrase = RootSeed(bytes(32)).phrase
    with pytest.raises(PhraseError) as info:
        RootSeed.from_phrase(bad + phrase[1:])
    assert info.value.code == "phrase.character"


def test_root_seed_hides_its_secret_and_checks_length() -> None:
    seed = RootSeed(b"\xab" * 32)
    assert "ab" not in repr(seed).lower().replace("rootseed", "")
    assert str(seed) == "RootSeed(<secret>)"
    with pytest.raises(ValueError, match="32 bytes"):
        RootSeed(bytes(31))
    assert RootSeed.generate(lambda n: b"\x01" * n).secret == b"\x01" * 32
    assert RootSeed.generate().secret != RootSeed.generate().secret


# -- room keys -----------------------------------------------------------------


@FAST
@given(seed=seeds)
def test_room_keys_are_deterministic_and_unlinkable_across_rooms(seed: bytes) -> None:
    a, b = some_room_id(), some_room_id()
    keys_a = RootSeed(seed).room_keys(a)
    assert keys_a.member == RootSeed(seed).room_keys(a).member
    assert keys_a.box_public == RootSeed(seed).room_keys(a).box_public
    keys_b = RootSeed(seed).room_keys(b)
    assert keys_a.member != keys_b.member
    assert keys_a.box_public != keys_b.box_public
    other = RootSeed(bytes(x ^ 1 for x in seed)).room_keys(a)
    assert other.member != keys_a.member


def test_room_keys_derivation_uses_separate_personalisations() -> None:
    root = bytes(range(32))
    keys = RoomKeys.derive(root, ROOM)
    data = ROOM.encode()
    sign_seed = crypto.kdf(root, data, person=crypto.PERSON_ROOM_SIGN)
    box_seed = crypto.kdf(root, data, person=crypto.PERSON_ROOM_BOX)
    assert sign_seed != box_seed
    assert bytes(keys.signing) == sign_seed
    assert bytes(keys.box) == box_seed
    assert member_key(keys.member) == bytes(keys.signing.verify_key)
    assert keys.box_public == bytes(keys.box.public_key)
    assert "secret" not in repr(keys)
    assert repr(keys) == f"RoomKeys(room={ROOM!r}, member={keys.member!r})"


def test_binding_signs_room_member_and_box_key() -> None:
    keys = RootSeed(bytes(32)).room_keys(ROOM)
    statement = Binding(room=ROOM, member=keys.member, box_key=keys.box_public)
    crypto.verify(member_key(keys.member), crypto.CTX_BINDING, canonical(statement), keys.binding())
    for wrong in [
        Binding(room=some_room_id(), member=keys.member, box_key=keys.box_public),
        Binding(room=ROOM, member=keys.member, box_key=bytes(32)),
    ]:
        with pytest.raises(crypto.CryptoError):
            crypto.verify(
                member_key(keys.member), crypto.CTX_BINDING, canonical(wrong), keys.binding()
            )


# -- safety numbers ---------------------------------------------------------------


def _party(name: bytes, room: RoomId = ROOM) -> tuple[MemberId, bytes]:
    keys = RootSeed(name.ljust(32, b"\x00")).room_keys(room)
    return keys.member, keys.box_public


@FAST
@given(a=seeds, b=seeds)
def test_safety_number_is_symmetric(a: bytes, b: bytes) -> None:
    pa, pb = _party(a), _party(b)
    number = safety_number(ROOM, pa, pb)
    assert number == safety_number(ROOM, pb, pa)
    groups = number.split(" ")
    assert len(groups) == 12
    assert all(len(g) == 5 and g.isdigit() for g in groups)


@FAST
@given(a=seeds, b=seeds, bit=st.integers(0, 255))
def test_safety_number_changes_with_any_key(a: bytes, b: bytes, bit: int) -> None:
    assume(a != b)
    (ma, ka), pb = _party(a), _party(b)
    number = safety_number(ROOM, (ma, ka), pb)
    swapped_key = bytearray(ka)
    swapped_key[bit // 8] ^= 1 << (bit % 8)
    assert safety_number(ROOM, (ma, bytes(swapped_key)), pb) != number
    other_member = _party(crypto.blake2b(a, person=b"other"))[0]
    assert safety_number(ROOM, (other_member, ka), pb) != number
    assert safety_number(some_room_id(), (ma, ka), pb) != number


def test_safety_number_tie_break_is_member_id_as_ascii_bytes_then_key() -> None:
    # Sorting compares the member ids' ASCII bytes, not the keys they encode: in
    # base64url "-" (0x2d) and digits sort before letters as bytes, though they
    # stand for the values 62 and 52-61.
    a, b = MemberId("-" + "A" * 42), MemberId("A" * 43)
    key = bytes(range(32))
    joined = b"".join([ROOM.encode(), a.encode(), key, b.encode(), key])
    digest = crypto.blake2b(joined, person=crypto.PERSON_SAFETY, size=60)
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 60, 5)]
    expected = " ".join(f"{g:05d}" for g in groups)
    assert safety_number(ROOM, (b, key), (a, key)) == expected
    # The same member id twice: the X25519 key's bytes decide.
    low, high = bytes(32), b"\xff" * 32
    joined = b"".join([ROOM.encode(), b.encode(), low, b.encode(), high])
    digest = crypto.blake2b(joined, person=crypto.PERSON_SAFETY, size=60)
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 60, 5)]
    assert safety_number(ROOM, (b, high), (b, low)) == " ".join(f"{g:05d}" for g in groups)


# -- room fingerprints ------------------------------------------------------------


def test_room_fingerprint_follows_the_log_head() -> None:
    builder = LogBuilder()
    prefix = builder.log.ops
    # Two histories that share the create and hold different operations at index 1.
    one = RoomLog.from_ops([*prefix, builder.add("owner", "alice", apply=False)])
    two = RoomLog.from_ops([*prefix, builder.add("owner", "bob", apply=False)])
    room, index, head = builder.room, one.index, one.head
    assert two.index == index
    assert two.head != head
    digits = room_fingerprint(room, index, head)
    groups = digits.split(" ")
    assert len(groups) == 12
    assert all(len(g) == 5 and g.isdigit() for g in groups)
    assert room_fingerprint(room, index, head) == digits  # a function of its inputs alone
    assert room_fingerprint(room, index, two.head) != digits
    assert room_fingerprint(room, index + 1, head) != digits
    assert room_fingerprint(LogBuilder().room, index, head) != digits
    # Compared at the index before the fork, the two histories agree.
    assert room_fingerprint(room, 0, one.hash_at(0)) == room_fingerprint(room, 0, two.hash_at(0))
    assert room_fingerprint(room, 0, one.hash_at(0)) != digits


@pytest.mark.parametrize(("index", "head"), [(-1, bytes(32)), (2**64, bytes(32)), (0, bytes(31))])
def test_room_fingerprint_refuses_what_is_no_log_position(index: int, head: bytes) -> None:
    with pytest.raises(ValueError, match=r"a log (index|head) is"):
        room_fingerprint(LogBuilder().room, index, head)


@pytest.mark.parametrize("twist", ["\u0131", "\u00df", "\uff10"])
def test_non_ascii_look_alikes_are_refused(twist: str) -> None:
    # Unicode case folding would turn dotless i into I (= 1) and sharp s into SS.
    phrase = RootSeed(bytes(32)).phrase
    with pytest.raises(PhraseError) as info:
        RootSeed.from_phrase(twist + phrase[1:])
    assert info.value.code == "phrase.character"


def test_windows_line_endings_are_ignored() -> None:
    seed = RootSeed(bytes(range(32)))
    assert RootSeed.from_phrase(seed.phrase.replace("-", "\r\n")) == seed
