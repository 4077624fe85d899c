"""Break 4 of issue 17: a reader of the relay's disk cannot group one person's keys.

The attack: session rows kept ``expires_at`` to the millisecond for a week, and the
SDK signs in all of a person's keys one after another, so grouping the rows by
expiry recovered exactly each person's rooms and personal-store key.

The scenario runs a real ``hearth serve`` (SQLite in ``tmp_path``; and two instances
sharing one PostgreSQL database when ``HEARTH_TEST_POSTGRES_URL`` is set, the
restarted apps spread over both) behind passive
:class:`~tests.security.proxy.HostileProxy` proxies that only count sign-ins. Three
people, through the public SDK, create six rooms and join each other's, so their
rooms overlap; each person holds a key per room and a personal-store key. Then
every app restarts: each opens its store again and syncs, signing in every key it
holds back to back (the burst that grouped them).

The thief then reads every table and every column, in storage order (SQLite's
table order, PostgreSQL's ``ctid``), and tries every grouping: equal or near
times (every integer that can be a time in milliseconds, per column and across
columns), and adjacent rows.

**What chance means, precisely.** The thief knows the set of keys on disk and that
two keys of one room are never one person's (a person has one key per room). For a
key ``k`` its candidates ``C(k)`` are the keys sharing no room with it, and ``S(k)``
those among them that are ``k``'s person's. A heuristic scores each candidate
(distance in time, distance in rows) and guesses one of the best-scored ones,
``T(k)``, at random (if ``k`` or no candidate has a score, ``T(k) = C(k)``); it is
right with probability ``|S(k) ∩ T(k)| / |T(k)|``. Guessing blindly is right with
probability ``|S(k)| / |C(k)|``. "No better than chance" is: the sum over all keys
of the first is at most the sum of the second, for every heuristic.

The rooms' own histories (``events``, ``members``, ``rooms``, ``blobs``: what each
key did in its room, when, in order) are not the thief's material here: the relay
must keep them to serve sync and retention, and docs/security.md lists when each
key acts in its room as what the relay knows. What this test holds the relay to is
everything else it writes: sign-ins and sessions (nothing at all, checked first),
the personal store, push endpoints, revocations, pending challenges, secrets. On
SQLite every such table is also checked to be stored in the order of its primary
key, whose values naming keys are keys or random ids: the row order says nothing a
random order would not.

A last test restarts the relay itself: tokens keep working, so no key signs in
again (no burst of sign-ins that would group them anew).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from client_sdk import HearthClient, Identity
from protocol.ids import b64url_decode
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.server.backends import postgres_schema

PEOPLE = ("alice", "bob", "carol")
HISTORY = frozenset({"events", "members", "rooms", "blobs"})
"""Tables of room history, left out of the thief's material (module docstring)."""
TIME_FLOOR = 10**12
"""Integers at least this large may be times in milliseconds (after 2001)."""

Row = tuple[Any, ...]
Dump = dict[str, tuple[list[str], list[Row]]]
"""Table -> (column names, rows in storage order)."""


class Deployment:
    """A relay process behind a proxy that counts sign-ins (on PostgreSQL, two of them)."""

    def __init__(self, pg: str | None) -> None:
        self.instances: list[tuple[RelayProcess, HostileProxy]] = []
        self.pg = pg
        self.sign_ins: list[str] = []

    @property
    def relay(self) -> RelayProcess:
        return self.instances[0][0]

    @property
    def proxy(self) -> HostileProxy:
        return self.instances[0][1]

    def url(self, i: int) -> str:
        """The proxy of instance ``i`` (the last one if there are fewer)."""
        return self.instances[min(i, len(self.instances) - 1)][1].url

    async def dump(self) -> Dump:
        if self.pg is not None:
            return await _dump_postgres(self.pg)
        return _dump_sqlite(self.relay.data_dir / "hearth.db")  # one instance on SQLite


