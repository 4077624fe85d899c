"""The Hearth client SDK: keys, rooms, sync and offline use for front ends.

Start with :class:`Identity` and :class:`HearthClient`; everything a room does is
on :class:`Room`; :meth:`HearthClient.events` yields the typed events below. Every
error is a :class:`protocol.HearthError` with a stable ``code``. Crisis lines
(:class:`CrisisDirectory`) need no identity and show offline. See docs/sdk.md.
"""

from client_sdk._device_links import DeviceLink
from client_sdk._drafts import CRISIS_PHRASES, DraftCheck, check_draft
from client_sdk._schedule import Meeting
from client_sdk.client import HearthClient, PendingDeviceLink
from client_sdk.crisis import (
    DEFAULT_CRISIS_RESOURCES,
    EMERGENCY_ADVICE,
    CrisisDirectory,
    fetch_crisis_directory,
    normalise_region,
)
from client_sdk.errors import (
    BlockError,
    ClientClosed,
    InviteError,
    KeystoreError,
    PostingMuted,
    RelayError,
    RelayUnavailable,
    ReportError,
    RoomBlocked,
    RoomInactive,
    RulesNotAccepted,
    ScheduleError,
    StoreError,
    SupportError,
)
from client_sdk.events import (
    AlarmKind,
    ConnectionChanged,
    Event,
    MemberJoined,
    MemberLeft,
    MemberModerated,
    MemberRemoved,
    MemberRenamed,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    MessagesExpired,
    PersonalDataChanged,
    ProfileChanged,
    ReactionChanged,
    ReportReceived,
    RetentionChanged,
    RoleChanged,
    RulesAccepted,
    RulesChanged,
    ScheduleChanged,
    SecurityAlarm,
    SupportClaimed,
    SupporterStatusChanged,
    SupportRequested,
    SupportWithdrawn,
)
from client_sdk.identity import Identity
from client_sdk.message import (
    Message,
    ModerationEntry,
    ModerationKind,
    RoomMember,
    display_label,
    short_key,
)
from client_sdk.personal import (
    BlockedKeys,
    Note,
    Notes,
    PersonalData,
    Settings,
    SettingValue,
)
from client_sdk.room import Room, RoomFingerprint
from client_sdk.support import RequestStatus, SupporterInfo, SupportRequest
from protocol._version import __version__ as __version__
from protocol.api import CrisisResource
from protocol.errors import LinkError
from protocol.ids import MemberId, MessageId, RoomId
from protocol.ops import Role

__all__ = [
    "CRISIS_PHRASES",
    "DEFAULT_CRISIS_RESOURCES",
    "EMERGENCY_ADVICE",
    "AlarmKind",
    "BlockError",
    "BlockedKeys",
    "ClientClosed",
    "ConnectionChanged",
    "CrisisDirectory",
    "CrisisResource",
    "DeviceLink",
    "DraftCheck",
    "Event",
    "HearthClient",
    "Identity",
    "InviteError",
    "KeystoreError",
    "LinkError",
    "Meeting",
    "MemberId",
    "MemberJoined",
    "MemberLeft",
    "MemberModerated",
    "MemberRemoved",
    "MemberRenamed",
    "Message",
    "MessageDeleted",
    "MessageEdited",
    "MessageId",
    "MessageReceived",
    "MessagesExpired",
    "ModerationEntry",
    "ModerationKind",
    "Note",
    "Notes",
    "PendingDeviceLink",
    "PersonalData",
    "PersonalDataChanged",
    "PostingMuted",
    "ProfileChanged",
    "ReactionChanged",
    "RelayError",
    "RelayUnavailable",
    "ReportError",
    "ReportReceived",
    "RequestStatus",
    "RetentionChanged",
    "Role",
    "RoleChanged",
    "Room",
    "RoomBlocked",
    "RoomFingerprint",
    "RoomId",
    "RoomInactive",
    "RoomMember",
    "RulesAccepted",
    "RulesChanged",
    "RulesNotAccepted",
    "ScheduleChanged",
    "ScheduleError",
    "SecurityAlarm",
    "SettingValue",
    "Settings",
    "StoreError",
    "SupportClaimed",
    "SupportError",
    "SupportRequest",
    "SupportRequested",
    "SupportWithdrawn",
    "SupporterInfo",
    "SupporterStatusChanged",
    "check_draft",
    "display_label",
    "fetch_crisis_directory",
    "normalise_region",
    "short_key",
]
