"""Link codes, personal-store keys, sealed documents and the three-way merge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import crypto
from protocol.errors import CryptoError, ForkDetected, LinkError
from protocol.keys import RootSeed
from protocol.personal import (
    LINK_PAD_FLOOR,
    Document,
    Entry,
    LinkAnswer,
    LinkCode,
    LinkHello,
    LinkPayload,
    LinkRefusal,
    LinkRoom,
    PersonalKeys,
    VerifiedHead,
    check_verified_head,
    merge,
    open_answer,
    open_document,
    open_hello,
    open_link,
    pad_document,
    seal_answer,
    seal_document,
    seal_hello,
    seal_link,
    short_code,
    unpad_document,
)
from protocol.roomlog import RoomLog, op_hash
from tests.protocol.builders import Room

ROOT = bytes(range(32))


def test_link_code_round_trips_and_is_qr_alphanumeric() -> None:
    code = LinkCode.generate()
    text = code.text
    assert text.startswith("HL2-")
    assert set(text) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ-HL")
    assert len(code.secret) * 8 >= 128
    assert LinkCode.parse(text) == code
    assert LinkCode.parse(" " + text.lower().replace("-", " ") + "\n") == code
    assert code.text not in repr(code)
    assert code.secret.hex() not in repr(code)
    assert len(code.rendezvous) == 22
    assert code.rendezvous != LinkCode.generate().rendezvous


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],  # too short
        lambda t: "HX2" + t[3:],  # not a version
        lambda t: t.replace("HL2-", ""),  # no version
        lambda t: t[:-1] + "U",  # outside the alphabet
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # a typo: checksum
        lambda t: t + "é",
    ],
)
def test_bad_link_codes_are_typed(mangle: object) -> None:
    text = LinkCode.generate().text
    with pytest.raises(LinkError) as info:
        LinkCode.parse(mangle(text))  # type: ignore[operator]
    assert info.value.code == "link.bad_code"


@pytest.mark.parametrize("version", ["HL1", "HL3"])
def test_a_link_code_of_another_format_is_refused_naming_it(version: str) -> None:
    text = version + LinkCode.generate().text[3:]
    with pytest.raises(LinkError) as info:
        LinkCode.parse(text)
    assert info.value.code == "link.version"
    assert f"format {version[2]}" in info.value.message


def _heads(n: int) -> list[LinkRoom]:
    return [
        LinkRoom(room=f"{i:032d}", verified=VerifiedHead(index=i * 1000, head=bytes([i]) * 32))
        for i in range(n)
    ]


def test_the_root_opens_only_for_the_answer_it_was_sealed_to() -> None:
    code = LinkCode.generate()
    hello, answer, other = (crypto.box_keypair_from_seed(crypto.random_bytes(32)) for _ in range(3))
    hello_pub, answer_pub = crypto.box_public(hello), crypto.box_public(answer)
    # The new device opens the hello, the existing device the answer; both see one code.
    assert open_hello(code, seal_hello(code, LinkHello(box_key=hello_pub))).box_key == hello_pub
    sealed_answer = seal_answer(code, LinkAnswer(box_key=answer_pub))
    assert open_answer(code, sealed_answer).box_key == answer_pub
    shown = short_code(code, hello_pub, answer_pub)
    assert len(shown) == 7
    assert shown[3] == " "
    assert shown.replace(" ", "").isdigit()

    payload = LinkPayload(root=ROOT, heads=_heads(1), made_at=5)
    box = seal_link(code, payload, hello=hello, answer_key=answer_pub)
    assert open_link(code, box, answer=answer, hello_key=hello_pub) == payload
    assert ROOT not in box
    # Someone with the code but another answer key (one who answered) cannot open it...
    with pytest.raises(LinkError) as info:
        open_link(code, box, answer=other, hello_key=hello_pub)
    assert info.value.code == "link.bad_box"
    with pytest.raises(LinkError):
        open_link(LinkCode.generate(), box, answer=answer, hello_key=hello_pub)
    flipped = box[:-1] + bytes([box[-1] ^ 1])
    with pytest.raises(LinkError):
        open_link(code, flipped, answer=answer, hello_key=hello_pub)
    # ...nor forge a root box without the hello's private key.
    forged = seal_link(code, payload, hello=other, answer_key=answer_pub)
    with pytest.raises(LinkError):
        open_link(code, forged, answer=answer, hello_key=hello_pub)
    refused = seal_link(code, LinkRefusal(), hello=hello, answer_key=answer_pub)
    with pytest.raises(LinkError) as no:
        open_link(code, refused, answer=answer, hello_key=hello_pub)
    assert no.value.code == "link.refused"


def test_the_short_code_differs_for_another_answer() -> None:
    code = LinkCode.generate()
    hello = crypto.random_bytes(32)
    codes = {short_code(code, hello, crypto.random_bytes(32)) for _ in range(50)}
    assert len(codes) > 45


def test_personal_keys_are_unlinkable_to_room_keys() -> None:
    keys = PersonalKeys.derive(ROOT)
    room = RootSeed(ROOT).room_keys("R" * 32)  # type: ignore[arg-type]
    assert keys.member != room.member
    assert keys.data_key not in (bytes(room.signing), bytes(room.box))
    assert keys.member == PersonalKeys.derive(ROOT).member
    assert keys.document_id("notes") != keys.document_id("rooms")
    assert keys.document_id("notes") != PersonalKeys.derive(bytes(32)).document_id("notes")


def test_documents_are_bound_to_owner_id_and_version() -> None:
    keys = PersonalKeys.derive(ROOT)
    doc = Document(entries={"a": Entry(value=b"hello", at=1, device=bytes(16))})
    doc_id = keys.document_id("notes")
    box = seal_document(keys, doc_id, 3, doc)
    assert open_document(keys, doc_id, 3, box) == doc
    assert len(box) == crypto.AEAD_NONCE_BYTES + 256 + crypto.AEAD_TAG_BYTES
    for other in (
        (keys, doc_id, 2),  # an old version served as current
        (keys, keys.document_id("rooms"), 3),  # moved to another document
        (PersonalKeys.derive(bytes(32)), doc_id, 3),  # another person
    ):
        with pytest.raises(CryptoError):
            open_document(other[0], other[1], other[2], box)


@given(st.binary(max_size=5000))
def test_document_padding_round_trips(data: bytes) -> None:
    padded = pad_document(data)
    assert len(padded) >= 256
    assert len(padded) & (len(padded) - 1) == 0
    assert unpad_document(padded) == data


def _e(value: bytes | None, at: int, device: int = 1) -> Entry:
    return Entry(value=value, at=at, device=bytes([device]) * 16)


def _d(**entries: Entry) -> Document:
    return Document(entries=entries)


def test_merge_takes_one_sided_changes_and_unions_new_keys() -> None:
    base = _d(a=_e(b"a", 1), b=_e(b"b", 1))
    local = _d(a=_e(b"a2", 5), b=_e(b"b", 1), c=_e(b"c", 6))
    remote = _d(a=_e(b"a", 1), b=_e(None, 7, 2), d=_e(b"d", 3, 2))
    for rule in ("lww", "keep"):
        merged = merge(base, local, remote, rule=rule)  # type: ignore[arg-type]
        assert merged.entries == {
            "a": _e(b"a2", 5),
            "b": _e(None, 7, 2),
            "c": _e(b"c", 6),
            "d": _e(b"d", 3, 2),
        }


def test_merge_of_concurrent_edits() -> None:
    base = _d(n=_e(b"v1", 1))
    local = _d(n=_e(b"mine", 5, 1))
    remote = _d(n=_e(b"theirs", 6, 2))
    assert merge(base, local, remote, rule="lww").entries == {"n": _e(b"theirs", 6, 2)}
    kept = merge(base, local, remote, rule="keep").entries
    assert kept["n"] == _e(b"theirs", 6, 2)
    copy = f"n~{(bytes([1]) * 16).hex()}~5"
    assert kept[copy] == _e(b"mine", 5, 1)
    # Merging again (the other side does it too) adds no second copy.
    again = merge(
        Document(entries=kept), Document(entries=kept), Document(entries=kept), rule="keep"
    )
    assert again.entries == kept


def test_an_edit_beats_a_concurrent_removal_under_keep() -> None:
    base = _d(n=_e(b"v1", 1))
    removed = _d(n=_e(None, 9, 1))
    edited = _d(n=_e(b"v2", 5, 2))
    assert merge(base, removed, edited, rule="keep").entries == {"n": _e(b"v2", 5, 2)}
    assert merge(base, edited, removed, rule="keep").entries == {"n": _e(b"v2", 5, 2)}
    assert merge(base, removed, edited, rule="lww").entries == {"n": _e(None, 9, 1)}


_entries = st.dictionaries(
    st.sampled_from("abcde"),
    st.builds(
        Entry,
        value=st.one_of(st.none(), st.binary(max_size=4)),
        at=st.integers(0, 20),
        device=st.sampled_from([bytes(16), bytes([1]) * 16]),
    ),
)


@given(_entries, _entries, _entries)
def test_merge_loses_no_edit_under_keep(
    b: dict[str, Entry], mine: dict[str, Entry], theirs: dict[str, Entry]
) -> None:
    base, local, remote = Document(entries=b), Document(entries=mine), Document(entries=theirs)
    merged = merge(base, local, remote, rule="keep")
    kept = list(merged.entries.values())
    for side in (local, remote):
        for key, entry in side.entries.items():
            if entry.value is not None and base.entries.get(key) != entry:
                assert any(e.value == entry.value for e in kept), (key, entry)


def test_a_link_offer_is_the_same_size_for_1_room_and_for_60() -> None:
    code = LinkCode.generate()
    hello = crypto.box_keypair_from_seed(crypto.random_bytes(32))
    answer = crypto.random_bytes(32)
    sizes = {
        len(
            seal_link(code, LinkPayload(root=ROOT, heads=_heads(n)), hello=hello, answer_key=answer)
        )
        for n in (0, 1, 20, 60)
    }
    assert sizes == {crypto.AEAD_NONCE_BYTES + LINK_PAD_FLOOR + crypto.AEAD_TAG_BYTES}


def test_a_verified_head_must_stand_at_its_index_in_the_served_log() -> None:
    room = Room()
    room.add("owner", "bob")
    room.add("owner", "carol")
    prefix = RoomLog.from_ops(room.log.ops)
    room.remove("owner", "carol")
    mark = VerifiedHead(index=room.log.index, head=room.log.head)
    check_verified_head(room.log, mark)  # the whole log: fine
    check_verified_head(room.log, VerifiedHead(index=1, head=op_hash(room.log.ops[1])))
    with pytest.raises(ForkDetected) as behind:
        check_verified_head(prefix, mark)  # served without the removal
    assert behind.value.code == "log.behind_verified_head"
    other = Room(nonce=room.nonce)
    other.add("owner", "dave")
    other.add("owner", "erin")
    other.rotate("owner")
    with pytest.raises(ForkDetected) as fork:
        check_verified_head(other.log, mark)  # another history of the same length
    assert fork.value.code == "log.fork"
