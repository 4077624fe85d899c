"""The Prometheus metrics: off by default, on a private port, about the relay and no person."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from client_sdk import HearthClient, Identity
from protocol import ManualClock
from server.config import Config
from server.metrics import CONTENT_TYPE, Metrics
from tests.client_sdk.conftest import RelayProcess, free_port
from tests.security.test_crash_durability import _token
from tests.server.helpers import new_room, post

_SAMPLE = re.compile(r"^([a-z_]+)(\{[a-z]+=\"[^\"]*\"\})? (\S+)$")


def _samples(text: str) -> dict[str, float]:
    """``name{label="v"}`` -> value, checking every line is a comment or a sample."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a text-format sample: {line!r}"
        found[match[1] + (match[2] or "")] = float(match[3])
    return found


def test_metrics_are_off_by_default() -> None:
    assert Config().metrics_port == 0


def test_the_text_format() -> None:
    metrics = Metrics(lambda: 3)
    metrics.committed(0.002, 5, False)
    metrics.committed(0.3, 1, False)
    metrics.committed(0.01, 0, True)
    metrics.refused("send")
    metrics.refused("send")
    metrics.storage_error()
    samples = _samples(metrics.render().decode())
    assert samples["hearth_streams_open"] == 3
    assert samples["hearth_messages_stored_total"] == 6
    assert samples["hearth_storage_errors_total"] == 1
    assert samples["hearth_commit_failures_total"] == 1
    assert samples['hearth_rate_limited_total{bucket="send"}'] == 2
    assert samples['hearth_commit_seconds_bucket{le="0.001"}'] == 0
    assert samples['hearth_commit_seconds_bucket{le="0.0025"}'] == 1
    assert samples['hearth_commit_seconds_bucket{le="0.5"}'] == 2
    assert samples['hearth_commit_seconds_bucket{le="+Inf"}'] == 2
    assert samples["hearth_commit_seconds_count"] == 2
    assert samples["hearth_commit_seconds_sum"] == 0.302


async def test_a_relay_serves_its_metrics_on_the_private_port(tmp_path: Path) -> None:
    data = tmp_path / "relay-data"
    data.mkdir()
    port = free_port()
    relay = RelayProcess(data, HEARTH_METRICS_PORT=str(port), HEARTH_RATE_SEND="1/4")
    await asyncio.to_thread(relay.start)
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(metrics_url)
            assert r.status_code == 200
            assert r.headers["content-type"] == CONTENT_TYPE
            assert _samples(r.text)["hearth_messages_stored_total"] == 0
            assert (await http.get(f"{relay.url}/metrics")).status_code == 404  # not public
            assert (await http.get(f"http://127.0.0.1:{port}/other")).status_code == 404

            room = new_room(ManualClock())
            token = await _token(relay.url, room, "owner")
            r = await post(http, f"{relay.url}/v1/rooms", room.log.ops[0], token)
            assert r.status_code == 201, r.text
            codes = []
            for i in range(6):  # a burst of 4: the last ones are refused
                envelope = room.send("owner", f"m{i}")
                url = f"{relay.url}/v1/rooms/{room.room}/messages"
                codes.append((await post(http, url, envelope, token)).status_code)
            assert 429 in codes
            r = await http.get(metrics_url)
            samples = _samples(r.text)
            assert samples["hearth_messages_stored_total"] == codes.count(200)
            assert samples["hearth_commit_seconds_count"] >= 1
            assert samples['hearth_rate_limited_total{bucket="send"}'] == codes.count(429)
            # Nothing about a person: no room id, no key.
            assert room.room not in r.text
            assert room.member("owner") not in r.text

            async with HearthClient(
                relay.url, Identity.generate(), store_path=tmp_path / "a.db"
            ) as client:
                await client.create_group("Watched")

                async def streams() -> float:
                    return _samples((await http.get(metrics_url)).text)["hearth_streams_open"]

                async with asyncio.timeout(20):
                    while await streams() < 1:
                        await asyncio.sleep(0.05)
            async with asyncio.timeout(20):
                while await streams() > 0:
                    await asyncio.sleep(0.05)
    finally:
        await asyncio.to_thread(relay.stop)
