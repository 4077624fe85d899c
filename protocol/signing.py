"""Signing and checking the small signed statements of the protocol.

Room-log operations, invite proofs, delete requests and authentication answers are
each signed over ``CTX_* || canonical(content)`` with a context of their own, so a
signature made for one purpose is never valid for another.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from protocol import crypto
from protocol.api import AuthContent, InviteReadContent
from protocol.encoding import canonical
from protocol.errors import CryptoError, DecodeError, EnvelopeError, HearthError
from protocol.ids import MemberId, MessageId, RoomId, member_key
from protocol.keys import RoomKeys
from protocol.messages import (
    DeleteContent,
    DeleteRequest,
    EraseContent,
    EraseRequest,
    ReportContent,
    RiskAlertContent,
    SignedReport,
    SignedRiskAlert,
    SignedSupportRequest,
    SupportRequestContent,
)
from protocol.ops import InviteProof, OpBody, OpContent, SignedOp
from protocol.personal import PersonalKeys

__all__ = [
    "InviteKey",
    "canonical_origin",
    "sign_auth",
    "sign_delete",
    "sign_erase",
    "sign_op",
    "sign_report",
    "sign_risk_alert",
    "sign_support_request",
    "verify_auth",
    "verify_delete",
    "verify_erase",
    "verify_invite_read",
    "verify_report",
    "verify_risk_alert",
    "verify_support_request",
]


def sign_op(keys: RoomKeys, *, index: int, prev: bytes, at: int, body: OpBody) -> SignedOp:
    """Sign an operation of ``keys.room`` authored by ``keys.member``."""
    content = OpContent(
        room=keys.room, index=index, prev=prev, author=keys.member, at=at, body=body
    )
    return SignedOp(content=content, sig=keys.sign(crypto.CTX_OP, canonical(content)))


def sign_delete(
    keys: RoomKeys, *, target: MessageId, sender: MemberId, device: bytes, counter: int, at: int
) -> DeleteRequest:
    """A signed request to delete message ``target``.

    ``sender``, ``device`` and ``counter`` are the target's, as its envelope and
    plaintext say: they are the one counter gap the deletion excuses.
    """
    content = DeleteContent(
        room=keys.room,
        target=target,
        author=keys.member,
        at=at,
        sender=sender,
        device=device,
        counter=counter,
    )
    return DeleteRequest(content=content, sig=keys.sign(crypto.CTX_DELETE, canonical(content)))


def _verify_by_member(
    signer: MemberId, context: bytes, content: object, sig: bytes, refusal: str
) -> None:
    """Check ``sig`` over ``content`` by member key ``signer``; ``msg.bad_signature`` if not."""
    try:
        crypto.verify(member_key(signer), context, canonical(content), sig)
    except (CryptoError, DecodeError) as exc:
        raise EnvelopeError(refusal, code="msg.bad_signature") from exc


def verify_delete(request: DeleteRequest) -> None:
    """Check a delete request's signature (``msg.bad_signature``)."""
    _verify_by_member(
        request.content.author,
        crypto.CTX_DELETE,
        request.content,
        request.sig,
        "delete request is not signed by its author",
    )


def sign_erase(keys: RoomKeys, *, index: int, at: int) -> EraseRequest:
    """A member's signed request to erase its messages, after log index ``index``."""
    content = EraseContent(room=keys.room, member=keys.member, index=index, at=at)
    return EraseRequest(content=content, sig=keys.sign(crypto.CTX_ERASE, canonical(content)))


def verify_erase(request: EraseRequest) -> None:
    """Check an erase request's signature by the member it erases (``msg.bad_signature``)."""
    _verify_by_member(
        request.content.member,
        crypto.CTX_ERASE,
        request.content,
        request.sig,
        "erase request is not signed by its member",
    )


def sign_report(keys: RoomKeys, content: ReportContent) -> SignedReport:
    """Sign a report as its reporter (``content.reporter`` must be ``keys.member``)."""
    return SignedReport(content=content, sig=keys.sign(crypto.CTX_REPORT, canonical(content)))


def verify_report(report: SignedReport) -> None:
    """Check a report's signature by its reporter (``msg.bad_signature``)."""
    _verify_by_member(
        report.content.reporter,
        crypto.CTX_REPORT,
        report.content,
        report.sig,
        "report is not signed by its reporter",
    )


def sign_support_request(keys: RoomKeys, content: SupportRequestContent) -> SignedSupportRequest:
    """Sign a support request as its requester (``content.requester`` is ``keys.member``)."""
    return SignedSupportRequest(
        content=content, sig=keys.sign(crypto.CTX_SUPPORT, canonical(content))
    )


