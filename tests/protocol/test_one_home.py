"""Protocol rules defined once: PyNaCl is imported by protocol/crypto.py alone, the
Crockford base32 alphabet is spelled out by protocol/base32.py alone, and the machine's
clock is read by protocol/clock.py alone (everyone else is handed a ``Clock``)."""

from __future__ import annotations

import ast
import pathlib

from tests.architecture import clock_reads

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("protocol", "server", "client_sdk", "hearth_chat", "hearth_cli")
CRYPTO = ROOT / "protocol" / "crypto.py"
BASE32 = ROOT / "protocol" / "base32.py"
CLOCK = ROOT / "protocol" / "clock.py"
CLOCK_PACKAGES = ("protocol", "server", "client_sdk")
"""hearth_chat and hearth_cli are front ends: what they show as "now" is theirs."""
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _sources() -> list[pathlib.Path]:
    paths = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    assert CRYPTO in paths
    assert BASE32 in paths
    return paths


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):  # lazy imports and TYPE_CHECKING blocks included
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_only_protocol_crypto_imports_pynacl() -> None:
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        found = [n for n in _imports(tree) if n.split(".")[0] == "nacl"]
        if found and path != CRYPTO:
            offenders.append((str(path.relative_to(ROOT)), found))
    assert offenders == []


def test_the_crockford_alphabet_is_defined_once() -> None:
    holders = [
        str(path.relative_to(ROOT))
        for path in _sources()
        if any(
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ALPHABET in node.value
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        )
    ]
    assert holders == ["protocol/base32.py"]


def test_only_protocol_clock_reads_the_clock() -> None:
    offenders = {}
    seen = set()
    for package in CLOCK_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            found = list(clock_reads(path.read_text("utf-8")))
            if found:
                seen.add(name)
            if found and path != CLOCK:
                offenders[name] = found
    assert offenders == {}
    assert str(CLOCK.relative_to(ROOT)) in seen  # the scan does see a read


def test_the_clock_scan_sees_every_way_of_reading_it() -> None:
    source = (
        "import time\nimport time as t\nimport datetime\nimport datetime as dt\n"
        "from time import monotonic, time_ns as ns\n"
        "from datetime import UTC, datetime as DT\n"
        "a = time.time()\nb = t.monotonic()\nc = datetime.datetime.now(UTC)\n"
        "d = dt.datetime.now()\ne = monotonic()\nf = ns()\ng = DT.now(UTC)\n"
        "def h(clock=time.monotonic): ...\n"
        "ok = (time.sleep, DT.fromtimestamp(0, tz=UTC), datetime.timedelta(1), t.perf_counter)\n"
    )
    assert sorted(clock_reads(source)) == [
        (7, "time.time"),
        (8, "time.monotonic"),
        (9, "datetime.now"),
        (10, "datetime.now"),
        (11, "time.monotonic"),
        (12, "time.time_ns"),
        (13, "datetime.now"),
        (14, "time.monotonic"),
    ]
