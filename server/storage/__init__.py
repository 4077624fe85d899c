"""Where the relay keeps its state: the :class:`Storage` interface and its SQLite form."""

from server.storage.base import MessageRecord, RoomInfo, SessionRecord, Storage
from server.storage.sqlite import SCHEMA_VERSION, SqliteStorage

__all__ = [
    "SCHEMA_VERSION",
    "MessageRecord",
    "RoomInfo",
    "SessionRecord",
    "SqliteStorage",
    "Storage",
]
