"""The databases and pub/subs the relay tests run against, and how each test gets its own.

SQLite needs nothing. PostgreSQL and Redis are the machine's own services, named by
``HEARTH_TEST_POSTGRES_URL`` and ``HEARTH_TEST_REDIS_URL`` (``.ci/run`` sets them when
the ports answer); a test that needs one that is not set is skipped, saying which.
Each test gets a fresh PostgreSQL schema (the relay reaches it through
``?search_path=``, dropped afterwards) and a pub/sub channel of its own, so tests
and concurrent test runs never see each other's rows or events.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

POSTGRES_ENV = "HEARTH_TEST_POSTGRES_URL"
REDIS_ENV = "HEARTH_TEST_REDIS_URL"

BACKENDS = ("sqlite", "postgres")
"""The storage backends every relay test runs on."""


def postgres_url() -> str:
    """The test server's URL, or skip the test."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} not set")
    return url


def redis_url() -> str:
    """The test Redis's URL, or skip the test."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} not set")
    return url


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("search_path", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def unique_name(prefix: str = "hearth_t") -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[tuple[str, str]]:
    """A fresh schema: yields (URL whose search_path is it, its name); dropped afterwards."""
    base = postgres_url()
    name = unique_name()
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    try:
        yield with_search_path(base, name), name
    finally:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        finally:
            await conn.close()


@asynccontextmanager
async def config_changes(backend: str) -> AsyncIterator[dict[str, Any]]:
    """Config settings that put a relay on ``backend`` ("sqlite" or "postgres").

    On PostgreSQL the relay also fans out over LISTEN/NOTIFY, so every relay test
    exercises the cross-instance hub too (with one instance it hears only itself).
    """
    if backend == "sqlite":
        yield {}
        return
    async with postgres_schema() as (url, name):
        yield {"database_url": url, "pubsub": "postgres", "pubsub_channel": name}
