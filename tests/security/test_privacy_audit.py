"""Privacy audit: after a realistic session the relay's disk and logs hold no plaintext.

A real ``hearth serve`` (its own process, SQLite in a temporary data directory,
logging at ``debug``) hosts a scripted session through the public SDK: two
groups and a buddy chat with names, topics, descriptions and rules, members with
display names (``member.profile``, set before and after others join, so they are
re-sent to newcomers) and messages that carry name-like texts, replies, edits, reactions, rules
acceptances, a removal, a leave, deletions, a community program (a support
request sealed to its supporter, the claim, and the buddy chat it opens, where
both talk), and an attachment whose plaintext we
know (the SDK has no attachment API yet, so the test encrypts it as an app would
and uploads the ciphertext over HTTP). Then every file under the data directory
(main database, ``-wal``, ``-shm``, blobs) and the relay's stdout and stderr are
searched for every plaintext string, in UTF-8, UTF-16 (both byte orders) and
base64 (standard and URL-safe, at each of the three alignments), and for the
client's address.

The relay listens on 127.0.0.2 so that its own "listening on" line does not
contain the address the clients connect from (127.0.0.1).

Schedules and reports are not in the protocol yet (issue 7): when they land, add
their texts to ``SECRETS`` here.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nacl.secret
import nacl.utils
import pytest

from client_sdk import HearthClient, Identity, Room
from protocol.messages import ReactionBody
from server.cli import _RedactAddresses
from tests.client_sdk.conftest import RelayProcess
from tests.server.helpers import login

CLIENT_ADDRESS = "127.0.0.1"
RELAY_HOST = "127.0.0.2"

GROUP_NAME = "Sunflower anxiety circle"
GROUP_TOPIC = "Panic attacks at the office, Tuesdays"
GROUP_DESCRIPTION = "A quiet corner for people living with panic disorder"
GROUP_RULES = "Rule one: what is shared in the circle stays in the circle."
NEW_RULES = "Rule two: no advice about medication doses, ever."
SECOND_NAME = "Sober since spring"
SECOND_TOPIC = "Alcohol relapse prevention for nurses"
BUDDY_NAME = "Marguerite and Oskar check-ins"
TEXTS = [
    "Hi everyone, I'm Marguerite Okonkwo-Lindqvist, first time here",
    "Welcome Marguerite! I'm Oskar from Tampere, diagnosed last winter",
    "My therapist Dr. Henriksdottir says the breathing exercise helps",
    "I had a panic attack on the number 14 tram this morning",
    "Relapsed after 93 days, feeling ashamed about it",
    "Deleting this later: my employer is Northwind Hospital ward 7B",
    "Edited: actually it was the number 41 tram, not the 14",
    "Thank you Oskar, that genuinely helped tonight",
    "Anyone up? Can't sleep, heart racing since 3am",
]
CONTENT_WARNING = "mentions self-harm urges"
REACTION = "\U0001fac2 hugging-face-solidarity"
PROGRAM_NAME = "Night-shift nurses peer programme"
SUPPORT_TEXT = "I keep thinking about the patient we lost on Sunday and can't sleep"
SUPPORT_CHAT = "Thank you for picking this up, Ines here, the Sunday thing again"
DISPLAY_NAME = "Marguerite O.-L. (she/her)"
SECOND_DISPLAY_NAME = "Oskar from Tampere"
ATTACHMENT = b"Scanned letter: Marguerite's sick note from Dr. Henriksdottir, 12 March"

SECRETS: list[str | bytes] = [
    GROUP_NAME,
    GROUP_TOPIC,
    GROUP_DESCRIPTION,
    GROUP_RULES,
    NEW_RULES,
    SECOND_NAME,
    SECOND_TOPIC,
    BUDDY_NAME,
    PROGRAM_NAME,
    SUPPORT_TEXT,
    SUPPORT_CHAT,
    CONTENT_WARNING,
    REACTION,
    ATTACHMENT,
    DISPLAY_NAME,
    SECOND_DISPLAY_NAME,
    *TEXTS,
]


def _forms(secret: str | bytes) -> Iterator[tuple[str, bytes]]:
    """Every encoding of ``secret`` the audit looks for."""
    raw = secret if isinstance(secret, bytes) else secret.encode()
    yield "utf-8", raw
    if isinstance(secret, str):
        yield "utf-16-le", secret.encode("utf-16-le")
        yield "utf-16-be", secret.encode("utf-16-be")
    for shift in range(3):
        # base64 of the string at every alignment inside a larger value: encode with
        # ``shift`` leading bytes, then keep only the characters the secret alone fixes.
        encoded = base64.b64encode(b"\0" * shift + raw)
        start = {0: 0, 1: 2, 2: 3}[shift]
        end = len(encoded) - encoded.count(b"=") - (1 if (shift + len(raw)) % 3 else 0)
        core = encoded[start:end]
        yield f"base64+{shift}", core
        yield f"base64url+{shift}", core.replace(b"+", b"-").replace(b"/", b"_")


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data, host=RELAY_HOST, log_level="debug")
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)


async def _wait_for(client: HearthClient, room: Room, text: str) -> None:
    async with asyncio.timeout(15):
        while not any(m.text == text for m in await room.messages(limit=100)):
            await client.sync()
            await asyncio.sleep(0.05)


async def _session(relay: RelayProcess, tmp_path: Path) -> None:
    marguerite, oskar, ines = Identity.generate(), Identity.generate(), Identity.generate()
    async with (
        HearthClient(relay.url, marguerite, store_path=tmp_path / "m.db") as m,
        HearthClient(relay.url, oskar, store_path=tmp_path / "o.db") as o,
        HearthClient(relay.url, ines, store_path=tmp_path / "i.db") as i,
    ):
        circle = await m.create_group(
            GROUP_NAME, topic=GROUP_TOPIC, description=GROUP_DESCRIPTION, rules=GROUP_RULES
        )
        await circle.set_name(DISPLAY_NAME)  # re-sent to each newcomer below
        link = await circle.create_invite(max_uses=5)
        o_circle = await o.join(link)
        await o_circle.set_name(SECOND_DISPLAY_NAME)
        i_circle = await i.join(link)
        await o_circle.accept_rules()
        await i_circle.accept_rules()  # posting waits for the ground rules

        first = await circle.send(TEXTS[0])
        await _wait_for(o, o_circle, TEXTS[0])
        await o_circle.send(TEXTS[1], reply_to=first)
        await o_circle.send(TEXTS[2], content_warning=CONTENT_WARNING)
        tram = await circle.send(TEXTS[3])
        await circle.edit(tram, TEXTS[6])
        doomed = await i_circle.send(TEXTS[5])
        await i_circle.delete(doomed)
        await o._driver(o_circle.id).send(ReactionBody(target=first, emoji=REACTION))
        await circle.set_rules(NEW_RULES)
        await circle.remove(i_circle.me)
        await circle.send(TEXTS[7])
        await _wait_for(o, o_circle, TEXTS[7])

        # An attachment: the app encrypts it and uploads only the ciphertext.
        key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
        sealed = nacl.secret.SecretBox(key).encrypt(ATTACHMENT)
        async with httpx.AsyncClient(base_url=relay.url) as http:
            token = (await login(http, marguerite.room_keys(circle.id), create=False)).token
            r = await http.post(
                f"/v1/rooms/{circle.id}/blobs",
                content=bytes(sealed),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/octet-stream",
                },
            )
            assert r.status_code == 201, r.text
            blob = r.json()["id"]
            r = await http.get(
                f"/v1/rooms/{circle.id}/blobs/{blob}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.content == bytes(sealed)
        await circle.send(f"attachment {blob} key {base64.b64encode(key).decode()}")

        sober = await o.create_group(SECOND_NAME, topic=SECOND_TOPIC)
        m_sober = await m.join(await sober.create_invite())
        await m_sober.send(TEXTS[4])
        await sober.send(TEXTS[8])
        await m_sober.leave()

        buddy = await m.create_buddy_chat(BUDDY_NAME)
        o_buddy = await o.join(await buddy.create_invite())
        await o_buddy.send(TEXTS[7] + " (buddy)")
        await _wait_for(m, buddy, TEXTS[7] + " (buddy)")

        # A community program: Ines asks Marguerite (a supporter) for a 1:1 chat.
        program = await o.create_program(PROGRAM_NAME)
        m_program = await m.join(await program.create_invite(role="supporter"))
        i_program = await i.join(await program.create_invite())
        await m_program.set_availability(True, max_open=2)
        await i.sync()
        request = await i_program.request_support(SUPPORT_TEXT)
        await m.sync()
        assert m_program.support_request(request.id).text == SUPPORT_TEXT
        m_chat = await m_program.claim(request.id)
        await i.sync()
        i_chat = await i_program.buddy_chat(request.id)
        await i_chat.send(SUPPORT_CHAT)
        await _wait_for(m, m_chat, SUPPORT_CHAT)

        # The session really happened: the members read what was said.
        said = [x.text for x in await o_circle.messages(limit=100)]
        assert {TEXTS[0], TEXTS[6], TEXTS[7]} <= set(said)
        assert (o_circle.name, o_circle.rules) == (GROUP_NAME, NEW_RULES)
        assert o_circle.member(circle.me).name == DISPLAY_NAME
        assert circle.member(o_circle.me).name == SECOND_DISPLAY_NAME


async def test_relay_disk_and_logs_hold_no_plaintext(relay: RelayProcess, tmp_path: Path) -> None:
    await _session(relay, tmp_path)

    def snapshot(when: str) -> dict[str, bytes]:
        files = sorted(p for p in relay.data_dir.rglob("*") if p.is_file())
        return {f"{p.relative_to(relay.data_dir)} ({when})": p.read_bytes() for p in files}

    # The files as a thief imaging the running machine finds them (the WAL holds the
    # newest pages), then as a kill -9 leaves them (no checkpoint), then after a
    # clean stop (everything checkpointed into the main file).
    haystacks = snapshot("running")
    relay.kill()
    haystacks.update(snapshot("killed"))
    await asyncio.to_thread(relay.start)
    await asyncio.to_thread(relay.stop)
    haystacks.update(snapshot("stopped"))
    names = {name.split(" ")[0] for name in haystacks}
    assert {"hearth.db", "hearth.db-wal", "hearth.db-shm"} <= names, names
    haystacks["relay log (stdout+stderr)"] = relay.log.read_bytes()
    assert sum(len(h) for h in haystacks.values()) > 10_000
    print(
        "privacy audit:",
        len(SECRETS),
        "secrets,",
        {where: len(data) for where, data in haystacks.items()},
    )

    hits = [
        (where, form, secret)
        for secret in [*SECRETS, CLIENT_ADDRESS]
        for form, needle in _forms(secret)
        for where, data in haystacks.items()
        if needle in data
    ]
    assert hits == []


def test_audit_finds_what_it_looks_for() -> None:
    """The search itself works: each form of a secret is found where it was written."""
    for secret in (GROUP_NAME, REACTION, ATTACHMENT, "ab", "abc"):
        raw = secret if isinstance(secret, bytes) else secret.encode()
        forms = dict(_forms(secret))
        for shift in range(3):
            for suffix in (b"", b"z", b"zz"):
                value = b"p" * shift + raw + suffix
                assert forms[f"base64+{shift}"] in base64.b64encode(value)
                assert forms[f"base64url+{shift}"] in base64.urlsafe_b64encode(value)
        if isinstance(secret, str):
            assert forms["utf-16-le"] in ("[" + secret + "]").encode("utf-16-le")


@pytest.mark.parametrize(
    ("message", "args"),
    [
        ('%s:%d - "WebSocket /v1/stream" [accepted]', ("127.0.0.1", 58308)),
        ("%s - Connected", (("::1", 5),)),
        ("peer [2001:db8::1]:443 went away", ()),
        ("peer 10.20.30.40 went away", ()),
    ],
)
def test_relay_log_lines_never_carry_an_address(message: str, args: tuple[object, ...]) -> None:
    """Whatever a library logs at whatever level, the relay's handler redacts IP addresses."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, message, args, None)
    assert _RedactAddresses().filter(record)
    line = record.getMessage()
    assert "<address>" in line
    for address in ("127.0.0.1", "::1", "2001:db8::1", "10.20.30.40"):
        assert address not in line
