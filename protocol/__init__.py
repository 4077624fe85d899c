"""Hearth's sans-I/O protocol core: wire types, canonical bytes, crypto, room logs.

No I/O happens here: no sockets, no files, no event loop, no clock or randomness
that a caller cannot replace. The relay and the SDK both build on this package and
run the very same verification code.
"""

from protocol._version import __version__ as __version__
from protocol.backoff import Backoff
from protocol.clock import SYSTEM_CLOCK, Clock, ManualClock
from protocol.counters import CounterTracker
from protocol.encoding import canonical, from_json, from_msgpack, to_json
from protocol.envelope import check_envelope, open_message, seal_message, verify_signature
from protocol.epochs import (
    confirm_tag,
    derive_epoch_secret,
    make_commit,
    message_key,
    open_commit,
    open_history,
)
from protocol.errors import (
    CryptoError,
    DecodeError,
    EnvelopeError,
    ForkDetected,
    HearthError,
    LinkError,
    LogError,
    PhraseError,
)
from protocol.ids import (
    MemberId,
    MessageId,
    RoomId,
    b64url_decode,
    b64url_encode,
    member_id_from_key,
    member_key,
    new_message_id,
    room_id_from_genesis,
)
from protocol.keys import GenesisKey, RoomKeys, RootSeed, room_fingerprint, safety_number
from protocol.ops import PROTOCOL_VERSION, ROLE_RANK, Policy, Role, RoomKind, SignedOp
from protocol.padding import BUCKETS, pad, unpad
from protocol.personal import Document, Entry, LinkCode, LinkPayload, PersonalKeys, merge
from protocol.roomlog import ZERO_HASH, Invite, Member, RoomLog, op_hash
from protocol.signing import (
    InviteKey,
    sign_auth,
    sign_delete,
    sign_op,
    verify_auth,
    verify_delete,
    verify_invite_read,
)

__all__ = [
    "BUCKETS",
    "PROTOCOL_VERSION",
    "ROLE_RANK",
    "SYSTEM_CLOCK",
    "ZERO_HASH",
    "Backoff",
    "Clock",
    "CounterTracker",
    "CryptoError",
    "DecodeError",
    "Document",
    "Entry",
    "EnvelopeError",
    "ForkDetected",
    "GenesisKey",
    "HearthError",
    "Invite",
    "InviteKey",
    "LinkCode",
    "LinkError",
    "LinkPayload",
    "LogError",
    "ManualClock",
    "Member",
    "MemberId",
    "MessageId",
    "PersonalKeys",
    "PhraseError",
    "Policy",
    "Role",
    "RoomId",
    "RoomKeys",
    "RoomKind",
    "RoomLog",
    "RootSeed",
    "SignedOp",
    "b64url_decode",
    "b64url_encode",
    "canonical",
    "check_envelope",
    "confirm_tag",
    "derive_epoch_secret",
    "from_json",
    "from_msgpack",
    "make_commit",
    "member_id_from_key",
    "member_key",
    "merge",
    "message_key",
    "new_message_id",
    "op_hash",
    "open_commit",
    "open_history",
    "open_message",
    "pad",
    "room_fingerprint",
    "room_id_from_genesis",
    "safety_number",
    "seal_message",
    "sign_auth",
    "sign_delete",
    "sign_op",
    "to_json",
    "unpad",
    "verify_auth",
    "verify_delete",
    "verify_invite_read",
    "verify_signature",
]
