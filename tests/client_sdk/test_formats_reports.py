"""Reports to a room's moderators and supporters, against a real relay (issue 7, item 6).

A report is signed by the reporter (``CTX_REPORT``), carries the reported
message's original signed envelope as evidence, and is sealed to each chosen
member's X25519 key from the verified log: only they can read it; other members
and the relay cannot.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from client_sdk import Identity, MessageReceived, ReportError, ReportReceived
from protocol import verify_signature
from protocol.encoding import canonical
from protocol.errors import EnvelopeError
from protocol.messages import Envelope, ReportBody, ReportSeal
from tests.client_sdk.conftest import RelayProcess
from tests.client_sdk.test_client import OpenClient, Watcher, group_of_three, open_client, until

__all__ = ["open_client"]

REASON = b"he keeps messaging me about my drinking"


def test_the_report_tag_is_stable() -> None:
    body = ReportBody(seals=[ReportSeal(member="A" * 43, box=b"k" * 80)], ciphertext=b"x")
    decoded = msgspec.msgpack.decode(canonical(body))
    assert next(iter(decoded.items())) == ("type", "report")


async def test_only_moderators_and_supporters_read_a_report_and_verify_its_evidence(
    open_client: OpenClient, relay: RelayProcess
) -> None:
    (_a, _b, _c), (ra, rb, rc), (wa, wb, wc) = await group_of_three(open_client)
    d = await open_client(Identity.generate(), "d")
    wd = Watcher(d)
    rd = await d.join(await ra.create_invite())
    await until(lambda: _is(len(ra.members) == 4 and rd.rules is not None))
    await rd.accept_rules()
    offending = await rd.send("you should just drink less lol")
    await wc.wait(MessageReceived, lambda e: e.message.id == offending)
    await wa.wait(MessageReceived, lambda e: e.message.id == offending)  # a reports it next

    # With no moderator or supporter but the owner reporting, nobody could read it.
    with pytest.raises(ReportError) as nobody:
        await ra.report(offending, "test")
    assert nobody.value.code == "report.no_recipients"

    await ra.set_role(rb.me, "supporter")
    await until(lambda: _is(rc.members[rb.me] == "supporter"))
    report_id = await rc.report(offending, REASON.decode())

    for watcher, room in ((wa, ra), (wb, rb)):
        got = await watcher.wait(ReportReceived)
        assert got.report_id == report_id
        assert got.reporter == rc.me
        assert got.message_id == offending
        assert got.sender == rd.me
        assert got.reason == REASON.decode()
        assert got.text == "you should just drink less lol"
        assert set(got.recipients) == {ra.me, rb.me}
        assert got.room_id == room.id
        verify_signature(got.evidence)  # the offender's own signature
        forged = replace_ciphertext(got.evidence)
        with pytest.raises(EnvelopeError):
            verify_signature(forged)

    # The offender and the reporter see the report message pass, but cannot read it.
    marker = await ra.send("marker")
    await wd.wait(MessageReceived, lambda e: e.message.id == marker)
    await wc.wait(MessageReceived, lambda e: e.message.id == marker)
    await asyncio.sleep(0.2)
    assert not [e for e in wd.events if isinstance(e, ReportReceived)]
    assert not [e for e in wc.events if isinstance(e, ReportReceived)]
    assert report_id not in [m.id for m in await ra.messages(limit=100)]
    for room in (ra, rb, rc, rd):
        assert not room.alarms

    # Nor can the relay: the reason is nowhere in its database or log.
    raw = b"".join(p.read_bytes() for p in Path(relay.data_dir).rglob("*") if p.is_file())
    assert REASON not in raw
    assert b"drink less" not in raw


def replace_ciphertext(envelope: Envelope) -> Envelope:
    ciphertext = bytearray(envelope.ciphertext)
    ciphertext[0] ^= 1
    return msgspec.structs.replace(envelope, ciphertext=bytes(ciphertext))


async def _is(value: bool) -> bool:
    return value