@asynccontextmanager
async def _deployment(backend: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    async with AsyncExitStack() as stack:
        env: dict[str, str] = {}
        pg: str | None = None
        if backend == "postgres":
            pg, _ = await stack.enter_async_context(postgres_schema())
            env["HEARTH_DATABASE_URL"] = pg
        deployment = Deployment(pg)

        async def count(method: str, path: str, status: int, body: bytes) -> bytes:
            if path.endswith("/v1/auth/session") and status == 200:
                deployment.sign_ins.append(path)
            return body

        # Several instances share one PostgreSQL database (and its token secret).
        for i in range(2 if pg is not None else 1):
            data = tmp_path / f"relay-data-{i}"
            data.mkdir()
            proxy = HostileProxy()
            process = RelayProcess(data, HEARTH_ORIGIN=proxy.url, **env)
            await asyncio.to_thread(process.start)
            stack.push_async_callback(asyncio.to_thread, process.stop)
            proxy.upstream = process.url
            await proxy.start()
            stack.push_async_callback(proxy.stop)
            proxy.on_response = count
            deployment.instances.append((process, proxy))
        yield deployment


def _dump_sqlite(path: Path) -> Dump:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        dump: Dump = {}
        for table in tables:
            cur = conn.execute(f'SELECT * FROM "{table}"')  # the table's own order
            columns = [d[0] for d in cur.description]
            dump[table] = (columns, [tuple(r) for r in cur.fetchall()])
        return dump
    finally:
        conn.close()


def _sqlite_primary_key_order(path: Path) -> dict[str, bool]:
    """Per table: whether its storage order is the order of its primary key."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = {}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
            order = ", ".join(f'"{c}"' for c in pk) if pk else "rowid"
            stored = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            by_key = conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()
            result[table] = stored == by_key
        return result
    finally:
        conn.close()


async def _dump_postgres(url: str) -> Dump:
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " ORDER BY tablename"
            )
        ]
        dump: Dump = {}
        for table in tables:
            rows = await conn.fetch(f'SELECT ctid::text AS ctid, * FROM "{table}" ORDER BY ctid')
            columns = list(rows[0].keys()) if rows else []
            dump[table] = (columns, [tuple(r.values()) for r in rows])
        return dump
    finally:
        await conn.close()


# -- the people --------------------------------------------------------------------


async def _open(
    deployment: Deployment, tmp_path: Path, ids: dict[str, Identity], *, spread: bool = False
) -> Any:
    """Open every person's app; with ``spread``, on instances in turn (PostgreSQL)."""
    stack = AsyncExitStack()
    clients = {}
    for i, name in enumerate(PEOPLE):
        url = deployment.url(i % 2 if spread else 0)
        client = HearthClient(url, ids[name], store_path=tmp_path / f"{name}.db", live=False)
        clients[name] = await stack.enter_async_context(client)
    return stack, clients


async def _overlapping_rooms(clients: dict[str, HearthClient]) -> None:
    """Six rooms, two created by each person in turn, joined by the others in turn."""
    creators = ["alice", "bob", "carol", "alice", "bob", "carol"]
    joiners = [["bob"], ["carol"], ["alice"], ["bob", "carol"], ["alice"], ["bob"]]
    links = []
    for i, name in enumerate(creators):
        room = await clients[name].create_group(f"room {i}")
        links.append(await room.create_invite(max_uses=5))
    for link, names in zip(links, joiners, strict=True):
        for name in names:
            await clients[name].join(link)


def _truth(clients: dict[str, HearthClient], ids: dict[str, Identity]) -> dict[str, str]:
    """Every key -> its person."""
    owner = {}
    for name, client in clients.items():
        for room in client.rooms:
            owner[str(room.me)] = name
        owner[str(ids[name].personal_keys().member)] = name
    return owner


def _rooms_of(dump: Dump, keys: Iterable[str]) -> dict[str, set[Any]]:
    columns, rows = dump["members"]
    room_col, member_col = columns.index("room"), columns.index("member")
    rooms: dict[str, set[Any]] = {k: set() for k in keys}
    for row in rows:
        rooms.setdefault(row[member_col], set()).add(row[room_col])
    return rooms


# -- the thief ---------------------------------------------------------------------


def _is_key(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 43:
        return False
    try:
        return len(b64url_decode(value)) == 32
    except Exception:
        return False


Score = Callable[[str, str], float | None]


def _guess_rate(
    keys: Sequence[str],
    person: dict[str, str],
    rooms: dict[str, set[Any]],
    score: Score,
) -> tuple[float, float]:
    """(expected right guesses of the heuristic, of blind guessing): module docstring."""
    hits = chance = 0.0
    for k in keys:
        candidates = [j for j in keys if j != k and not rooms[k] & rooms[j]]
        same = {j for j in candidates if person[j] == person[k]}
        if not candidates:
            continue
        chance += len(same) / len(candidates)
        scored = {j: s for j in candidates if (s := score(k, j)) is not None}
        if scored:
            best = min(scored.values())
            top = [j for j, s in scored.items() if s == best]
        else:
            top = candidates
        hits += len(same.intersection(top)) / len(top)
    return hits, chance


def _features(dump: Dump, keys: set[str]) -> tuple[dict[Any, dict[str, list[int]]], ...]:
    """Per column, and per table: the times and the row positions of each key's rows."""
    times: dict[Any, dict[str, list[int]]] = {}
    positions: dict[Any, dict[str, list[int]]] = {}
    for table, (columns, rows) in dump.items():
        if table in HISTORY:
            continue
        for position, row in enumerate(rows):
            named = [v for v in row if isinstance(v, str) and v in keys]
            for key in named:
                positions.setdefault(table, {}).setdefault(key, []).append(position)
                for column, value in zip(columns, row, strict=True):
                    if (
                        isinstance(value, int)
                        and not isinstance(value, bool)
                        and value >= TIME_FLOOR
                    ):
                        times.setdefault((table, column), {}).setdefault(key, []).append(value)
                        times.setdefault("any", {}).setdefault(key, []).append(value)
    return times, positions


def _distance(values: dict[str, list[int]]) -> Score:
    def score(k: str, j: str) -> float | None:
        if k not in values or j not in values:
            return None
        return float(min(abs(a - b) for a in values[k] for b in values[j]))

    return score


def _thief(dump: Dump, person: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Every grouping the thief tries -> (its expected right guesses, chance's)."""
    found = {
        v
        for _, rows in dump.values()
        for row in rows
        for v in row
        if isinstance(v, str) and _is_key(v)
    }
    keys = sorted(found & set(person))
    rooms = _rooms_of(dump, keys)
    times, positions = _features(dump, set(keys))
    results = {}
    for column, values in times.items():
        results[f"near times in {column}"] = _guess_rate(keys, person, rooms, _distance(values))
    for table, values in positions.items():
        results[f"adjacent rows of {table}"] = _guess_rate(keys, person, rooms, _distance(values))
    return results


# -- the tests ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_thief_of_the_relays_disk_cannot_group_a_persons_keys(
    backend: str, tmp_path: Path
) -> None:
    async with _deployment(backend, tmp_path) as deployment:
        ids = {name: Identity.generate() for name in PEOPLE}
        stack, clients = await _open(deployment, tmp_path, ids)
        async with stack:
            await _overlapping_rooms(clients)
            for client in clients.values():  # creators greet their newcomers (room history)
                await client.sync()
            person = _truth(clients, ids)
        assert len(person) == 3 + 13  # a personal key each, and 13 room keys

        # Every app restarts and signs in all its keys, one after another (on
        # PostgreSQL, alice and carol through the second instance).
        before = await deployment.dump()
        deployment.sign_ins.clear()
        stack, clients = await _open(deployment, tmp_path, ids, spread=True)
        async with stack:
            for client in clients.values():
                await client.sync()
        assert len(deployment.sign_ins) >= 13  # every room key signed in again
        after = await deployment.dump()

        # Signing in wrote nothing: no row, no time, no order.
        assert after == before
        assert "sessions" not in after

        results = _thief(after, person)
        assert any(name.startswith("near times") for name in results)  # it had material
        for name, (hits, chance) in results.items():
            assert hits <= chance + 1e-9, (name, hits, chance)
        if backend == "sqlite":
            order = _sqlite_primary_key_order(deployment.relay.data_dir / "hearth.db")
            assert all(v for table, v in order.items() if table not in HISTORY), order


async def test_a_relay_restart_needs_no_new_sign_in(tmp_path: Path) -> None:
    async with _deployment("sqlite", tmp_path) as deployment:
        ids = {name: Identity.generate() for name in PEOPLE}
        stack, clients = await _open(deployment, tmp_path, ids)
        async with stack:
            await _overlapping_rooms(clients)
            for client in clients.values():
                await client.sync()
            deployment.sign_ins.clear()
            await asyncio.to_thread(deployment.relay.restart)
            for client in clients.values():
                await client.sync()
                room = client.rooms[0]
                await room.send("still signed in")
            # Every key's token still works: not one sign-in after the restart.
            assert deployment.sign_ins == []
