"""Where the relay keeps its state: the :class:`Storage` interface, SQLite and PostgreSQL."""

from server.storage.base import (
    ChallengeRecord,
    MessageRecord,
    PersonalRecord,
    PushTarget,
    RoomInfo,
    SessionRecord,
    Storage,
    day_floor,
)
from server.storage.postgres import PG_SCHEMA_VERSION, PostgresStorage
from server.storage.sqlite import SCHEMA_VERSION, SqliteStorage

__all__ = [
    "PG_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "ChallengeRecord",
    "MessageRecord",
    "PersonalRecord",
    "PostgresStorage",
    "PushTarget",
    "RoomInfo",
    "SessionRecord",
    "SqliteStorage",
    "Storage",
    "day_floor",
]
