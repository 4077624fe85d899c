"""Keeps ``bench/relay.py`` from rotting: a tiny run of Hearth and the baseline.

``make bench`` is not part of CI (it takes half an hour and installs nostr-relay);
this runs the same harness for a few seconds and checks that every figure it prints
parses and that no acknowledged message went missing on the way to the other nine
members.
"""

from __future__ import annotations

import json
import math
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

_NUMBER = r"[\d,]+(?:\.\d+)?"
_SPREAD = rf"{_NUMBER}(?: \[{_NUMBER}\.\.{_NUMBER}\])?"
_INGEST = re.compile(
    rf"^(hearth|baseline) +ingest +(saturation|paced) +{_SPREAD} msg/s acked;"
    rf" ack p50 {_SPREAD} ms, p99 {_SPREAD} ms"
)
_FANOUT = re.compile(
    rf"^(hearth|baseline) +fan-out +(saturation|paced) +{_SPREAD} deliveries/s;"
    rf" send-to-receive p50 {_SPREAD} ms, p99 {_SPREAD} ms"
)
_DELIVERY = re.compile(
    r"^(hearth|baseline) +delivery +(saturation|paced) +lost (\d+) of ([\d,]+) acked messages"
    r" x 9 other members; unacked (\d+), errors (\d+)$"
)
_CATCHUP = re.compile(rf"^hearth +catch-up ([\d,]+) messages in {_NUMBER} s")
_CONNECTIONS = re.compile(rf"^(hearth|baseline) +connections 20 idle: {_NUMBER} KiB each")
_RELAY = re.compile(rf"^(hearth|baseline) +relay +cpu {_SPREAD} s per .* peak RSS {_NUMBER} MiB;")


def test_tiny_run_prints_every_figure_and_loses_nothing(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "relay.py"),
            "--only=hearth,baseline",
            "--duration=1.5",
            "--warmup=0.5",
            "--reps=1",
            "--catchup=200",
            "--connections=20",
            f"--json={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()

    def matching(pattern: re.Pattern[str]) -> list[re.Match[str]]:
        return [m for line in lines if (m := pattern.match(line))]

    assert len(matching(_INGEST)) == 4, proc.stdout
    assert len(matching(_FANOUT)) == 4, proc.stdout
    assert len(matching(_CONNECTIONS)) == 2, proc.stdout
    assert len(matching(_RELAY)) == 2, proc.stdout
    catchup = matching(_CATCHUP)
    assert [m.group(1) for m in catchup] == ["200"], proc.stdout
    deliveries = matching(_DELIVERY)
    assert len(deliveries) == 4, proc.stdout
    for m in deliveries:
        lost, acked, unacked, errors = m.group(3), m.group(4), m.group(5), m.group(6)
        assert (lost, unacked, errors) == ("0", "0", "0"), m.group(0)
        assert int(acked.replace(",", "")) > 0, m.group(0)

    figures = json.loads(out.read_text())["systems"]
    for system in ("hearth", "baseline"):
        for phase in ("saturation", "paced"):
            summary = figures[system]["summary"][phase]
            assert summary["lost"] == 0
            for key in ("ingest", "deliveries", "ack_p50", "ack_p99", "deliver_p99"):
                value = summary[key]["median"]
                assert math.isfinite(value), (system, phase, key)
                assert value > 0, (system, phase, key)


def test_the_reconnect_bench_brings_every_client_back_and_counts_attempts(
    tmp_path: pathlib.Path,
) -> None:
    out = tmp_path / "reconnect.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "reconnect.py"),
            "--clients=4",
            "--down=2",
            f"--json={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("reconnect graceful 4 clients: back after /readyz p50") == 1
    assert proc.stdout.count("reconnect crash    4 clients: back after /readyz p50") == 1
    assert "attempts while down:" in proc.stdout
    graceful, crash = json.loads(out.read_text())
    assert (graceful["scenario"], crash["scenario"]) == ("graceful", "crash")
    for result in (graceful, crash):
        back = result["back_after_ready_s"]
        assert 0 <= back["p50"] <= back["p95"] <= back["p99"] <= back["max"]
    assert crash["attempts"]["total"] > 0  # the stand-in listener saw the clients knock
