"""Schemathesis against the relay's own OpenAPI document: every operation, every check.

A real relay (uvicorn on a free loopback port, its own thread and event loop, a real
SQLite file) serves ``/schema/openapi.json``; schemathesis derives requests from it,
valid and invalid, and runs all its checks on each answer: no server error, every
status documented, every body valid against its schema, content types as declared,
invalid input refused, undocumented methods answered 405. Requests carry the bearer
token of a room owner, so that generated bodies reach the handlers instead of all
stopping at ``auth.required``; the generated room ids mostly name no room, which is
the ``room.not_found`` path every stranger takes. ``MAX_EXAMPLES`` bounds CI time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from protocol import ManualClock
from server.app import create_app
from server.config import Config
from tests.server.conftest import make_config
from tests.server.helpers import Room, create, login

MAX_EXAMPLES = 25


@dataclasses.dataclass
class _Http:
    http: httpx.AsyncClient


@dataclasses.dataclass
class Server:
    base_url: str
    token: str
    """A room owner's: it reaches the handlers of every room-scoped route."""
    roomless: str
    """A key in no room's: ``account/delete`` with it is valid without a ``leave``."""


@contextlib.contextmanager
def running(config: Config) -> Iterator[str]:
    """A relay under uvicorn in a thread of its own; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), log_config=None, access_log=False, lifespan="on")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        for _ in range(1000):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "the relay did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = make_config(Path(tmp_path_factory.mktemp("schema")))
    with running(config) as base_url:

        async def tokens() -> tuple[str, str]:
            async with httpx.AsyncClient(base_url=base_url) as http:
                _, token = await create(_Http(http), ManualClock())
                roomless = await login(http, Room().keys("nobody"), create=False)
                return token, roomless.token

        yield Server(base_url, *asyncio.run(tokens()))


def _whole_numbers_as_integers(value: Any) -> Any:
    """``2.0`` spelled ``2``: JSON Schema counts ``2.0`` as an integer and cannot say
    otherwise, but protocol.md 2.2 refuses it (the relay answers ``wire.malformed``,
    ``test_trust_wire.py``), so a valid example spells its integers as integers. The
    protocol has no floats: any other float is in an unknown key, ignored either way."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers_as_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_integers(v) for v in value]
    return value


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_operation_conforms(server: Server, mode: GenerationMode) -> None:
    api = schemathesis.openapi.from_url(server.base_url + "/schema/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    nothing_to_break: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1
        # A member must include its signed leave to delete its account (a 400 that
        # depends on state, not on the body); a room-less key needs none.
        token = server.roomless if operation.path == "/v1/account/delete" else server.token
        auth = {"Authorization": f"Bearer {token}"}

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            if mode is GenerationMode.POSITIVE:
                case.body = _whole_numbers_as_integers(case.body)
            case.call_and_validate(headers=auth)  # noqa: B023 - runs in this iteration

        try:
            check()
        except Unsatisfiable:
            # Nothing to make invalid: no parameters, or only path parameters that take
            # any string (a malformed room, blob, link or document id answers 404 like
            # an unknown one),
            # or a body of any bytes (an attachment is opaque ciphertext).
            assert mode is GenerationMode.NEGATIVE, operation.label
            nothing_to_break.append(operation.label)
        except (AssertionError, BaseExceptionGroup) as exc:  # report every operation's
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert operations >= 16
    assert set(nothing_to_break) <= {
        "GET /healthz",
        "GET /readyz",
        "GET /v1/push/vapid",  # no parameters, no body: the relay's public VAPID key
        "GET /v1/rooms/{room}/blobs/{blob}",
        "POST /v1/rooms/{room}/blobs",
        # A malformed link or document id answers 404 like an unknown one.
        "POST /v1/links/{link}/claim",
        "GET /v1/personal",
        "GET /v1/personal/{doc}",
    }, nothing_to_break
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
