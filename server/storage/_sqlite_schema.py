"""SQLite's schema for :mod:`server.storage.sqlite`, as numbered migrations.

Each entry of :data:`MIGRATIONS` is one step, run in its own transaction together
with the bump of ``PRAGMA user_version``; a new version appends a step and never
edits an old one. PostgreSQL's tables (``server/storage/_pg_schema.py``) mirror
these column for column, so both backends hold exactly the same metadata.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS"]

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the first schema.
    (
        """CREATE TABLE rooms (
            id TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            last_ts INTEGER NOT NULL,
            low_water INTEGER NOT NULL DEFAULT 0,
            retention_days INTEGER
        ) STRICT""",
        """CREATE TABLE events (
            room TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('log', 'msg', 'tombstone', 'erased')),
            op_index INTEGER,
            msg_id TEXT,
            sender TEXT,
            digest BLOB,
            data BLOB,
            ref INTEGER,
            PRIMARY KEY (room, seq)
        ) STRICT, WITHOUT ROWID""",
        "CREATE UNIQUE INDEX events_op ON events (room, op_index) WHERE kind = 'log'",
        "CREATE UNIQUE INDEX events_msg ON events (room, msg_id) WHERE kind = 'msg'",
        "CREATE INDEX events_sender ON events (sender, room) WHERE kind = 'msg'",
        """CREATE TABLE members (
            room TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            member TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (room, member)
        ) STRICT, WITHOUT ROWID""",
        "CREATE INDEX members_member ON members (member)",
        """CREATE TABLE sessions (
            token_hash BLOB PRIMARY KEY,
            member TEXT NOT NULL,
            can_create INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        "CREATE INDEX sessions_member ON sessions (member)",
        "CREATE TABLE creators (member TEXT PRIMARY KEY) STRICT, WITHOUT ROWID",
        """CREATE TABLE blobs (
            room TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            owner TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (room, id)
        ) STRICT, WITHOUT ROWID""",
        "CREATE INDEX blobs_owner ON blobs (owner)",
    ),
    # 2: push endpoints, per member key and device (issue 8).
    (
        """CREATE TABLE push_endpoints (
            member TEXT NOT NULL,
            device TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (member, device)
        ) STRICT, WITHOUT ROWID""",
    ),
    # 3: linking devices (sealed offers, claimed once) and personal stores.
    (
        """CREATE TABLE link_offers (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            claimed_at INTEGER,
            data BLOB
        ) STRICT, WITHOUT ROWID""",
        "CREATE INDEX link_offers_owner ON link_offers (owner)",
        "CREATE INDEX link_offers_expiry ON link_offers (expires_at)",
        """CREATE TABLE personal_docs (
            owner TEXT NOT NULL,
            id TEXT NOT NULL,
            version INTEGER NOT NULL,
            size INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (owner, id)
        ) STRICT, WITHOUT ROWID""",
    ),
    # 4: session tokens the relay verifies by their MAC, so no row per session (a
    # session's expiry, to the millisecond, grouped one person's keys: issue 17); no
    # list of creator keys (its order was the order of their sign-ins); the MAC key;
    # revocations of deleted keys' tokens, by the day; per-key times by the day.
    (
        "DROP TABLE sessions",
        "DROP TABLE creators",
        """CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE revoked (
            member TEXT PRIMARY KEY,
            until INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID""",
        "UPDATE push_endpoints SET created_at = created_at - created_at % 86400000",
        "UPDATE personal_docs SET updated_at = updated_at - updated_at % 86400000",
    ),
    # 5: rooms the operator froze (``hearth admin freeze``): no new message or log
    # operation until unfrozen; the time of the freeze, or NULL.
    ("ALTER TABLE rooms ADD COLUMN frozen_at INTEGER",),
    # 6: Web Push (issue 22): whether a registration's endpoint is a browser's push
    # service, which gets an empty body signed with the relay's VAPID key (its key
    # pair is a row of ``secrets``, like the token MAC key).
    ("ALTER TABLE push_endpoints ADD COLUMN web_push INTEGER NOT NULL DEFAULT 0",),
)
