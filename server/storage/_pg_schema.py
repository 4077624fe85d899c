"""PostgreSQL's schema for :mod:`server.storage.postgres`, as numbered migrations.

Each entry of :data:`MIGRATIONS` is one step, applied in one transaction together
with the bump of ``schema_version``; a new version appends a step and never edits
an old one. The tables mirror SQLite's (``server/storage/sqlite.py``), column for
column, so both backends hold exactly the same metadata.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS"]

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the first schema (SQLite's version 1, plus the shared challenge table).
    (
        """CREATE TABLE rooms (
            id text PRIMARY KEY,
            created_at bigint NOT NULL,
            last_seq bigint NOT NULL,
            last_ts bigint NOT NULL,
            low_water bigint NOT NULL DEFAULT 0,
            retention_days integer
        )""",
        """CREATE TABLE events (
            room text NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            seq bigint NOT NULL,
            ts bigint NOT NULL,
            kind text NOT NULL CHECK (kind IN ('log', 'msg', 'tombstone', 'erased')),
            op_index integer,
            msg_id text,
            sender text,
            digest bytea,
            data bytea,
            ref bigint,
            PRIMARY KEY (room, seq)
        )""",
        # Ciphertext does not compress: store it out of line without trying.
        "ALTER TABLE events ALTER COLUMN data SET STORAGE EXTERNAL",
        "CREATE UNIQUE INDEX events_op ON events (room, op_index) WHERE kind = 'log'",
        "CREATE UNIQUE INDEX events_msg ON events (room, msg_id) WHERE kind = 'msg'",
        "CREATE INDEX events_sender ON events (sender, room) WHERE kind = 'msg'",
        """CREATE TABLE members (
            room text NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            member text NOT NULL,
            role text NOT NULL,
            PRIMARY KEY (room, member)
        )""",
        "CREATE INDEX members_member ON members (member)",
        """CREATE TABLE sessions (
            token_hash bytea PRIMARY KEY,
            member text NOT NULL,
            can_create boolean NOT NULL,
            expires_at bigint NOT NULL
        )""",
        "CREATE INDEX sessions_member ON sessions (member)",
        "CREATE TABLE creators (member text PRIMARY KEY)",
        """CREATE TABLE blobs (
            room text NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
            id text NOT NULL,
            owner text NOT NULL,
            size integer NOT NULL,
            created_at bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (room, id)
        )""",
        "ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL",
        "CREATE INDEX blobs_owner ON blobs (owner)",
        """CREATE UNLOGGED TABLE challenges (
            challenge bytea PRIMARY KEY,
            member text NOT NULL,
            expires_at bigint NOT NULL,
            pow_difficulty integer NOT NULL
        )""",
        "CREATE INDEX challenges_expiry ON challenges (expires_at)",
    ),
    # 2: the room's last log index on its row, so that a write checks it in the same
    # statement that locks the row and takes the next seq (one round trip, not two).
    (
        "ALTER TABLE rooms ADD COLUMN log_index integer NOT NULL DEFAULT -1",
        """UPDATE rooms SET log_index = coalesce(
            (SELECT max(op_index) FROM events WHERE room = rooms.id AND kind = 'log'), -1
        )""",
    ),
    # 3: push endpoints (issue 8), and which instance holds a live stream of which key
    # (UNLOGGED like challenges: it describes sockets, worthless after a crash).
    (
        """CREATE TABLE push_endpoints (
            member text NOT NULL,
            device text NOT NULL,
            endpoint text NOT NULL,
            created_at bigint NOT NULL,
            PRIMARY KEY (member, device)
        )""",
        """CREATE UNLOGGED TABLE presence (
            member text NOT NULL,
            instance text NOT NULL,
            expires_at bigint NOT NULL,
            PRIMARY KEY (member, instance)
        )""",
        "CREATE INDEX presence_instance ON presence (instance)",
    ),
    # 4: linking devices (sealed offers, claimed once) and personal stores.
    (
        """CREATE TABLE link_offers (
            id text PRIMARY KEY,
            owner text NOT NULL,
            created_at bigint NOT NULL,
            expires_at bigint NOT NULL,
            claimed_at bigint,
            data bytea
        )""",
        "CREATE INDEX link_offers_owner ON link_offers (owner)",
        "CREATE INDEX link_offers_expiry ON link_offers (expires_at)",
        """CREATE TABLE personal_docs (
            owner text NOT NULL,
            id text NOT NULL,
            version bigint NOT NULL,
            size integer NOT NULL,
            updated_at bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (owner, id)
        )""",
        "ALTER TABLE personal_docs ALTER COLUMN data SET STORAGE EXTERNAL",
    ),
    # 5: session tokens the relay verifies by their MAC, so no row per session (a
    # session's expiry, to the millisecond, grouped one person's keys: issue 17); no
    # list of creator keys (its physical order was the order of their sign-ins); the
    # MAC key; revocations of deleted keys' tokens, by the day; challenges that name no
    # key; per-key times by the day.
    (
        "DROP TABLE sessions",
        "DROP TABLE creators",
        """CREATE TABLE secrets (
            name text PRIMARY KEY,
            value bytea NOT NULL
        )""",
        """CREATE TABLE revoked (
            member text PRIMARY KEY,
            until bigint NOT NULL
        )""",
        "DELETE FROM challenges",
        "ALTER TABLE challenges DROP COLUMN member",
        "UPDATE push_endpoints SET created_at = created_at - created_at % 86400000",
        "UPDATE personal_docs SET updated_at = updated_at - updated_at % 86400000",
    ),
    # 6: rooms the operator froze (``hearth admin freeze``): no new message or log
    # operation until unfrozen; the time of the freeze, or NULL.
    ("ALTER TABLE rooms ADD COLUMN frozen_at bigint",),
    # 7: Web Push (issue 22): whether a registration's endpoint is a browser's push
    # service (an empty body signed with the relay's VAPID key, kept in ``secrets``).
    ("ALTER TABLE push_endpoints ADD COLUMN web_push boolean NOT NULL DEFAULT false",),
)