def verify_support_request(request: SignedSupportRequest) -> None:
    """Check a support request's signature by its requester (``msg.bad_signature``)."""
    _verify_by_member(
        request.content.requester,
        crypto.CTX_SUPPORT,
        request.content,
        request.sig,
        "support request is not signed by its requester",
    )


def sign_risk_alert(keys: RoomKeys, content: RiskAlertContent) -> SignedRiskAlert:
    """Sign a risk alert as its supporter (``content.supporter`` is ``keys.member``)."""
    return SignedRiskAlert(
        content=content, sig=keys.sign(crypto.CTX_RISK_ALERT, canonical(content))
    )


def verify_risk_alert(alert: SignedRiskAlert) -> None:
    """Check a risk alert's signature by its supporter (``msg.bad_signature``)."""
    _verify_by_member(
        alert.content.supporter,
        crypto.CTX_RISK_ALERT,
        alert.content,
        alert.sig,
        "risk alert is not signed by its supporter",
    )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_origin(url: str) -> str:
    """The origin a relay at ``url`` binds into challenges (docs/protocol.md 9.1).

    ``scheme://host[:port]``: scheme ``http`` or ``https`` and host in lower case (an
    IPv6 address in brackets), the port in decimal and only if it is not the
    scheme's default (80, 443), no user info, no trailing slash; path, query and
    fragment are dropped. A client compares the challenge's ``origin`` with this
    string of the URL it was configured with, character for character.

    Raises:
        HearthError: ``auth.bad_origin`` if ``url`` is not an http(s) URL with a host.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise HearthError(f"not an http(s) URL: {url!r}", code="auth.bad_origin") from exc
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or not host.isascii():
        raise HearthError(f"not an http(s) URL with an ASCII host: {url!r}", code="auth.bad_origin")
    if parts.username is not None or parts.password is not None:
        raise HearthError(f"an origin has no user info: {url!r}", code="auth.bad_origin")
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def sign_auth(
    keys: RoomKeys | PersonalKeys, *, origin: str, challenge: bytes, expires_at: int
) -> bytes:
    """Answer a relay's challenge for this room key (or personal-store key)."""
    content = AuthContent(
        origin=origin, challenge=challenge, key=keys.member, expires_at=expires_at
    )
    return keys.sign(crypto.CTX_AUTH, canonical(content))


def verify_auth(
    *, key: MemberId, origin: str, challenge: bytes, expires_at: int, sig: bytes
) -> None:
    """Check an answer to a challenge (``auth.bad_signature``)."""
    content = AuthContent(origin=origin, challenge=challenge, key=key, expires_at=expires_at)
    try:
        crypto.verify(member_key(key), crypto.CTX_AUTH, canonical(content), sig)
    except (CryptoError, DecodeError) as exc:
        raise HearthError("challenge answer does not verify", code="auth.bad_signature") from exc


def verify_invite_read(
    *, invite_key: bytes, room: RoomId, reader: MemberId, at: int, sig: bytes
) -> None:
    """Check an invite holder's request to read a room's log (``auth.bad_signature``)."""
    content = InviteReadContent(room=room, reader=reader, at=at)
    try:
        crypto.verify(invite_key, crypto.CTX_INVITE_READ, canonical(content), sig)
    except CryptoError as exc:
        raise HearthError("invite read request does not verify", code="auth.bad_signature") from exc


class InviteKey:
    """The key pair behind an invite link; its 32-byte secret travels in the URL fragment."""

    __slots__ = ("_signing", "public", "secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != crypto.KEY_BYTES:
            raise ValueError("an invite secret is 32 bytes")
        self.secret = secret
        self._signing = crypto.signing_key_from_seed(secret)
        self.public = bytes(self._signing.verify_key)

    @classmethod
    def generate(cls, rng: crypto.Rng = crypto.random_bytes) -> InviteKey:
        return cls(rng(crypto.KEY_BYTES))

    def prove(self, *, room: RoomId, index: int, joiner: MemberId, box_key: bytes) -> bytes:
        """Let ``joiner`` join ``room`` at log ``index`` with this invite."""
        proof = InviteProof(room=room, index=index, joiner=joiner, box_key=box_key)
        return crypto.sign(self._signing, crypto.CTX_INVITE, canonical(proof))

    def prove_read(self, *, room: RoomId, reader: MemberId, at: int) -> bytes:
        """Let ``reader`` read ``room``'s log before joining (``CTX_INVITE_READ``)."""
        content = InviteReadContent(room=room, reader=reader, at=at)
        return crypto.sign(self._signing, crypto.CTX_INVITE_READ, canonical(content))
