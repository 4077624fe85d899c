"""Build Hearth's protocol test vectors, deterministically, into tests/vectors/*.json.

Usage::

    python scripts/make_vectors.py           # exit 1 if the files differ from a rebuild
    python scripts/make_vectors.py --write   # rewrite the files (``make vectors``)

Every random input comes from :class:`DetRng`, a counter-mode BLAKE2b stream keyed
by a label, passed as the ``rng=`` parameter of the protocol functions; one label
per vector, so adding a vector never shifts another. Bytes are lowercase hex,
except inside ``json`` members, which hold wire values exactly as the relay and
clients exchange them (msgspec JSON, bytes as padded standard base64).

Sealed boxes are the one thing the protocol cannot make deterministic:
``crypto_box_seal`` draws its ephemeral key inside libsodium. Here shares are
sealed with :func:`seal_with`, the same construction with the ephemeral key taken
from a recorded seed, so a rebuild gives the same bytes; another implementation
checks a share by opening it, not by sealing it again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import nacl.bindings

from protocol import (
    ZERO_HASH,
    HearthError,
    InviteKey,
    MemberId,
    Policy,
    Role,
    RoomId,
    RoomKeys,
    RoomLog,
    RootSeed,
    SignedOp,
    canonical,
    crypto,
    derive_epoch_secret,
    make_commit,
    member_key,
    message_key,
    new_message_id,
    op_hash,
    pad,
    room_fingerprint,
    safety_number,
    seal_message,
    sign_auth,
    sign_delete,
    sign_op,
    to_json,
)
from protocol.api import AuthContent, InviteReadContent
from protocol.counters import CounterTracker
from protocol.ids import MessageId
from protocol.messages import (
    Body,
    CrisisResource,
    Envelope,
    MemberProfileBody,
    Plaintext,
    ReactionBody,
    ReportContent,
    ReportSeal,
    RiskAlertBody,
    RiskAlertContent,
    RiskHelpBody,
    RiskPlanBody,
    SupportRequestContent,
    TextBody,
    room_device_id,
)
from protocol.names import member_name, name_skeleton
from protocol.ops import (
    AddOp,
    BanOp,
    Binding,
    Commit,
    CreateOp,
    GenesisStatement,
    InviteCreateOp,
    InviteProof,
    InviteRevokeOp,
    JoinOp,
    LeaveOp,
    OpBody,
    RemoveOp,
    RoleOp,
    RotateOp,
    Share,
    UnbanOp,
)
from protocol.personal import (
    LinkAnswer,
    LinkCode,
    LinkHello,
    LinkPayload,
    LinkRoom,
    VerifiedHead,
    seal_answer,
    seal_hello,
    seal_link,
    short_code,
)
from protocol.signing import (
    canonical_origin,
    sign_erase,
    sign_report,
    sign_risk_alert,
    sign_support_request,
)

VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, milliseconds
DAY_MS = 86_400_000
RNG_DOC = (
    "DetRng(label): the concatenation of BLAKE2b-512(data=u64be(i), key=utf8(label), "
    "person='hearth-vectors') for i = 0, 1, 2, ...; each call takes the next n bytes."
)


class DetRng:
    """A deterministic ``rng(n)``: counter-mode BLAKE2b keyed by a label."""

    def __init__(self, label: str) -> None:
        self._key = label.encode()
        self._counter = 0
        self._buffer = b""

    def __call__(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hashlib.blake2b(
                self._counter.to_bytes(8, "big"),
                key=self._key,
                person=b"hearth-vectors",
                digest_size=64,
            ).digest()
            self._buffer += block
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def seal_with(recipient: bytes, message: bytes, ephemeral_seed: bytes) -> bytes:
    """``crypto_box_seal`` with the ephemeral key pair derived from ``ephemeral_seed``.

    libsodium's construction: ``epk || crypto_box(message, nonce, recipient, esk)``
    with ``nonce = BLAKE2b-192(epk || recipient)``; any ``crypto_box_seal_open``
    opens it.
    """
    epk, esk = nacl.bindings.crypto_box_seed_keypair(ephemeral_seed)
    nonce = hashlib.blake2b(epk + recipient, digest_size=24).digest()
    return epk + nacl.bindings.crypto_box(message, nonce, recipient, esk)


def wire(value: Any) -> Any:
    """A wire value as a JSON object (what ``protocol.to_json`` sends)."""
    return json.loads(to_json(value))


def root_of(name: str) -> RootSeed:
    return RootSeed(DetRng(f"root/{name}")(32))


PEOPLE = ("owner", "mod", "alice", "bob", "carol", "dan", "mallory")


# -- keys ----------------------------------------------------------------------------------


def build_keys() -> dict[str, Any]:
    roots = [bytes(32), bytes(range(32)), b"\xff" * 32, root_of("alice").secret]
    rooms = [RoomId("A" * 32), root_of("owner").genesis(DetRng("keys/room")(16)).room]
    vectors = []
    for seed in roots:
        entry: dict[str, Any] = {"root_seed": seed.hex(), "phrase": RootSeed(seed).phrase}
        entry["rooms"] = [_room_keys(RootSeed(seed).room_keys(room)) for room in rooms]
        vectors.append(entry)
    a, b = (root_of(n).room_keys(rooms[1]) for n in ("alice", "bob"))
    return {
        "description": (
            "Root seed -> recovery phrase (Crockford base32 of seed || BLAKE2b-256(seed, "
            "person='hearth-phrase')[:3], 14 groups of 4). Root + room id -> Ed25519 seed = "
            "BLAKE2b(key=root, data=room, person='hearth-room-sig'), X25519 secret = "
            "BLAKE2b(key=root, data=room, person='hearth-room-box'); member id = base64url "
            "of the Ed25519 public key; binding = Ed25519 over CTX_BINDING || "
            "canonical(Binding{room, member, box_key}). Genesis: Ed25519 seed = "
            "BLAKE2b(key=root, data=nonce, person='hearth-genesis'); room id = base64url of "
            "BLAKE2b-192(genesis public key || nonce, person='hearth-room-id'); signature = "
            "Ed25519 of the genesis key over CTX_GENESIS || canonical(GenesisStatement{room, "
            "creator})."
        ),
        "vectors": vectors,
        "genesis": [
            _genesis(seed, DetRng(f"keys/genesis/{i}")(16)) for i, seed in enumerate(roots)
        ],
        "safety_numbers": [
            {
                "room": rooms[1],
                "a": {"member": a.member, "x25519_public": a.box_public.hex()},
                "b": {"member": b.member, "x25519_public": b.box_public.hex()},
                "digits": safety_number(
                    rooms[1], (a.member, a.box_public), (b.member, b.box_public)
                ),
            },
            *_safety_tie_breaks(rooms[1]),
        ],
        "room_fingerprints": _room_fingerprints(rooms[1]),
    }


def _genesis(seed: bytes, nonce: bytes) -> dict[str, Any]:
    genesis = RootSeed(seed).genesis(nonce)
    creator = RootSeed(seed).room_keys(genesis.room)
    proof = genesis.prove(creator.member)
    statement = GenesisStatement(room=genesis.room, creator=creator.member)
    return {
        "root_seed": seed.hex(),
        "nonce": nonce.hex(),
        "genesis_ed25519_seed": crypto.kdf(seed, nonce, person=crypto.PERSON_GENESIS).hex(),
        "genesis_ed25519_public": proof.key.hex(),
        "room": genesis.room,
        "creator": creator.member,
        "statement_payload": canonical(statement).hex(),
        "signature": proof.sig.hex(),
    }


def _safety_tie_breaks(room: RoomId) -> list[dict[str, Any]]:
    """Safety numbers whose order of parties only the exact sort rule gets right.

    The pairs sort by member id as ASCII bytes, then by X25519 key bytes. The first
    case has two members whose ids sort one way as ASCII and the other way by the
    Ed25519 keys they encode (base64url's alphabet is not in ASCII order); the
    second is one member id with two keys (the key bytes decide).
    """
    people = [root_of(f"tie/{i}").room_keys(room) for i in range(16)]
    first, second = next(
        (p, q)
        for p in people
        for q in people
        if p.member.encode() < q.member.encode()
        and bytes(p.signing.verify_key) > bytes(q.signing.verify_key)
    )
    one = people[0]
    low, high = sorted([one.box_public, people[1].box_public])
    cases = [
        ("ids sort by ASCII bytes, not by the keys they encode", second, first),
        ("one id, two keys: the key bytes decide", (one.member, high), (one.member, low)),
    ]
    out = []
    for note, x, y in cases:
        pa = (x.member, x.box_public) if isinstance(x, RoomKeys) else x
        pb = (y.member, y.box_public) if isinstance(y, RoomKeys) else y
        out.append(
            {
                "note": note,
                "room": room,
                "a": {"member": pa[0], "x25519_public": pa[1].hex()},
                "b": {"member": pb[0], "x25519_public": pb[1].hex()},
                "sorted_first": "b",
                "digits": safety_number(room, pa, pb),
            }
        )
    return out


def _room_fingerprints(room: RoomId) -> list[dict[str, Any]]:
    """Room fingerprints: BLAKE2b-480(room || u64be(index) || head, 'hearth-room-fp')."""
    rng = DetRng("keys/room-fingerprint")
    out = []
    for index in (0, 7, 2**40 + 1):
        head = rng(32)
        out.append(
            {
                "room": room,
                "index": index,
                "head": head.hex(),
                "digits": room_fingerprint(room, index, head),
            }
        )
    return out


def _room_keys(keys: RoomKeys) -> dict[str, Any]:
    statement = Binding(room=keys.room, member=keys.member, box_key=keys.box_public)
    return {
        "room": keys.room,
        "member": keys.member,
        "ed25519_public": bytes(keys.signing.verify_key).hex(),
        "x25519_public": keys.box_public.hex(),
        "binding_payload": canonical(statement).hex(),
        "binding_signature": keys.binding().hex(),
    }


# -- device links --------------------------------------------------------------------------


def clamped(secret: bytes) -> bytes:
    """An X25519 secret as the scalar multiplication uses it (RFC 7748 section 5)."""
    b = bytearray(secret)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return bytes(b)


def build_device_link() -> dict[str, Any]:
    rng = DetRng("device-link")
    code = LinkCode(rng(22))
    # X25519 ignores the three low bits of byte 0 and the top bit of byte 31 of a
    # secret (clamping): the seeds are written clamped, so each of their bits counts.
    hello = crypto.box_keypair_from_seed(clamped(rng(32)))
    answer = crypto.box_keypair_from_seed(clamped(rng(32)))
    hello_pub, answer_pub = crypto.box_public(hello), crypto.box_public(answer)
    room = root_of("owner").genesis(rng(16)).room
    payload = LinkPayload(
        root=root_of("alice").secret,
        heads=[LinkRoom(room=room, verified=VerifiedHead(index=7, head=rng(32)))],
        made_at=T0,
    )
    shared = crypto.box_shared(hello, answer_pub)
    return {
        "description": (
            "A device link (protocol.md 15.1): ids R1/R2/R3 = base64url(BLAKE2b(data='id'/"
            "'answer'/'root', key=S, person='hearth-link-id', 16 bytes)); K = BLAKE2b('key', "
            "key=S, person='hearth-link-key'); short code = u64be(BLAKE2b('sas' || hello || "
            "answer, key=S, person='hearth-link-sas', 8 bytes)) mod 10^6 as 'ddd ddd'; root "
            "key = BLAKE2b('root' || crypto_box_beforenm(hello, answer) || hello || answer, "
            "key=S, person='hearth-link-key'); boxes = nonce || XChaCha20-Poly1305(key, "
            "pad(canonical(value), floor), AD = AD_LINK || id), floor 256 (hello, answer) or "
            "8192 (root); nonces from DetRng('device-link/box')."
        ),
        "secret": code.secret.hex(),
        "code": code.text,
        "hello_seed": bytes(hello).hex(),
        "answer_seed": bytes(answer).hex(),
        "hello_public": hello_pub.hex(),
        "answer_public": answer_pub.hex(),
        "hello_id": code.rendezvous,
        "answer_id": code.answer_rendezvous,
        "root_id": code.root_rendezvous,
        "code_key": code.key().hex(),
        "shared": shared.hex(),
        "short_code": short_code(code, hello_pub, answer_pub),
        "payload": wire(payload),
        "hello_box": seal_hello(
            code, LinkHello(box_key=hello_pub), DetRng("device-link/box")
        ).hex(),
        "answer_box": seal_answer(
            code, LinkAnswer(box_key=answer_pub), DetRng("device-link/box")
        ).hex(),
        "root_box": seal_link(
            code, payload, hello=hello, answer_key=answer_pub, rng=DetRng("device-link/box")
        ).hex(),
    }


# -- epochs --------------------------------------------------------------------------------


class Recording:
    """Wraps an rng and keeps what it handed out, to recover a commit secret."""

    def __init__(self, rng: Callable[[int], bytes]) -> None:
        self.rng = rng
        self.drawn: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = self.rng(n)
        self.drawn.append(out)
        return out


def deterministic_commit(
    *,
    room: RoomId,
    epoch: int,
    prev: bytes,
    recipients: Mapping[MemberId, bytes],
    rng: Callable[[int], bytes],
    history: Mapping[int, bytes] | None = None,
) -> tuple[Commit, bytes, bytes, list[bytes]]:
    """``make_commit`` with shares sealed by :func:`seal_with`.

    Returns the commit, the epoch secret, the commit secret and the ephemeral
    seeds of the shares (in share order).
    """
    recording = Recording(rng)
    unsealed, secret = make_commit(
        room=room, epoch=epoch, prev=prev, recipients={}, history=history, rng=recording
    )
    commit_secret = recording.drawn[0]
    seeds = [rng(32) for _ in recipients]
    shares = [
        Share(member=member, sealed=seal_with(recipients[member], commit_secret, seed))
        for member, seed in zip(sorted(recipients), seeds, strict=True)
    ]
    return msgspec.structs.replace(unsealed, shares=shares), secret, commit_secret, seeds


def build_epochs() -> dict[str, Any]:
    rng = DetRng("epochs")
    room = root_of("owner").genesis(rng(16)).room
    derivations = []
    for epoch in (1, 2, 2**32 + 7):
        commit_secret, prev = rng(32), (ZERO_HASH if epoch == 1 else rng(32))
        secret = derive_epoch_secret(commit_secret, room, epoch, prev)
        derivations.append(
            {
                "room": room,
                "epoch": epoch,
                "prev": prev.hex(),
                "commit_secret": commit_secret.hex(),
                "epoch_secret": secret.hex(),
                "confirm": crypto.kdf(secret, b"", person=crypto.PERSON_CONFIRM).hex(),
                "message_key": message_key(secret).hex(),
            }
        )
    people = ("alice", "bob", "carol")
    keys = {name: root_of(name).room_keys(room) for name in people}
    recipients = {k.member: k.box_public for k in keys.values()}
    history = {1: rng(32), 2: rng(32)}
    prev = rng(32)
    commit, secret, commit_secret, seeds = deterministic_commit(
        room=room, epoch=3, prev=prev, recipients=recipients, rng=rng, history=history
    )
    return {
        "description": (
            "epoch_secret = BLAKE2b-256(key=commit_secret, data=room || u64be(epoch) || prev, "
            "person='hearth-epoch'); confirm = BLAKE2b-256(key=epoch_secret, data='', "
            "person='hearth-confirm'); message_key = the same with person='hearth-msg-key'. "
            "In 'commit', each share is commit_secret sealed to the member's X25519 key; "
            "crypto_box_seal picks a random ephemeral key, so only the opening is "
            "checkable across implementations (here the ephemeral key came from "
            "ephemeral_seed via crypto_box_seed_keypair). history = nonce(24) || "
            "XChaCha20-Poly1305(key=BLAKE2b(key=epoch_secret, person='hearth-history'), "
            "AD=room || u64be(epoch), canonical([[epoch, secret], ...]))."
        ),
        "rng": RNG_DOC,
        "derivations": derivations,
        "commit": {
            "room": room,
            "epoch": 3,
            "prev": prev.hex(),
            "commit_secret": commit_secret.hex(),
            "epoch_secret": secret.hex(),
            "recipients": [
                {
                    "name": name,
                    "root_seed": root_of(name).secret.hex(),
                    "member": keys[name].member,
                    "x25519_public": keys[name].box_public.hex(),
                }
                for name in people
            ],
            "ephemeral_seeds": [s.hex() for s in seeds],
            "history": {str(e): s.hex() for e, s in history.items()},
            "json": wire(commit),
        },
    }


# -- messages ------------------------------------------------------------------------------


def build_messages() -> dict[str, Any]:
    rng = DetRng("messages")
    room = root_of("owner").genesis(rng(16)).room
    sender = root_of("alice").room_keys(room)
    epoch_secret = rng(32)
    device_secret = rng(16)
    bodies: list[Body] = [
        TextBody(text="Today was hard, but I went outside.", content_warning="low mood"),
        ReactionBody(target=new_message_id(rng), emoji="\U0001faf6"),
        TextBody(text="long " * 60, reply_to=new_message_id(rng)),
    ]
    return {
        "description": (
            "padded = pad(canonical(plaintext)) (0x80 then zeros to the next of 256, 512, "
            "... 65536 bytes); ciphertext = XChaCha20-Poly1305-IETF(key, nonce, padded, "
            "AD = CTX_MSG_AD || canonical(header)); signature = Ed25519 by the sender over "
            "CTX_MSG || canonical(header) || ciphertext; key = message_key(epoch_secret); "
            "plaintext.device = BLAKE2b(key=device_secret, data=room, "
            "person='hearth-room-dev', 16 bytes)."
        ),
        "rng": RNG_DOC,
        "vectors": _sealed(
            "messages",
            sender_name="alice",
            rng=rng,
            room=room,
            sender=sender,
            epoch_secret=epoch_secret,
            device_secret=device_secret,
            bodies=bodies,
            epoch=4,
        ),
    }


def _sealed(
    label: str,
    *,
    sender_name: str,
    rng: DetRng,
    room: RoomId,
    sender: RoomKeys,
    epoch_secret: bytes,
    device_secret: bytes,
    bodies: list[Body],
    epoch: int,
) -> list[dict[str, Any]]:
    """Each body sealed as one message, with every intermediate value."""
    device = room_device_id(device_secret, room)
    vectors = []
    for counter, body in enumerate(bodies, start=1):
        plaintext = Plaintext(device=device, counter=counter, sent_at=T0 + counter, body=body)
        head = rng(32)
        envelope = seal_message(
            sender,
            plaintext,
            epoch=epoch,
            epoch_secret=epoch_secret,
            head_index=9,
            head=head,
            rng=DetRng(f"{label}/{counter}"),
        )
        header_bytes = canonical(envelope.header)
        vectors.append(
            {
                "sender_root_seed": root_of(sender_name).secret.hex(),
                "room": room,
                "sender": sender.member,
                "epoch_secret": epoch_secret.hex(),
                "device_secret": device_secret.hex(),
                "key": message_key(epoch_secret).hex(),
                "plaintext": wire(plaintext),
                "plaintext_canonical": canonical(plaintext).hex(),
                "padded": pad(canonical(plaintext)).hex(),
                "header": wire(envelope.header),
                "header_canonical": header_bytes.hex(),
                "associated_data": (crypto.CTX_MSG_AD + header_bytes).hex(),
                "nonce": envelope.header.nonce.hex(),
                "ciphertext": envelope.ciphertext.hex(),
                "signed_bytes": (crypto.CTX_MSG + header_bytes + envelope.ciphertext).hex(),
                "signature": envelope.sig.hex(),
                "envelope": wire(envelope),
            }
        )
    return vectors


# -- members' display names ---------------------------------------------------------------

NAME_INPUTS = (
    "Sam",
    "Zoe\u0308",  # decomposed: shown as its NFC form
    "\u0405am",  # Cyrillic capital DZE: a valid name that looks like "Sam"
    "\U0001f331 Ana",
    "x" * 64,
    "",
    "x" * 65,
    " Sam",
    "Sam\n",
    "\u202eSam",  # RIGHT-TO-LEFT OVERRIDE
    "\u200b\u200b",  # only invisible characters
)
SKELETON_INPUTS = (
    "Sam",
    "sam",
    "SAM",
    "\u0405am",
    "S\u200bam",
    "Sarn",
    "Ian",
    "lan",
    "B\u043eb",
    "Bob",
    "\uff33\uff41\uff4d",  # fullwidth
    "Sam  Lee",
)


def _utf8(text: str) -> str:
    return text.encode("utf-8").hex()


def _name_case(raw: str) -> dict[str, Any]:
    # UTF-8 in hex: some inputs are control characters a JSON viewer would act on.
    try:
        member_name(raw)
    except ValueError:
        accepted = False
    else:
        accepted = True
    nfc = unicodedata.normalize("NFC", raw)
    return {"input": _utf8(raw), "nfc": _utf8(nfc), "accepted": accepted}


def build_names() -> dict[str, Any]:
    rng = DetRng("names")
    room = root_of("owner").genesis(rng(16)).room
    sender = root_of("bob").room_keys(room)
    epoch_secret = rng(32)
    device_secret = rng(16)
    bodies: list[Body] = [MemberProfileBody(name="Bob"), MemberProfileBody(name="Zoe\u0308")]
    return {
        "description": (
            "member.profile: a member's display name in one room, an ordinary message "
            "(sealed and signed as in messages.json). names: a sent name (UTF-8, hex), its "
            "NFC form, and whether a receiver accepts it (then shows the NFC form): 1..64 "
            "code points, no Cc/Cs/Co/Zl/Zp or bidi control, no white space at either end, "
            "one visible character at least (protocol.md 8.12). skeletons: NFKC, without "
            "Cf and variation selectors, look-alikes of Latin letters mapped, case folded, "
            "rn->m, vv->w, white space collapsed; equal skeletons are told apart by a short key."
        ),
        "rng": RNG_DOC,
        "vectors": _sealed(
            "names",
            sender_name="bob",
            rng=rng,
            room=room,
            sender=sender,
            epoch_secret=epoch_secret,
            device_secret=device_secret,
            bodies=bodies,
            epoch=2,
        ),
        "names": [_name_case(raw) for raw in NAME_INPUTS],
        "skeletons": [
            {"name": _utf8(n), "skeleton": _utf8(name_skeleton(n))} for n in SKELETON_INPUTS
        ],
    }


# -- signatures ----------------------------------------------------------------------------

CONTEXTS = {
    "CTX_OP": crypto.CTX_OP,
    "CTX_BINDING": crypto.CTX_BINDING,
    "CTX_INVITE": crypto.CTX_INVITE,
    "CTX_INVITE_READ": crypto.CTX_INVITE_READ,
    "CTX_MSG": crypto.CTX_MSG,
    "CTX_DELETE": crypto.CTX_DELETE,
    "CTX_ERASE": crypto.CTX_ERASE,
    "CTX_REPORT": crypto.CTX_REPORT,
    "CTX_SUPPORT": crypto.CTX_SUPPORT,
    "CTX_AUTH": crypto.CTX_AUTH,
    "CTX_GENESIS": crypto.CTX_GENESIS,
    "CTX_RISK_ALERT": crypto.CTX_RISK_ALERT,
}


def _signature(
    name: str, public: bytes, payload: bytes, sig: bytes, **extra: Any
) -> dict[str, Any]:
    context = CONTEXTS[name]
    return {
        "context": name,
        "context_hex": context.hex(),
        "public_key": public.hex(),
        **extra,
        "signed_bytes": (context + payload).hex(),
        "signature": sig.hex(),
    }


def build_signatures(messages: dict[str, Any]) -> dict[str, Any]:
    rng = DetRng("signatures")
    genesis = root_of("owner").genesis(rng(16))
    room = genesis.room
    keys = root_of("alice").room_keys(room)
    creator = root_of("owner").room_keys(room).member
    genesis_statement = GenesisStatement(room=room, creator=creator)
    public = bytes(keys.signing.verify_key)
    invite = InviteKey(rng(32))
    body = InviteRevokeOp(invite_key=rng(32))
    op = sign_op(keys, index=5, prev=rng(32), at=T0, body=body)
    binding = Binding(room=room, member=keys.member, box_key=keys.box_public)
    proof = InviteProof(room=room, index=3, joiner=keys.member, box_key=keys.box_public)
    read = InviteReadContent(room=room, reader=keys.member, at=T0)
    delete = sign_delete(
        keys,
        target=new_message_id(rng),
        sender=keys.member,
        device=bytes(range(16)),
        counter=7,
        at=T0,
    )
    auth = AuthContent(
        origin="https://relay.example", challenge=rng(32), key=keys.member, expires_at=T0 + 60_000
    )
    auth_sig = sign_auth(
        keys, origin=auth.origin, challenge=auth.challenge, expires_at=auth.expires_at
    )
    message = messages["vectors"][0]
    report = sign_report(
        keys,
        ReportContent(
            room=room,
            reporter=keys.member,
            target=MessageId(message["header"]["id"]),
            reason="harassment",
            recipients=[keys.member],
            evidence=msgspec.json.decode(json.dumps(message["envelope"]), type=Envelope),
            at=T0,
        ),
    )
    support = sign_support_request(
        keys,
        SupportRequestContent(
            room=room,
            requester=keys.member,
            text="I would like to talk about my week",
            recipients=[keys.member],
            at=T0,
        ),
    )
    erase = sign_erase(keys, index=5, at=T0)
    message_payload = bytes.fromhex(message["signed_bytes"])[len(crypto.CTX_MSG) :]
    entries = [
        _signature(
            "CTX_OP", public, canonical(op.content), op.sig, type="OpContent", json=wire(op.content)
        ),
        _signature(
            "CTX_BINDING",
            public,
            canonical(binding),
            keys.binding(),
            type="Binding",
            json=wire(binding),
        ),
        _signature(
            "CTX_INVITE",
            invite.public,
            canonical(proof),
            invite.prove(room=room, index=3, joiner=keys.member, box_key=keys.box_public),
            type="InviteProof",
            json=wire(proof),
        ),
        _signature(
            "CTX_INVITE_READ",
            invite.public,
            canonical(read),
            invite.prove_read(room=room, reader=keys.member, at=T0),
            type="InviteReadContent",
            json=wire(read),
        ),
        _signature(
            "CTX_MSG",
            member_key(MemberId(message["sender"])),
            message_payload,
            bytes.fromhex(message["signature"]),
            type="EnvelopeHeader || ciphertext",
            json=message["header"],
        ),
        _signature(
            "CTX_DELETE",
            public,
            canonical(delete.content),
            delete.sig,
            type="DeleteContent",
            json=wire(delete.content),
        ),
        _signature(
            "CTX_GENESIS",
            genesis.prove(creator).key,
            canonical(genesis_statement),
            genesis.prove(creator).sig,
            type="GenesisStatement",
            json=wire(genesis_statement),
        ),
        _signature(
            "CTX_AUTH", public, canonical(auth), auth_sig, type="AuthContent", json=wire(auth)
        ),
        _signature(
            "CTX_REPORT",
            public,
            canonical(report.content),
            report.sig,
            type="ReportContent",
            json=wire(report.content),
        ),
        _signature(
            "CTX_SUPPORT",
            public,
            canonical(support.content),
            support.sig,
            type="SupportRequestContent",
            json=wire(support.content),
        ),
        _signature(
            "CTX_ERASE",
            public,
            canonical(erase.content),
            erase.sig,
            type="EraseContent",
            json=wire(erase.content),
        ),
    ]
    return {
        "description": (
            "Every Ed25519 signature of the protocol covers context || payload, the "
            "context ending in NUL. payload is canonical(json decoded as type); for "
            "CTX_MSG it is canonical(header) || ciphertext (see messages.json). "
            "origins: the origin a client computes from a relay URL and compares, "
            "character for character, with a challenge's before signing (protocol.md "
            "9.1); error: the URL has no origin."
        ),
        "rng": RNG_DOC,
        "vectors": entries,
        "origins": _origins(),
    }


ORIGIN_URLS = (
    "https://relay.example",
    "HTTPS://Relay.Example:443/hearth/",
    "http://relay.example:80",
    "http://127.0.0.1:8080/",
    "http://[::1]:8443/x?y#z",
    "https://relay.example:08443",
    "ftp://relay.example",
    "https://user@relay.example",
    "https://",
    "https://relay.example:99999",
)


def _origins() -> list[dict[str, str]]:
    cases = []
    for url in ORIGIN_URLS:
        try:
            cases.append({"url": url, "origin": canonical_origin(url)})
        except HearthError as exc:
            cases.append({"url": url, "error": exc.code})
    return cases


# -- room logs -----------------------------------------------------------------------------


class LogBuilder:
    """Plays every participant of one room, deterministically."""

    def __init__(self, label: str, policy: Policy) -> None:
        self.rng = DetRng(f"log/{label}")
        self.genesis = root_of("owner").genesis(self.rng(16))
        self.room = self.genesis.room
        self.log = RoomLog()
        self.now = T0
        self.secrets: dict[int, bytes] = {}
        self._pending: dict[bytes, bytes] = {}
        self.invites: dict[str, InviteKey] = {}
        owner = self.keys("owner")
        body = CreateOp(
            genesis=self.genesis.prove(owner.member),
            policy=policy,
            box_key=owner.box_public,
            binding=owner.binding(),
            commit=self.commit({owner.member: owner.box_public}),
        )
        self.apply(self.sign("owner", body))

    def keys(self, name: str) -> RoomKeys:
        return root_of(name).room_keys(self.room)

    def member(self, name: str) -> MemberId:
        return self.keys(name).member

    def sign(
        self, name: str, body: OpBody, *, index: int | None = None, prev: bytes | None = None
    ) -> SignedOp:
        self.now += 60_000
        return sign_op(
            self.keys(name),
            index=self.log.index + 1 if index is None else index,
            prev=self.log.head if prev is None else prev,
            at=self.now,
            body=body,
        )

    def recipients(
        self, plus: tuple[str, ...] = (), minus: tuple[str, ...] = ()
    ) -> dict[MemberId, bytes]:
        out = {m: x.box_key for m, x in self.log.members.items()}
        out.update({self.member(n): self.keys(n).box_public for n in plus})
        for n in minus:
            del out[self.member(n)]
        return out

    def commit(
        self,
        recipients: Mapping[MemberId, bytes],
        *,
        epoch: int | None = None,
        history: Mapping[int, bytes] | None = None,
    ) -> Commit:
        if history is None and self.log.policy.share_history and self.secrets:
            history = dict(self.secrets)
        commit, secret, _, _ = deterministic_commit(
            room=self.room,
            epoch=self.log.epoch + 1 if epoch is None else epoch,
            prev=self.log.head,
            recipients=recipients,
            rng=self.rng,
            history=history,
        )
        self._pending[commit.confirm] = secret
        return commit

    def apply(self, op: SignedOp) -> SignedOp:
        self.log.append(op)
        commit = getattr(op.content.body, "commit", None)
        if isinstance(commit, Commit):
            self.secrets[commit.epoch] = self._pending[commit.confirm]
        return op

    # Operations, valid against the current state; apply() them or not.

    def add(self, author: str, name: str, role: Role = "member") -> SignedOp:
        k = self.keys(name)
        commit = self.commit(self.recipients(plus=(name,)))
        body = AddOp(
            member=k.member, box_key=k.box_public, binding=k.binding(), role=role, commit=commit
        )
        return self.sign(author, body)

    def remove(self, author: str, name: str) -> SignedOp:
        commit = self.commit(self.recipients(minus=(name,)))
        return self.sign(author, RemoveOp(member=self.member(name), commit=commit))

    def leave(self, name: str) -> SignedOp:
        return self.sign(name, LeaveOp())

    def ban(self, author: str, name: str) -> SignedOp:
        member = self.member(name)
        commit = self.commit(self.recipients(minus=(name,))) if member in self.log.members else None
        return self.sign(author, BanOp(member=member, commit=commit))

    def unban(self, author: str, name: str) -> SignedOp:
        return self.sign(author, UnbanOp(member=self.member(name)))

    def join_with_key(self, name: str, label: str, box_key: bytes) -> SignedOp:
        """A join by ``name`` binding ``box_key`` (its own signature: a hostile joiner).

        The commit is sealed to the members and to a usable stand-in key for the
        joiner, so the only thing wrong with the operation is ``box_key``.
        """
        k, invite = self.keys(name), self.invites[label]
        index = self.log.index + 1
        statement = canonical(Binding(room=self.room, member=k.member, box_key=box_key))
        recipients = self.recipients()
        recipients[k.member] = self.keys("dan").box_public
        body = JoinOp(
            invite_key=invite.public,
            invite_proof=invite.prove(
                room=self.room, index=index, joiner=k.member, box_key=box_key
            ),
            box_key=box_key,
            binding=k.sign(crypto.CTX_BINDING, statement),
            commit=self.commit(recipients),
        )
        return self.sign(name, body)

    def role(self, author: str, name: str, role: Role) -> SignedOp:
        return self.sign(author, RoleOp(member=self.member(name), role=role))

    def rotate(self, author: str) -> SignedOp:
        return self.sign(author, RotateOp(commit=self.commit(self.recipients())))

    def invite(self, author: str, label: str, role: Role = "member", uses: int = 1) -> SignedOp:
        invite = self.invites.setdefault(label, InviteKey(self.rng(32)))
        body = InviteCreateOp(
            invite_key=invite.public, role=role, max_uses=uses, expires_at=self.now + DAY_MS
        )
        return self.sign(author, body)

    def revoke(self, author: str, label: str) -> SignedOp:
        return self.sign(author, InviteRevokeOp(invite_key=self.invites[label].public))

    def join(self, name: str, label: str, *, proof_index: int | None = None) -> SignedOp:
        k, invite = self.keys(name), self.invites[label]
        index = self.log.index + 1
        proof = invite.prove(
            room=self.room,
            index=index if proof_index is None else proof_index,
            joiner=k.member,
            box_key=k.box_public,
        )
        body = JoinOp(
            invite_key=invite.public,
            invite_proof=proof,
            box_key=k.box_public,
            binding=k.binding(),
            commit=self.commit(self.recipients(plus=(name,))),
        )
        return self.sign(name, body)


def _lifecycle() -> LogBuilder:
    b = LogBuilder("lifecycle", Policy())
    b.apply(b.add("owner", "mod", "moderator"))
    b.apply(b.add("mod", "alice"))
    b.apply(b.invite("mod", "link", uses=2))
    b.apply(b.join("bob", "link"))
    b.apply(b.role("owner", "bob", "supporter"))
    b.apply(b.leave("alice"))
    b.apply(b.rotate("bob"))
    b.apply(b.revoke("owner", "link"))
    b.apply(b.remove("mod", "bob"))
    return b


def _shared_history() -> LogBuilder:
    b = LogBuilder(
        "shared-history",
        Policy(kind="program", invite_role="supporter", share_history=True, retention_days=30),
    )
    b.apply(b.add("owner", "carol", "supporter"))
    b.apply(b.rotate("carol"))
    b.apply(b.add("carol", "dan"))
    return b


def _buddy() -> LogBuilder:
    b = LogBuilder("buddy", Policy(kind="buddy", invite_role="owner", max_members=2))
    b.apply(b.invite("owner", "buddy"))
    b.apply(b.join("alice", "buddy"))
    return b


def _moderation() -> LogBuilder:
    # Bans and the invites that die with their creator's authority (issue 17).
    b = LogBuilder("moderation", Policy())
    b.apply(b.add("owner", "mod", "moderator"))
    b.apply(b.add("mod", "alice"))
    b.apply(b.invite("mod", "mod-link", role="moderator", uses=3))
    b.apply(b.invite("mod", "member-link", uses=3))
    b.apply(b.role("owner", "mod", "supporter"))  # revokes both: invite_role is moderator
    b.apply(b.ban("owner", "alice"))  # removes her, with a commit
    b.apply(b.ban("owner", "carol"))  # not a member: no commit
    b.apply(b.unban("owner", "alice"))
    b.apply(b.invite("owner", "owner-link"))
    b.apply(b.join("bob", "owner-link"))
    return b


def _state(log: RoomLog) -> dict[str, Any]:
    return {
        "room": log.room,
        "index": log.index,
        "head": log.head.hex(),
        "fingerprint": room_fingerprint(log.room, log.index, log.head),
        "epoch": log.epoch,
        "needs_rotation": log.needs_rotation,
        "policy": wire(log.policy),
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


def _ops(ops: tuple[SignedOp, ...] | list[SignedOp]) -> list[dict[str, Any]]:
    return [
        {"json": wire(op), "canonical": canonical(op).hex(), "hash": op_hash(op).hex()}
        for op in ops
    ]


PEOPLE_DOC = "Root seeds of everyone who appears; keys follow as in keys.json."


def build_logs_valid() -> dict[str, Any]:
    logs = []
    for name, builder in (
        ("lifecycle", _lifecycle()),
        ("shared-history", _shared_history()),
        ("buddy", _buddy()),
        ("moderation", _moderation()),
    ):
        logs.append(
            {
                "name": name,
                "ops": _ops(builder.log.ops),
                "epoch_secrets": {str(e): s.hex() for e, s in sorted(builder.secrets.items())},
                "state": _state(builder.log),
            }
        )
    return {
        "description": (
            "Whole room logs. Each op's json is the wire SignedOp, canonical its canonical "
            "MessagePack and hash BLAKE2b-256(canonical, person='hearth-op-hash'). Folding "
            "the ops gives state; every commit opens, for each member it names, to "
            "epoch_secrets[epoch]."
        ),
        "rng": RNG_DOC,
        "people": {n: root_of(n).secret.hex() for n in PEOPLE if n != "mallory"},
        "people_doc": PEOPLE_DOC,
        "logs": logs,
    }


Case = tuple[str, tuple[SignedOp, ...], SignedOp, str]


def _flip_sig(op: SignedOp) -> SignedOp:
    sig = bytearray(op.sig)
    sig[0] ^= 1
    return msgspec.structs.replace(op, sig=bytes(sig))


def _invalid_cases() -> list[Case]:  # noqa: PLR0915 - one case after another, on purpose
    cases: list[Case] = []

    def case(name: str, b: LogBuilder, op: SignedOp, code: str) -> None:
        cases.append((name, b.log.ops, op, code))

    def base(label: str, policy: Policy | None = None) -> LogBuilder:
        b = LogBuilder(f"invalid/{label}", policy or Policy())
        b.apply(b.add("owner", "mod", "moderator"))
        b.apply(b.add("mod", "alice"))
        return b

    b = base("bad-signature")
    case("signature flipped", b, _flip_sig(b.rotate("alice")), "log.bad_signature")
    b = base("edited")
    op = b.rotate("alice")
    edited = msgspec.structs.replace(
        op, content=msgspec.structs.replace(op.content, at=op.content.at + 1)
    )
    case("content edited after signing", b, edited, "log.bad_signature")
    b = base("bad-index")
    case(
        "index skips one",
        b,
        b.sign("owner", b.rotate("owner").content.body, index=4),
        "log.bad_index",
    )
    b = base("bad-prev")
    prev = b.log.hash_at(1)
    case(
        "prev is not the head",
        b,
        b.sign("owner", b.rotate("owner").content.body, prev=prev),
        "log.bad_prev",
    )
    b = base("replay")
    case("an operation replayed", b, b.log.ops[2], "log.replay")
    b = base("fork")
    fork = b.sign(
        "mod", RoleOp(member=b.member("alice"), role="supporter"), index=2, prev=b.log.hash_at(1)
    )
    case("another operation at a held index", b, fork, "log.fork")
    b = base("bad-room")
    other = LogBuilder("invalid/other-room", Policy())
    op = other.sign("owner", RotateOp(commit=b.commit(b.recipients())), index=3, prev=b.log.head)
    case("operation for another room", b, op, "log.bad_room")
    b = base("member-adds")
    case("a member adds", b, b.add("alice", "carol"), "log.unauthorized")
    b = base("mod-removes-owner")
    case("a moderator removes the owner", b, b.remove("mod", "owner"), "log.unauthorized")
    b = base("member-role")
    case("a member changes a role", b, b.role("alice", "mod", "member"), "log.unauthorized")
    b = base("outsider-rotates")
    case("a non-member rotates", b, b.rotate("mallory"), "log.not_member")
    b = base("commit-missing")
    k = b.keys("carol")
    body = AddOp(
        member=k.member, box_key=k.box_public, binding=k.binding(), commit=b.commit(b.recipients())
    )
    case("add whose commit leaves out the newcomer", b, b.sign("owner", body), "log.bad_commit")
    b = base("commit-epoch")
    case(
        "commit for the current epoch",
        b,
        b.sign("owner", RotateOp(commit=b.commit(b.recipients(), epoch=b.log.epoch))),
        "log.bad_commit",
    )
    b = base("commit-history")
    leak = b.commit(b.recipients(), history=dict(b.secrets))
    case(
        "history in a room that does not share it",
        b,
        b.sign("owner", RotateOp(commit=leak)),
        "log.bad_commit",
    )
    b = base("binding")
    k, other_key = b.keys("carol"), b.keys("dan")
    body = AddOp(
        member=k.member,
        box_key=other_key.box_public,
        binding=k.binding(),
        commit=b.commit(b.recipients(plus=("carol",))),
    )
    case("binding over another X25519 key", b, b.sign("owner", body), "log.bad_binding")
    b = base("invite-proof")
    b.apply(b.invite("mod", "link"))
    case(
        "invite proof for another index",
        b,
        b.join("carol", "link", proof_index=9),
        "log.bad_invite",
    )
    b = base("invite-revoked")
    b.apply(b.invite("mod", "link"))
    b.apply(b.revoke("owner", "link"))
    case("revoked invite", b, b.join("carol", "link"), "log.bad_invite")
    b = base("invite-used")
    b.apply(b.invite("mod", "link"))
    b.apply(b.join("carol", "link"))
    case("invite with no uses left", b, b.join("dan", "link"), "log.bad_invite")
    b = base("invite-expired")
    b.apply(b.invite("mod", "link"))
    b.now += 2 * DAY_MS
    case("expired invite", b, b.join("carol", "link"), "log.bad_invite")
    b = base("room-full", Policy(max_members=3))
    b.apply(b.invite("mod", "link"))
    case("full room", b, b.join("carol", "link"), "log.room_full")
    # A counterfeit room: whoever knows a room id (every invite link carries it) signs a
    # room.create of their own for it. Their own genesis key does not hash to the id,
    # and the real one (copied from the real log) does not name them as owner.
    b = LogBuilder("invalid/counterfeit", Policy())
    real = b.log.ops[0].content.body
    assert isinstance(real, CreateOp)
    mallory = b.keys("mallory")
    counterfeit = msgspec.structs.replace(
        real,
        genesis=root_of("mallory").genesis(b.rng(16)).prove(mallory.member),
        box_key=mallory.box_public,
        binding=mallory.binding(),
        commit=msgspec.structs.replace(real.commit, shares=[]),
    )
    first = b.sign("mallory", counterfeit, index=0, prev=ZERO_HASH)
    cases.append(("create under another genesis key", (), first, "log.bad_genesis"))
    stolen = msgspec.structs.replace(counterfeit, genesis=real.genesis, commit=real.commit)
    first = b.sign("mallory", stolen, index=0, prev=ZERO_HASH)
    cases.append(("create with the real genesis for another owner", (), first, "log.bad_genesis"))
    for name, builder in (
        ("was removed", lambda b: b.remove("owner", "mod")),
        ("was banned", lambda b: b.ban("owner", "mod")),
        ("was demoted", lambda b: b.role("owner", "mod", "member")),
        ("left", lambda b: b.leave("mod")),
    ):
        b = base(f"invite-creator-{name.split()[-1]}")
        b.apply(b.invite("mod", "link", role="moderator", uses=3))
        b.apply(builder(b))
        if b.log.needs_rotation:
            b.apply(b.rotate("owner"))
        case(f"invite whose creator {name}", b, b.join("carol", "link"), "log.bad_invite")
    b = base("banned-joins")
    b.apply(b.invite("mod", "link", uses=3))
    b.apply(b.ban("mod", "alice"))
    case("a banned key joins", b, b.join("alice", "link"), "log.banned")
    b = base("banned-added")
    b.apply(b.ban("owner", "carol"))
    case("a banned key is added", b, b.add("mod", "carol"), "log.banned")
    b = base("ban-without-commit")
    case(
        "a ban of a member without a commit",
        b,
        b.sign("owner", BanOp(member=b.member("alice"))),
        "log.bad_commit",
    )
    b = base("mod-bans-owner")
    case("a moderator bans the owner", b, b.ban("mod", "owner"), "log.unauthorized")
    for label, key in (
        ("zero", bytes(32)),
        ("one", bytes([1]) + bytes(31)),
        (
            "order-8",
            bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ),
        ("p-minus-1", bytes([0xEC]) + b"\xff" * 30 + bytes([0x7F])),
        ("zero-top-bit", bytes(31) + bytes([0x80])),
    ):
        b = base(f"low-order-{label}")
        b.apply(b.invite("mod", "link"))
        case(
            f"a join binding a small-order X25519 key ({label})",
            b,
            b.join_with_key("carol", "link", key),
            "log.bad_key",
        )
    b = LogBuilder("invalid/first-not-create", Policy())
    first = b.sign("owner", RotateOp(commit=b.commit(b.recipients())), index=0, prev=ZERO_HASH)
    cases.append(("a log that does not start with create", (), first, "log.invalid"))
    return cases


def build_logs_invalid() -> dict[str, Any]:
    out = []
    for name, log, op, code in _invalid_cases():
        out.append({"name": name, "log": [wire(o) for o in log], "op": wire(op), "code": code})
    return {
        "description": (
            "Each case: fold log (wire SignedOps, valid), then appending op must fail "
            "with code (the HearthError code; ForkDetected is log.fork)."
        ),
        "rng": RNG_DOC,
        "cases": out,
    }


# -- counters (protocol.md section 8.6) ------------------------------------------------------

_ALICE, _BOB = "A" * 43, "B" * 43
_PHONE, _LAPTOP = "70" * 16, "6c" * 16


def _obs(sender: str, device: str, counter: int) -> dict[str, Any]:
    return {"op": "observe", "sender": sender, "device": device, "counter": counter}


def _excuse(sender: str, device: str, counter: int) -> dict[str, Any]:
    return {"op": "excuse", "sender": sender, "device": device, "counter": counter}


def _raise(sender: str, device: str, floor: int) -> dict[str, Any]:
    return {"op": "raise_floor", "sender": sender, "device": device, "floor": floor}


def _counter_cases() -> list[tuple[str, list[dict[str, Any]]]]:
    a, p, lap = _ALICE, _PHONE, _LAPTOP
    return [
        ("in order, no gap", [_obs(a, p, c) for c in (1, 2, 3)]),
        ("a gap above the floor", [_obs(a, p, c) for c in (1, 2, 5)]),
        ("a late arrival fills its gap", [_obs(a, p, c) for c in (1, 4, 2)]),
        (
            "a later joiner: the first counter read sets the floor",
            [_obs(a, p, 57), _obs(a, p, 58), _obs(a, lap, 3), _obs(_BOB, p, 12)],
        ),
        ("a later joiner: gaps after the first counter count", [_obs(a, p, 57), _obs(a, p, 60)]),
        ("two devices of one member are two streams", [_obs(a, p, 1), _obs(a, lap, 1)]),
        ("an excuse fills exactly one gap", [_obs(a, p, 1), _obs(a, p, 4), _excuse(a, p, 2)]),
        (
            "an excuse ahead of the stream waits for it",
            [_obs(a, p, 1), _excuse(a, p, 3), _obs(a, p, 5)],
        ),
        ("an excuse of a counter read already does nothing", [_obs(a, p, 1), _excuse(a, p, 1)]),
        (
            "an excused counter arriving after all is a replay",
            [_obs(a, p, 1), _excuse(a, p, 2), _obs(a, p, 3), _obs(a, p, 2)],
        ),
        ("a raised floor drops the gaps below it", [_obs(a, p, 1), _obs(a, p, 6), _raise(a, p, 4)]),
        ("a floor never goes down", [_obs(a, p, 10), _raise(a, p, 3), _obs(a, p, 12)]),
        ("a counter seen twice is a replay", [_obs(a, p, 1), _obs(a, p, 2), _obs(a, p, 2)]),
        ("a first counter up to MAX_GAP is taken", [_obs(a, p, 100_000)]),
        ("a jump beyond MAX_GAP is refused", [_obs(a, p, 1), _obs(a, p, 100_003)]),
    ]


def build_counters() -> dict[str, Any]:
    cases = []
    for name, steps in _counter_cases():
        tracker = CounterTracker()
        error: dict[str, Any] | None = None
        for i, step in enumerate(steps):
            sender, device = MemberId(step["sender"]), bytes.fromhex(step["device"])
            try:
                if step["op"] == "observe":
                    tracker.observe(sender, device, step["counter"])
                elif step["op"] == "excuse":
                    tracker.excuse(sender, device, step["counter"])
                else:
                    tracker.raise_floor(sender, device, step["floor"])
            except HearthError as exc:
                error = {"step": i, "code": exc.code}
            # Every step names its stream's floor and highest counter after it (a
            # refused step changes neither), so that each step's stream is checked
            # even where the step changes nothing.
            step["floor_after"] = tracker.floor(sender, device)
            step["highest_after"] = tracker.highest(sender, device)
            if error is not None:
                break
        gaps = [[s, d.hex(), c] for (s, d), cs in sorted(tracker.gaps().items()) for c in cs]
        floors = [[s, d.hex(), tracker.floor(s, d)] for s, d in sorted(tracker.streams())]
        cases.append({"name": name, "steps": steps, "error": error, "gaps": gaps, "floors": floors})
    return {
        "description": (
            "Per-device counters as one receiver tracks them (protocol.md 8.6). Apply the "
            "steps in order to an empty tracker: observe (a message read with this counter), "
            "excuse (a verified signed statement says it never comes), raise_floor (a purge "
            "or an erasure). error is the first step that raises, with its code, or null "
            "(later steps are not applied). gaps: the missing counters above each stream's "
            "floor afterwards, which a complete sync reports as withheld; floors: each "
            "stream's floor (the first counter read minus one, or raised since); floor_after: "
            "the step's stream's floor once the step applied, highest_after its highest "
            "counter (both 0 for a stream not seen; a refused step changes neither). "
            "device is hex."
        ),
        "cases": cases,
    }


# -- a program's risk path ----------------------------------------------------------------


def build_risk() -> dict[str, Any]:
    """The risk path's three bodies, the alert's signature, and one alert sealed to readers.

    A file of its own (added in version 2 without a version bump: new body tags,
    section 1.3 rule 6), so the files written before it stay byte for byte.
    """
    rng = DetRng("risk")
    program = root_of("owner").genesis(rng(16)).room
    buddy_room = root_of("alice").genesis(rng(16)).room
    owner = root_of("owner").room_keys(program)
    supporter = root_of("alice").room_keys(program)
    member = root_of("bob").room_keys(program)
    lines = [
        CrisisResource(
            name="Samaritans",
            regions=["GB", "IE"],
            phone="116 123",
            url="https://www.samaritans.org",
            hours="24/7",
        ),
        CrisisResource(name="Find A Helpline", regions=["*"], url="https://findahelpline.com"),
    ]
    plan = RiskPlanBody(
        text="Stay with them, share these lines, and alert the program's moderators.",
        lines=lines,
    )
    bodies: list[Body] = [plan, RiskHelpBody(text=plan.text, lines=plan.lines)]
    content = RiskAlertContent(
        room=program,
        supporter=supporter.member,
        member=member.member,
        request=new_message_id(rng),
        buddy_room=buddy_room,
        note="They said they have the pills with them tonight.",
        recipients=[owner.member],
        at=T0,
    )
    signed = sign_risk_alert(supporter, content)
    key = rng(crypto.KEY_BYTES)
    readers = sorted([("owner", owner), ("alice", supporter)], key=lambda pair: pair[1].member)
    seeds = {name: rng(32) for name, _ in readers}
    seals = [
        ReportSeal(member=k.member, box=seal_with(k.box_public, key, seeds[name]))
        for name, k in readers
    ]
    ciphertext = crypto.secretbox_encrypt(key, canonical(signed), rng=rng)
    alert = RiskAlertBody(seals=seals, ciphertext=ciphertext)
    bodies.append(alert)
    return {
        "description": (
            "program.risk_plan and support.risk are plain bodies (canonical = "
            "canonical(body)). support.alert is directed like a report: ciphertext = "
            "secretbox(key, canonical(SignedRiskAlert)) with the nonce prepended, key "
            "crypto_box_seal'ed to each reader (seal_with and the recorded ephemeral seed, "
            "see epochs.json); the signature covers CTX_RISK_ALERT || "
            "canonical(RiskAlertContent). A reader opens it with open_directed; a member "
            "not among the seals (non_reader) reads nothing."
        ),
        "rng": RNG_DOC,
        "bodies": [
            {
                "type": type(b).__struct_config__.tag,
                "json": wire(b),
                "canonical": canonical(b).hex(),
            }
            for b in bodies
        ],
        "signatures": [
            _signature(
                "CTX_RISK_ALERT",
                bytes(supporter.signing.verify_key),
                canonical(content),
                signed.sig,
                type="RiskAlertContent",
                json=wire(content),
            )
        ],
        "alert": {
            "room": program,
            "sender": supporter.member,
            "key": key.hex(),
            "signed_canonical": canonical(signed).hex(),
            "readers": [
                {
                    "member": k.member,
                    "root_seed": root_of(name).secret.hex(),
                    "x25519_public": k.box_public.hex(),
                    "ephemeral_seed": seeds[name].hex(),
                }
                for name, k in readers
            ],
            "non_reader": {"member": member.member, "root_seed": root_of("bob").secret.hex()},
        },
    }


# -- driver --------------------------------------------------------------------------------


def build() -> dict[str, Any]:
    """Every vector file's content, by file name."""
    messages = build_messages()
    return {
        "keys.json": {**build_keys(), "device_link": build_device_link()},
        "signatures.json": build_signatures(messages),
        "epochs.json": build_epochs(),
        "messages.json": messages,
        "logs_valid.json": build_logs_valid(),
        "logs_invalid.json": build_logs_invalid(),
        "counters.json": build_counters(),
        "risk.json": build_risk(),
        "names.json": build_names(),
    }


def render(content: Any) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--write", action="store_true", help="rewrite tests/vectors/*.json")
    args = parser.parse_args(argv)
    stale = []
    for name, content in build().items():
        path = VECTORS / name
        text = render(content)
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    if stale:
        print(f"stale vectors (run `make vectors`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HearthError as exc:  # a builder refused its own operation: a bug here
        print(f"vector build failed: {exc}", file=sys.stderr)
        sys.exit(2)
