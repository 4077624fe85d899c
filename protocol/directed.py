"""Directed messages: reports, support requests and risk alerts, readable by chosen members only.

A directed message is signed inside and sealed outside. Its author signs the content
with their room key (``CTX_REPORT``, ``CTX_SUPPORT`` or ``CTX_RISK_ALERT``), the signed
content goes into
a secret box under a fresh random key, and that key is sealed (``crypto_box_seal``) to
each reader's X25519 key from the verified log. Members who hold the epoch secret see
who the seals name and no more; the relay sees less still.

Opening checks everything a reader relies on before anything is returned: the seal
opens, the box opens, the content decodes and is signed by the envelope's sender for
this room, and it names the reader (the author of a support request or a risk alert
reads their own back too). :func:`seal_directed` and :func:`open_directed` are the
only code that seals or opens one; the SDK's report, support and risk paths call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

from protocol import crypto
from protocol.encoding import canonical, from_msgpack
from protocol.errors import EnvelopeError
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
    SignedSupportRequest,
    SupportRequestBody,
    SupportRequestContent,
    SupportResealBody,
)
from protocol.signing import (
    sign_report,
    sign_risk_alert,
    sign_support_request,
    verify_report,
    verify_risk_alert,
    verify_support_request,
)

_Content = ReportContent | SupportRequestContent | RiskAlertContent

__all__ = ["open_directed", "seal_directed"]


def seal_directed(
    keys: RoomKeys,
    content: _Content,
    readers: Mapping[MemberId, bytes],
    *,
    rng: crypto.Rng = crypto.random_bytes,
) -> tuple[list[ReportSeal], bytes]:
    """Sign ``content`` as ``keys.member`` and seal it to ``readers``.

    Args:
        keys: The author's keys in the room (``content`` names ``keys.member``).
        content: What a report, a support request or a risk alert says.
        readers: Member id to X25519 public key, from the verified log; one seal
            each, in this order.
        rng: Source of the box key and nonce.

    Returns:
        The seals and the ciphertext of a ``ReportBody``, ``SupportRequestBody``,
        ``SupportResealBody`` or ``RiskAlertBody``.

    Raises:
        CryptoError: ``crypto.bad_key`` for a reader key nothing can be sealed to.
    """
    key = rng(crypto.KEY_BYTES)
    seals = [ReportSeal(member=m, box=crypto.seal(k, key)) for m, k in readers.items()]
    signed: SignedReport | SignedSupportRequest | SignedRiskAlert
    if isinstance(content, ReportContent):
        signed = sign_report(keys, content)
    elif isinstance(content, RiskAlertContent):
        signed = sign_risk_alert(keys, content)
    else:
        signed = sign_support_request(keys, content)
    return seals, crypto.secretbox_encrypt(key, canonical(signed), rng=rng)


@overload
def open_directed(keys: RoomKeys, sender: MemberId, body: ReportBody) -> ReportContent | None: ...


@overload
def open_directed(
    keys: RoomKeys, sender: MemberId, body: SupportRequestBody | SupportResealBody
) -> SupportRequestContent | None: ...


@overload
def open_directed(
    keys: RoomKeys, sender: MemberId, body: RiskAlertBody
) -> RiskAlertContent | None: ...


def open_directed(
    keys: RoomKeys,
    sender: MemberId,
    body: ReportBody | SupportRequestBody | SupportResealBody | RiskAlertBody,
) -> _Content | None:
    """The checked content of a directed message sealed to ``keys.member``.

    Args:
        keys: The reader's keys in the room.
        sender: The sender of the envelope that carried ``body``.
        body: A report, a support request, a support reseal or a risk alert.

    Returns:
        The signed content, or None if no seal names the reader (not theirs to read).

    Raises:
        CryptoError: ``crypto.unseal_failed`` / ``crypto.decrypt_failed``: a seal
            names the reader but does not open.
        DecodeError: The content does not decode.
        EnvelopeError: ``msg.bad_signature`` (not signed by its author) or
            ``msg.bad_room`` (its author is not ``sender``, it names another room, or
            it does not name the reader, who is not its author either).
    """
    seal = next((s for s in body.seals if s.member == keys.member), None)
    if seal is None:
        return None
    plain = crypto.secretbox_decrypt(crypto.unseal(keys.box, seal.box), body.ciphertext)
    if isinstance(body, ReportBody):
        report = from_msgpack(plain, SignedReport)
        verify_report(report)
        c = report.content
        if c.reporter != sender or c.room != keys.room or keys.member not in c.recipients:
            raise EnvelopeError("report names another reporter or room", code="msg.bad_room")
        return c
    if isinstance(body, RiskAlertBody):
        alert = from_msgpack(plain, SignedRiskAlert)
        verify_risk_alert(alert)
        a = alert.content
        if a.supporter != sender or a.room != keys.room:
            raise EnvelopeError("risk alert names another supporter or room", code="msg.bad_room")
        # The supporter seals to their own key too, to read it back on another device.
        if keys.member != sender and keys.member not in a.recipients:
            raise EnvelopeError("risk alert does not name us", code="msg.bad_room")
        return a
    request = from_msgpack(plain, SignedSupportRequest)
    verify_support_request(request)
    r = request.content
    if r.requester != sender or r.room != keys.room:
        raise EnvelopeError("support request names another requester or room", code="msg.bad_room")
    # The requester seals to their own key too, to read it back on another device.
    if keys.member != sender and keys.member not in r.recipients:
        raise EnvelopeError("support request does not name us", code="msg.bad_room")
    return r
