"""protocol.directed: reports, support requests and risk alerts, sealed to chosen members."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import crypto
from protocol.directed import open_directed, seal_directed
from protocol.encoding import canonical
from protocol.errors import CryptoError, DecodeError, EnvelopeError
from protocol.ids import MemberId
from protocol.keys import RoomKeys
from protocol.messages import (
    ReportBody,
    ReportContent,
    ReportSeal,
    RiskAlertBody,
    RiskAlertContent,
    SignedReport,
    SignedRiskAlert,
    SupportRequestBody,
    SupportRequestContent,
    SupportResealBody,
)
from protocol.signing import sign_report, verify_report
from tests.protocol.builders import FAST, T0, Room

ROOM = Room()
for name in ("alice", "mod", "helper", "carol"):
    ROOM.add("owner", name)
ALICE, MOD, HELPER, CAROL = (ROOM.keys(n) for n in ("alice", "mod", "helper", "carol"))
EVIDENCE = ROOM.send("carol", "the message alice reports")


def _readers(*keys: RoomKeys) -> dict[MemberId, bytes]:
    return {k.member: k.box_public for k in keys}


def _report(reporter: RoomKeys = ALICE, recipients: tuple[RoomKeys, ...] = (MOD,)) -> ReportContent:
    return ReportContent(
        room=ROOM.room,
        reporter=reporter.member,
        target=EVIDENCE.header.id,
        reason="harassment",
        recipients=sorted(k.member for k in recipients),
        evidence=EVIDENCE,
        at=T0,
    )


def _request(
    text: str = "can we talk?", to: tuple[RoomKeys, ...] = (HELPER,)
) -> SupportRequestContent:
    return SupportRequestContent(
        room=ROOM.room,
        requester=ALICE.member,
        text=text,
        recipients=sorted(k.member for k in to),
        at=T0,
    )


def test_a_report_opens_for_each_recipient_and_no_one_else() -> None:
    content = _report(recipients=(MOD, HELPER))
    seals, ciphertext = seal_directed(ALICE, content, _readers(MOD, HELPER))
    assert [s.member for s in seals] == [MOD.member, HELPER.member]  # in the order given
    body = ReportBody(seals=seals, ciphertext=ciphertext)
    assert open_directed(MOD, ALICE.member, body) == content
    assert open_directed(HELPER, ALICE.member, body) == content
    assert open_directed(CAROL, ALICE.member, body) is None
    assert open_directed(ALICE, ALICE.member, body) is None  # the reporter seals none to itself


def test_the_box_holds_the_signed_content() -> None:
    content = _report()
    key = bytes(range(32))
    seals, ciphertext = seal_directed(ALICE, content, _readers(MOD), rng=lambda n: key[:n])
    signed = msgspec.msgpack.decode(crypto.secretbox_decrypt(key, ciphertext), type=SignedReport)
    assert signed.content == content
    verify_report(signed)
    assert crypto.unseal(MOD.box, seals[0].box) == key


@FAST
@given(text=st.text(min_size=1, max_size=2000))
def test_a_support_request_round_trips_for_supporters_and_its_requester(text: str) -> None:
    content = _request(text)
    seals, ciphertext = seal_directed(ALICE, content, _readers(HELPER, ALICE))
    for body in (
        SupportRequestBody(seals=seals, ciphertext=ciphertext),
        SupportResealBody(request=EVIDENCE.header.id, seals=seals, ciphertext=ciphertext),
    ):
        assert open_directed(HELPER, ALICE.member, body) == content
        assert open_directed(ALICE, ALICE.member, body) == content  # read back on another device
        assert open_directed(MOD, ALICE.member, body) is None


def test_content_carried_by_another_sender_is_refused() -> None:
    seals, ciphertext = seal_directed(ALICE, _report(), _readers(MOD))
    with pytest.raises(EnvelopeError) as info:
        open_directed(MOD, CAROL.member, ReportBody(seals=seals, ciphertext=ciphertext))
    assert info.value.code == "msg.bad_room"
    seals, ciphertext = seal_directed(ALICE, _request(), _readers(HELPER))
    with pytest.raises(EnvelopeError) as info:
        open_directed(HELPER, CAROL.member, SupportRequestBody(seals=seals, ciphertext=ciphertext))
    assert info.value.code == "msg.bad_room"


def test_a_reader_the_content_does_not_name_is_refused() -> None:
    # Sealed to carol, but the signed recipients name the moderator only.
    seals, ciphertext = seal_directed(ALICE, _report(recipients=(MOD,)), _readers(CAROL))
    with pytest.raises(EnvelopeError) as info:
        open_directed(CAROL, ALICE.member, ReportBody(seals=seals, ciphertext=ciphertext))
    assert info.value.code == "msg.bad_room"
    seals, ciphertext = seal_directed(ALICE, _request(to=(HELPER,)), _readers(CAROL))
    with pytest.raises(EnvelopeError) as info:
        open_directed(CAROL, ALICE.member, SupportRequestBody(seals=seals, ciphertext=ciphertext))
    assert info.value.code == "msg.bad_room"


def test_content_of_another_room_is_refused() -> None:
    other = Room()
    keys = other.keys("mod")
    seals, ciphertext = seal_directed(ALICE, _report(), {keys.member: keys.box_public})
    with pytest.raises(EnvelopeError) as info:
        open_directed(keys, ALICE.member, ReportBody(seals=seals, ciphertext=ciphertext))
    assert info.value.code == "msg.bad_room"


def test_a_forged_signature_is_refused() -> None:
    key = crypto.random_bytes(32)
    forged = SignedReport(content=_report(), sig=bytes(64))
    body = ReportBody(
        seals=[ReportSeal(member=MOD.member, box=crypto.seal(MOD.box_public, key))],
        ciphertext=crypto.secretbox_encrypt(key, canonical(forged)),
    )
    with pytest.raises(EnvelopeError) as info:
        open_directed(MOD, ALICE.member, body)
    assert info.value.code == "msg.bad_signature"


def test_a_seal_or_box_that_does_not_open_raises() -> None:
    seals, ciphertext = seal_directed(ALICE, _report(), _readers(MOD))
    with pytest.raises(CryptoError):
        open_directed(
            MOD, ALICE.member, ReportBody(seals=seals, ciphertext=ciphertext[:-1] + b"\0")
        )
    bad_seal = msgspec.structs.replace(seals[0], box=bytes(len(seals[0].box)))
    with pytest.raises(CryptoError):
        open_directed(MOD, ALICE.member, ReportBody(seals=[bad_seal], ciphertext=ciphertext))
    # A box that opens but holds something else does not decode.
    key = crypto.random_bytes(32)
    seal = msgspec.structs.replace(seals[0], box=crypto.seal(MOD.box_public, key))
    body = ReportBody(seals=[seal], ciphertext=crypto.secretbox_encrypt(key, b"\x01"))
    with pytest.raises(DecodeError):
        open_directed(MOD, ALICE.member, body)


def _alert(supporter: RoomKeys = HELPER, to: tuple[RoomKeys, ...] = (MOD,)) -> RiskAlertContent:
    return RiskAlertContent(
        room=ROOM.room,
        supporter=supporter.member,
        member=ALICE.member,
        request=EVIDENCE.header.id,
        buddy_room=Room().room,
        note="she says she has the pills with her tonight",
        recipients=sorted(k.member for k in to),
        at=T0,
    )


def test_a_risk_alert_opens_for_the_moderators_and_its_supporter_alone() -> None:
    content = _alert()
    seals, ciphertext = seal_directed(HELPER, content, _readers(MOD, HELPER))
    body = RiskAlertBody(seals=seals, ciphertext=ciphertext)
    assert open_directed(MOD, HELPER.member, body) == content
    assert open_directed(HELPER, HELPER.member, body) == content  # read back on another device
    for outsider in (ALICE, CAROL):  # the person it concerns, and any other member
        assert open_directed(outsider, HELPER.member, body) is None
    # Even a key that holds a seal cannot open what the content does not name it in.
    seals, ciphertext = seal_directed(HELPER, _alert(to=(MOD,)), _readers(CAROL))
    with pytest.raises(EnvelopeError) as info:
        open_directed(CAROL, HELPER.member, RiskAlertBody(seals=seals, ciphertext=ciphertext))
    assert info.value.code == "msg.bad_room"


def test_a_risk_alert_is_signed_under_its_own_context() -> None:
    content = _alert()
    key = bytes(range(32))
    _, ciphertext = seal_directed(HELPER, content, _readers(MOD), rng=lambda n: key[:n])
    signed = msgspec.msgpack.decode(crypto.secretbox_decrypt(key, ciphertext), type=SignedRiskAlert)
    assert signed.content == content
    crypto.verify(
        bytes(HELPER.signing.verify_key), crypto.CTX_RISK_ALERT, canonical(content), signed.sig
    )
    # A signature made for a report is no risk alert's: contexts separate them.
    report_sig = sign_report(HELPER, _report(reporter=HELPER)).sig
    swapped = SignedRiskAlert(content=content, sig=report_sig)
    body = RiskAlertBody(
        seals=[ReportSeal(member=MOD.member, box=crypto.seal(MOD.box_public, key))],
        ciphertext=crypto.secretbox_encrypt(key, canonical(swapped)),
    )
    with pytest.raises(EnvelopeError) as info:
        open_directed(MOD, HELPER.member, body)
    assert info.value.code == "msg.bad_signature"


def test_a_risk_alert_carried_by_another_sender_is_refused() -> None:
    seals, ciphertext = seal_directed(HELPER, _alert(), _readers(MOD))
    with pytest.raises(EnvelopeError) as info:
        open_directed(MOD, CAROL.member, RiskAlertBody(seals=seals, ciphertext=ciphertext))
    assert info.value.code == "msg.bad_room"
