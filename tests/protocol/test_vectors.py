"""The JSON test vectors: rebuilt byte for byte, and each checked on its own.

Two independent guards. ``scripts/make_vectors.py`` rebuilds every file in memory
and must produce exactly what is checked in. And every vector is checked against
the protocol functions without the script (signatures re-verified, keys
re-derived, messages decrypted, logs folded, invalid logs refused with their
code), so an edit by hand, or a protocol change that alters canonical bytes, is
caught even if someone regenerates the files; the tamper test below shows each
check can fail.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    BUCKETS,
    ZERO_HASH,
    HearthError,
    MemberId,
    RoomId,
    RoomLog,
    RootSeed,
    SignedOp,
    b64url_encode,
    canonical,
    confirm_tag,
    crypto,
    derive_epoch_secret,
    from_json,
    member_key,
    message_key,
    op_hash,
    open_commit,
    open_history,
    open_message,
    room_fingerprint,
    safety_number,
    unpad,
)
from protocol.api import AuthContent, InviteReadContent
from protocol.counters import CounterTracker
from protocol.directed import open_directed
from protocol.encoding import from_msgpack
from protocol.messages import (
    Body,
    DeleteContent,
    Envelope,
    EnvelopeHeader,
    EraseContent,
    MemberProfileBody,
    Plaintext,
    ReportContent,
    RiskAlertBody,
    RiskAlertContent,
    RiskHelpBody,
    RiskPlanBody,
    SignedRiskAlert,
    SupportRequestContent,
    room_device_id,
)
from protocol.names import member_name, name_skeleton
from protocol.ops import Binding, Commit, GenesisStatement, InviteProof, OpContent
from protocol.personal import (
    LinkCode,
    LinkPayload,
    open_answer,
    open_hello,
    open_link,
    short_code,
)
from protocol.signing import canonical_origin

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_vectors", REPO / "scripts" / "make_vectors.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_vectors"] = module
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()
FILES = ("keys.json", "signatures.json", "epochs.json", "messages.json")
FILES += ("logs_valid.json", "logs_invalid.json", "counters.json", "risk.json", "names.json")
RISK_CONTEXTS = {"CTX_RISK_ALERT"}
"""Contexts whose vectors are in risk.json (added after signatures.json, which stays as it was)."""


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def decode(value: Any, kind: Any) -> Any:
    return from_json(json.dumps(value), kind)


# -- regeneration ------------------------------------------------------------------------


def test_the_files_are_exactly_what_the_script_builds() -> None:
    built = SCRIPT.build()
    assert sorted(built) == sorted(FILES)
    assert sorted(p.name for p in VECTORS.glob("*.json")) == sorted(FILES)
    for name, content in built.items():
        assert SCRIPT.render(content) == (VECTORS / name).read_text(encoding="utf-8"), name


def test_the_script_checks_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SCRIPT, "VECTORS", tmp_path)
    assert SCRIPT.main([]) == 1  # nothing there yet
    assert SCRIPT.main(["--write"]) == 0
    assert SCRIPT.main([]) == 0
    path = tmp_path / "keys.json"
    path.write_text(path.read_text().replace('"phrase": "', '"phrase": "0', 1))
    assert SCRIPT.main([]) == 1


def test_the_rng_is_the_documented_stream() -> None:
    import hashlib  # noqa: PLC0415 - only this test rebuilds the stream by hand

    rng = SCRIPT.DetRng("label")
    first = hashlib.blake2b(
        (0).to_bytes(8, "big"), key=b"label", person=b"hearth-vectors", digest_size=64
    ).digest()
    second = hashlib.blake2b(
        (1).to_bytes(8, "big"), key=b"label", person=b"hearth-vectors", digest_size=64
    ).digest()
    assert rng(10) + rng(60) + rng(58) == first + second


def test_the_deterministic_seal_opens_like_crypto_box_seal() -> None:
    box = crypto.box_keypair_from_seed(bytes(range(32)))
    sealed = SCRIPT.seal_with(crypto.box_public(box), b"commit secret", b"\x05" * 32)
    assert crypto.unseal(box, sealed) == b"commit secret"


# -- independent checks --------------------------------------------------------------------


def check_keys(doc: dict[str, Any]) -> None:
    for vector in doc["vectors"]:
        seed = RootSeed(h(vector["root_seed"]))
        assert seed.phrase == vector["phrase"]
        assert RootSeed.from_phrase(vector["phrase"]).secret == seed.secret
        for entry in vector["rooms"]:
            room = RoomId(entry["room"])
            sign_seed = crypto.kdf(seed.secret, room.encode(), person=crypto.PERSON_ROOM_SIGN)
            box_seed = crypto.kdf(seed.secret, room.encode(), person=crypto.PERSON_ROOM_BOX)
            public = bytes(crypto.signing_key_from_seed(sign_seed).verify_key)
            assert public == h(entry["ed25519_public"])
            assert member_key(entry["member"]) == public
            assert crypto.box_public(crypto.box_keypair_from_seed(box_seed)) == h(
                entry["x25519_public"]
            )
            statement = Binding(
                room=room, member=entry["member"], box_key=h(entry["x25519_public"])
            )
            assert canonical(statement) == h(entry["binding_payload"])
            crypto.verify(
                public, crypto.CTX_BINDING, canonical(statement), h(entry["binding_signature"])
            )
    for entry in doc["genesis"]:
        seed, nonce = h(entry["root_seed"]), h(entry["nonce"])
        genesis_seed = crypto.kdf(seed, nonce, person=crypto.PERSON_GENESIS)
        assert genesis_seed == h(entry["genesis_ed25519_seed"])
        public = bytes(crypto.signing_key_from_seed(genesis_seed).verify_key)
        assert public == h(entry["genesis_ed25519_public"])
        digest = crypto.blake2b(public + nonce, person=crypto.PERSON_ROOM_ID, size=24)
        assert b64url_encode(digest) == entry["room"] == RootSeed(seed).genesis(nonce).room
        assert RootSeed(seed).room_keys(entry["room"]).member == entry["creator"]
        statement = GenesisStatement(room=entry["room"], creator=entry["creator"])
        assert canonical(statement) == h(entry["statement_payload"])
        crypto.verify(public, crypto.CTX_GENESIS, canonical(statement), h(entry["signature"]))
    for entry in doc["safety_numbers"]:
        a = (MemberId(entry["a"]["member"]), h(entry["a"]["x25519_public"]))
        b = (MemberId(entry["b"]["member"]), h(entry["b"]["x25519_public"]))
        assert safety_number(entry["room"], a, b) == entry["digits"]
        assert safety_number(entry["room"], b, a) == entry["digits"]
        if "sorted_first" in entry:  # a tie-break case: the written rule, by hand
            first, second = (b, a) if entry["sorted_first"] == "b" else (a, b)
            assert (first[0].encode(), first[1]) < (second[0].encode(), second[1])
            data = entry["room"].encode() + b"".join(m.encode() + k for m, k in (first, second))
            assert (
                _digit_groups(crypto.blake2b(data, person=b"hearth-safety", size=60))
                == (entry["digits"])
            )
    for entry in doc["room_fingerprints"]:
        room, index, head = entry["room"], entry["index"], h(entry["head"])
        data = room.encode() + index.to_bytes(8, "big") + head
        digest = crypto.blake2b(data, person=b"hearth-room-fp", size=60)
        assert _digit_groups(digest) == entry["digits"]
        assert room_fingerprint(room, index, head) == entry["digits"]
    check_device_link(doc["device_link"])


def _digit_groups(digest: bytes) -> str:
    """Each 5-byte chunk, big-endian, modulo 100 000, as 5 digits; groups joined by spaces."""
    chunks = [digest[i : i + 5] for i in range(0, len(digest), 5)]
    return " ".join(f"{int.from_bytes(c, 'big') % 100_000:05d}" for c in chunks)


def check_device_link(v: dict[str, Any]) -> None:
    code = LinkCode.parse(v["code"])
    assert code.secret == h(v["secret"])
    for seed in (h(v["hello_seed"]), h(v["answer_seed"])):
        # Written clamped: a bit X25519 ignores must not pass unnoticed when edited.
        assert seed[0] & 7 == 0
        assert seed[31] & 0xC0 == 0x40
    hello = crypto.box_keypair_from_seed(h(v["hello_seed"]))
    answer = crypto.box_keypair_from_seed(h(v["answer_seed"]))
    assert crypto.box_public(hello) == h(v["hello_public"])
    assert crypto.box_public(answer) == h(v["answer_public"])
    assert (code.rendezvous, code.answer_rendezvous, code.root_rendezvous) == (
        v["hello_id"],
        v["answer_id"],
        v["root_id"],
    )
    assert code.key() == h(v["code_key"])
    assert crypto.box_shared(answer, h(v["hello_public"])) == h(v["shared"])
    assert short_code(code, h(v["hello_public"]), h(v["answer_public"])) == v["short_code"]
    assert open_hello(code, h(v["hello_box"])).box_key == h(v["hello_public"])
    assert open_answer(code, h(v["answer_box"])).box_key == h(v["answer_public"])
    payload = open_link(code, h(v["root_box"]), answer=answer, hello_key=h(v["hello_public"]))
    assert payload == decode(v["payload"], LinkPayload)
    assert len(h(v["root_box"])) == 24 + 8192 + 16


PAYLOAD_TYPES: dict[str, Any] = {
    "OpContent": OpContent,
    "Binding": Binding,
    "GenesisStatement": GenesisStatement,
    "InviteProof": InviteProof,
    "InviteReadContent": InviteReadContent,
    "DeleteContent": DeleteContent,
    "EraseContent": EraseContent,
    "AuthContent": AuthContent,
    "ReportContent": ReportContent,
    "SupportRequestContent": SupportRequestContent,
    "RiskAlertContent": RiskAlertContent,
}


def check_signatures(doc: dict[str, Any]) -> None:
    contexts = {n for n in crypto.__all__ if n.startswith("CTX_")} - {"CTX_MSG_AD"}
    assert {v["context"] for v in doc["vectors"]} == contexts - RISK_CONTEXTS
    _check_signed(doc["vectors"])
    assert {"origin", "error"} == {k for o in doc["origins"] for k in o} - {"url"}
    _check_origins(doc)


def _check_signed(vectors: list[dict[str, Any]]) -> None:
    for v in vectors:
        context = getattr(crypto, v["context"])
        assert h(v["context_hex"]) == context
        signed = h(v["signed_bytes"])
        assert signed.startswith(context)
        payload = signed[len(context) :]
        if v["context"] == "CTX_MSG":
            header = canonical(decode(v["json"], EnvelopeHeader))
            assert payload.startswith(header)
            assert len(payload) - len(header) - crypto.AEAD_TAG_BYTES in BUCKETS
        else:
            assert canonical(decode(v["json"], PAYLOAD_TYPES[v["type"]])) == payload
        crypto.verify(h(v["public_key"]), context, payload, h(v["signature"]))


def _check_origins(doc: dict[str, Any]) -> None:
    for o in doc["origins"]:
        if "origin" in o:
            assert canonical_origin(o["url"]) == o["origin"]
        else:
            with pytest.raises(HearthError) as caught:
                canonical_origin(o["url"])
            assert caught.value.code == o["error"]


def check_epochs(doc: dict[str, Any]) -> None:
    for d in doc["derivations"]:
        secret = derive_epoch_secret(h(d["commit_secret"]), d["room"], d["epoch"], h(d["prev"]))
        assert secret == h(d["epoch_secret"])
        assert confirm_tag(secret) == h(d["confirm"])
        assert message_key(secret) == h(d["message_key"])
    c = doc["commit"]
    commit = decode(c["json"], Commit)
    secret = derive_epoch_secret(h(c["commit_secret"]), c["room"], c["epoch"], h(c["prev"]))
    assert secret == h(c["epoch_secret"])
    assert commit.epoch == c["epoch"]
    assert commit.confirm == confirm_tag(secret)
    assert [s.member for s in commit.shares] == sorted(r["member"] for r in c["recipients"])
    for r in c["recipients"]:
        keys = RootSeed(h(r["root_seed"])).room_keys(c["room"])
        assert (keys.member, keys.box_public) == (r["member"], h(r["x25519_public"]))
        assert open_commit(commit, prev=h(c["prev"]), keys=keys) == secret
        share = next(s for s in commit.shares if s.member == keys.member)
        assert crypto.unseal(keys.box, share.sealed) == h(c["commit_secret"])
    # The ephemeral keys are recorded only so the file rebuilds; check them too.
    for share, seed in zip(commit.shares, c["ephemeral_seeds"], strict=True):
        public = next(h(r["x25519_public"]) for r in c["recipients"] if r["member"] == share.member)
        assert SCRIPT.seal_with(public, h(c["commit_secret"]), h(seed)) == share.sealed
    # The vector's earlier secrets are standalone (no log), so their confirmation
    # tags come from the vector itself.
    confirms = {int(e): confirm_tag(h(s)) for e, s in c["history"].items()}
    history = open_history(commit, room=c["room"], epoch_secret=secret, confirms=confirms)
    assert {str(e): s.hex() for e, s in history.items()} == c["history"]


def check_messages(doc: dict[str, Any]) -> None:
    for v in doc["vectors"]:
        envelope = decode(v["envelope"], Envelope)
        keys = RootSeed(h(v["sender_root_seed"])).room_keys(v["room"])
        header = canonical(envelope.header)
        assert envelope.header == decode(v["header"], EnvelopeHeader)
        assert (envelope.header.sender, envelope.header.room) == (keys.member, v["room"])
        assert header == h(v["header_canonical"])
        assert h(v["associated_data"]) == crypto.CTX_MSG_AD + header
        assert envelope.header.nonce == h(v["nonce"])
        assert envelope.ciphertext == h(v["ciphertext"])
        assert envelope.sig == h(v["signature"])
        key = message_key(h(v["epoch_secret"]))
        assert key == h(v["key"])
        padded = crypto.aead_decrypt(
            key, h(v["nonce"]), h(v["ciphertext"]), h(v["associated_data"])
        )
        assert padded == h(v["padded"])
        assert len(padded) in BUCKETS
        plaintext = decode(v["plaintext"], Plaintext)
        assert plaintext.device == room_device_id(h(v["device_secret"]), v["room"])
        assert unpad(padded) == canonical(plaintext) == h(v["plaintext_canonical"])
        assert h(v["signed_bytes"]) == crypto.CTX_MSG + header + envelope.ciphertext
        crypto.verify(
            member_key(keys.member), crypto.CTX_MSG, header + envelope.ciphertext, envelope.sig
        )
        assert open_message(envelope, epoch_secret=h(v["epoch_secret"])) == plaintext


def check_names(doc: dict[str, Any]) -> None:
    check_messages(doc)
    profiles = [decode(v["plaintext"], Plaintext).body for v in doc["vectors"]]
    assert profiles
    assert all(isinstance(body, MemberProfileBody) for body in profiles)
    accepted = 0
    for case in doc["names"]:
        raw, nfc = h(case["input"]).decode("utf-8"), h(case["nfc"]).decode("utf-8")
        assert unicodedata.normalize("NFC", raw) == nfc, raw
        try:
            assert member_name(raw) == nfc, raw
        except ValueError:
            assert not case["accepted"], raw
        else:
            assert case["accepted"], raw
            accepted += 1
    assert 0 < accepted < len(doc["names"])  # both outcomes are exercised
    for case in doc["skeletons"]:
        name = h(case["name"]).decode("utf-8")
        assert name_skeleton(name) == h(case["skeleton"]).decode("utf-8"), name


def _state(log: RoomLog) -> dict[str, Any]:
    return {
        "room": log.room,
        "index": log.index,
        "head": log.head.hex(),
        "fingerprint": room_fingerprint(log.room, log.index, log.head),
        "epoch": log.epoch,
        "needs_rotation": log.needs_rotation,
        "policy": json.loads(json.dumps(_plain(log.policy))),
        "members": [
            {"id": m.id, "role": m.role, "box_key": m.box_key.hex()}
            for m in sorted(log.members.values(), key=lambda m: m.id)
        ],
        "invites": [
            {
                "key": i.key.hex(),
                "role": i.role,
                "max_uses": i.max_uses,
                "uses": i.uses,
                "expires_at": i.expires_at,
                "created_by": i.created_by,
                "revoked": i.revoked,
            }
            for i in sorted(log.invites.values(), key=lambda i: i.key)
        ],
        "banned": [
            {"member": x.member, "by": x.by, "role": x.role, "index": x.index}
            for x in sorted(log.banned.values(), key=lambda x: x.member)
        ],
    }


def _plain(policy: Any) -> dict[str, Any]:
    fields = ("kind", "invite_role", "share_history", "max_members", "retention_days")
    return {f: getattr(policy, f) for f in fields}


def check_logs_valid(doc: dict[str, Any]) -> None:
    people = {name: RootSeed(h(seed)) for name, seed in doc["people"].items()}
    opened: set[str] = set()
    for entry in doc["logs"]:
        ops = [decode(o["json"], SignedOp) for o in entry["ops"]]
        for op, o in zip(ops, entry["ops"], strict=True):
            assert canonical(op) == h(o["canonical"])
            assert op_hash(op) == h(o["hash"])
        log = RoomLog.from_ops(ops)
        assert _state(log) == entry["state"]
        names = {seed.room_keys(log.room).member: name for name, seed in people.items()}
        secrets = {int(e): h(s) for e, s in entry["epoch_secrets"].items()}
        assert sorted(secrets) == list(range(1, log.epoch + 1))
        for index, op in enumerate(ops):
            commit = getattr(op.content.body, "commit", None)
            if commit is None:
                continue
            prev = log.hash_at(index - 1) if index else ZERO_HASH
            for share in commit.shares:
                name = names[share.member]
                secret = open_commit(commit, prev=prev, keys=people[name].room_keys(log.room))
                assert secret == secrets[commit.epoch]
                opened.add(name)
                if commit.history is not None:
                    history = open_history(
                        commit, room=log.room, epoch_secret=secret, confirms=log.confirms
                    )
                    assert history == {e: secrets[e] for e in range(1, commit.epoch)}
    assert opened == set(people)  # every listed root is checked somewhere


def check_logs_invalid(doc: dict[str, Any]) -> None:
    for case in doc["cases"]:
        log = RoomLog.from_ops(decode(o, SignedOp) for o in case["log"])
        assert _refusal(log, decode(case["op"], SignedOp)) == case["code"], case["name"]


def _refusal(log: RoomLog, op: SignedOp) -> str | None:
    """The code ``log`` refuses ``op`` with; None if it accepts it."""
    try:
        log.append(op)
    except HearthError as exc:
        return exc.code
    return None


def check_counters(doc: dict[str, Any]) -> None:
    for case in doc["cases"]:
        tracker = CounterTracker()
        error = None
        for i, step in enumerate(case["steps"]):
            sender, device = MemberId(step["sender"]), h(step["device"])
            try:
                if step["op"] == "observe":
                    tracker.observe(sender, device, step["counter"])
                elif step["op"] == "excuse":
                    tracker.excuse(sender, device, step["counter"])
                else:
                    assert step["op"] == "raise_floor"
                    tracker.raise_floor(sender, device, step["floor"])
            except HearthError as exc:
                error = {"step": i, "code": exc.code}
            assert tracker.floor(sender, device) == step["floor_after"], case["name"]
            assert tracker.highest(sender, device) == step["highest_after"], case["name"]
            if error is not None:
                break
        assert error == case["error"], case["name"]
        gaps = [[s, d.hex(), c] for (s, d), cs in sorted(tracker.gaps().items()) for c in cs]
        assert gaps == case["gaps"], case["name"]
        floors = [[s, d.hex(), tracker.floor(s, d)] for s, d in sorted(tracker.streams())]
        assert floors == case["floors"], case["name"]


def check_risk(doc: dict[str, Any]) -> None:
    kinds = {"program.risk_plan": RiskPlanBody, "support.risk": RiskHelpBody}
    kinds["support.alert"] = RiskAlertBody
    assert [b["type"] for b in doc["bodies"]] == list(kinds)
    bodies = {}
    for b in doc["bodies"]:
        body = decode(b["json"], Body)
        assert isinstance(body, kinds[b["type"]])
        assert canonical(body) == h(b["canonical"])
        bodies[b["type"]] = body
    plan, shown = bodies["program.risk_plan"], bodies["support.risk"]
    assert (shown.text, shown.lines) == (plan.text, plan.lines)
    assert {v["context"] for v in doc["signatures"]} == RISK_CONTEXTS
    _check_signed(doc["signatures"])
    content = decode(doc["signatures"][0]["json"], RiskAlertContent)

    a = doc["alert"]
    alert = bodies["support.alert"]
    key = h(a["key"])
    signed = crypto.secretbox_decrypt(key, alert.ciphertext)
    assert signed == h(a["signed_canonical"])
    assert from_msgpack(signed, SignedRiskAlert).content == content
    assert [s.member for s in alert.seals] == [r["member"] for r in a["readers"]]
    for r, seal in zip(a["readers"], alert.seals, strict=True):
        keys = RootSeed(h(r["root_seed"])).room_keys(a["room"])
        assert (keys.member, keys.box_public) == (r["member"], h(r["x25519_public"]))
        assert crypto.unseal(keys.box, seal.box) == key
        assert SCRIPT.seal_with(keys.box_public, key, h(r["ephemeral_seed"])) == seal.box
        assert open_directed(keys, a["sender"], alert) == content
    outsider = RootSeed(h(a["non_reader"]["root_seed"])).room_keys(a["room"])
    assert outsider.member == a["non_reader"]["member"] == content.member
    assert open_directed(outsider, a["sender"], alert) is None


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "keys.json": check_keys,
    "signatures.json": check_signatures,
    "epochs.json": check_epochs,
    "messages.json": check_messages,
    "logs_valid.json": check_logs_valid,
    "logs_invalid.json": check_logs_invalid,
    "counters.json": check_counters,
    "risk.json": check_risk,
    "names.json": check_names,
}


@pytest.mark.parametrize("name", FILES)
def test_each_vector_checks_out_against_the_protocol(name: str) -> None:
    CHECKS[name](load(name))


def test_invalid_logs_cover_every_required_refusal() -> None:
    codes = {case["code"] for case in load("logs_invalid.json")["cases"]}
    assert codes >= {
        "log.bad_signature",
        "log.bad_index",
        "log.bad_prev",
        "log.unauthorized",
        "log.not_member",
        "log.bad_commit",
        "log.bad_invite",
        "log.bad_binding",
        "log.room_full",
        "log.replay",
        "log.fork",
    }


# -- the checks can fail ---------------------------------------------------------------------

_HEX = re.compile(r"^(?:[0-9a-f]{2})+$")


def _hex_leaves(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _hex_leaves(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _hex_leaves(v, (*path, i))
    elif isinstance(doc, str) and len(doc) >= 16 and _HEX.match(doc):
        yield path


DOCS = {name: load(name) for name in FILES}
LEAVES = {name: list(_hex_leaves(doc)) for name, doc in DOCS.items()}


@pytest.mark.parametrize("name", FILES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_a_hand_edited_byte_is_caught(name: str, data: st.DataObject) -> None:
    leaves = LEAVES[name] or [None]
    path = data.draw(st.sampled_from(leaves), label="path")
    if path is None:  # logs_invalid.json holds wire JSON only: edit the expected code
        doc = copy.deepcopy(DOCS[name])
        doc["cases"][data.draw(st.integers(0, len(doc["cases"]) - 1))]["code"] = "log.invalid!"
    else:
        doc = copy.deepcopy(DOCS[name])
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        text = parent[path[-1]]
        i = data.draw(st.integers(0, len(text) - 1), label="nibble")
        parent[path[-1]] = text[:i] + format(int(text[i], 16) ^ 1, "x") + text[i + 1 :]
    with pytest.raises((AssertionError, HearthError, KeyError, ValueError)):
        CHECKS[name](doc)
