"""The web app in a real browser: what a first visit downloads, how soon crisis help
shows, and how fast a browser tab catches up with 10,000 messages (issue 22).

One ``hearth serve`` on loopback (SQLite in a temporary directory, the rate limits
raised as the SDK tests raise them) serves a fresh build of ``js/web``
(``node js/web/scripts/build.mjs --out DIR``, then ``HEARTH_WEB_ROOT=DIR``), so the
figures are for the current sources, not for the packaged copy in ``server/web``.
Headless Chromium (``HEARTH_CHROMIUM``, else ``/usr/bin/chromium``) is driven by
playwright-core from ``js/web/bench/web.mjs``; every wait there is on an event or a
condition in the page, never a fixed time.

1. **First load.** A fresh browser context opens ``/`` and every response is counted
   until the page's network has been quiet for 500 ms (playwright's ``networkidle``)
   and nothing the context started is still in flight (a service worker's installs
   included). The figure is each response's body as it crossed the wire: playwright's
   ``responseBodySize``, which is the gzip-encoded size (it equals the relay's
   ``Content-Length`` of the gzip answer; both are printed when they differ).
   Response headers are printed apart. Beside it: the total if ``app.js`` held the
   whole SDK with libsodium (the app's own build options, every SDK export kept,
   gzip level 9 as the relay compresses), since the first screen does not load the
   crypto yet. Target: under 1 MB with the SDK and its crypto.
2. **First screen.** ``--loads`` cold loads, a fresh context each: from navigation
   start to the paint of the ``h2`` "If you need help now" (Chromium's Element
   Timing, set on the heading as it enters the document), median with min and max;
   also when the heading entered the document, and the first contentful paint.
3. **Catch-up.** ``--rounds`` browser profiles (each a persistent Chromium profile)
   open ``bench-catchup.html`` (``js/web/bench/catchup.ts``, written into the same web
   root: the relay's own origin, as the app is served) and join a group made by a
   Python SDK member, then close. That member sends ``--catchup`` texts; each profile
   opens the page again (same IndexedDB) and runs one ``sync()`` without a live
   stream, then reads every message back. Timed from navigation start to all read;
   the JS heap (devtools ``Runtime.getHeapUsage``) after, and after a forced
   collection. Between the two browser rounds, a Node member catches up with
   ``js/sdk/bench/catchup.mjs`` (file store), for a figure of this run's load to
   compare with. A round in which a message did not verify or an alarm was raised
   is an error.

This script reports; it is not a test. ``make bench`` runs it after
``bench/sdk_js.py``; without Node 20+ or Chromium it says so and exits 0.

    .venv/bin/python bench/web.py                  # 15 timed loads, 10,000 messages
    .venv/bin/python bench/web.py --catchup 500    # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/protocol.py must not shadow the protocol package

WEB = ROOT / "js" / "web"
SDK = ROOT / "js" / "sdk"
DRIVER = WEB / "bench" / "web.mjs"
CHROMIUM = os.environ.get("HEARTH_CHROMIUM", "/usr/bin/chromium")
TARGET_BYTES = 1_000_000
"""Issue 22: the first load under 1 MB with the SDK and its crypto."""


def node_major() -> int | None:
    """Node's major version, or None without Node."""
    if shutil.which("node") is None:
        return None
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().lstrip("v").split(".")[0])


def driver(*args: str) -> dict[str, Any]:
    """Run one mode of ``web.mjs``; its last line of output is the JSON result."""
    proc = subprocess.run(["node", str(DRIVER), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"web.mjs {args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


async def adriver(*args: str) -> dict[str, Any]:
    """:func:`driver` without blocking the event loop (the Python member's client)."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(DRIVER),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"web.mjs {args[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def bundle_sizes(work: pathlib.Path) -> dict[str, dict[str, int]]:
    """The app's bundle, the same with the whole SDK kept, the SDK alone: minified, gzip.

    Compressed as the relay compresses the app's files (``server.webapp``: level 9,
    no timestamp), so the app's own figure equals what the first load received.
    """
    out = work / "bundles"
    out.mkdir()
    driver("sdk-size", str(out))
    sizes = {}
    for name, key in (("app.js", "app"), ("app-with-sdk.js", "appWithSdk"), ("sdk.js", "sdk")):
        body = (out / name).read_bytes()
        sizes[key] = {
            "minified": len(body),
            "gzip": len(gzip.compress(body, compresslevel=9, mtime=0)),
        }
    return sizes


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=15, help="cold loads timed (median)")
    parser.add_argument(
        "--catchup", type=int, default=10_000, help="messages for the catch-up (0: skip it)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="browser profiles that catch up")
    args = parser.parse_args(argv)
    major = node_major()
    if major is None or major < 20 or shutil.which("npm") is None:
        print("web app benchmark skipped: Node.js 20+ and npm are not installed")
        return 0
    if not os.path.exists(CHROMIUM):
        print(
            f"web app benchmark skipped: Chromium is not at {CHROMIUM}"
            " (apt-get install chromium, or set HEARTH_CHROMIUM)"
        )
        return 0
    if not (ROOT / "js" / "node_modules" / "playwright-core").is_dir():
        print("web app benchmark skipped: js/node_modules is missing (cd js && npm ci)")
        return 0

    from tests.client_sdk.conftest import RelayProcess  # noqa: PLC0415 - the tests' relay

    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-web-bench-") as tmp:
        work = pathlib.Path(tmp)
        root = work / "web"
        subprocess.run(
            ["node", str(WEB / "scripts" / "build.mjs"), "--out", str(root)],
            check=True,
            capture_output=True,
        )
        release = json.loads((root / "release.json").read_text())
        driver("page", str(root))
        if args.catchup:
            # catchup.mjs imports the SDK's tsc build, as bench/sdk_js.py runs it.
            subprocess.run(["npm", "run", "build"], cwd=SDK, check=True, capture_output=True)
        data = work / "relay"
        data.mkdir()
        relay = RelayProcess(data, HEARTH_WEB_ROOT=str(root))
        relay.start()
        try:
            first = driver("first-load", relay.url, str(args.loads))
            sizes = bundle_sizes(work)
            catchup = (
                asyncio.run(_catch_up(relay.url, work, args.catchup, args.rounds))
                if args.catchup
                else None
            )
        finally:
            relay.stop()
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()

    print(
        f"Web app in headless Chromium {first['chromium']} (Node {first['node']}), against a"
        f" relay on loopback serving a fresh build of js/web (version {release['version']},"
        f" release {release['release'][:12]}), one run ({elapsed:.1f} s; load average"
        f" {_load(load_before)} before, {_load(load_after)} after, {os.cpu_count()} CPUs)"
    )
    _print_first_load(first, sizes, release)
    _print_first_screen(first["loads"])
    if catchup is not None:
        _print_catch_up(catchup, args.catchup)
    return 0


def _load(avg: tuple[float, float, float]) -> str:
    return f"{avg[0]:.2f}/{avg[1]:.2f}/{avg[2]:.2f} (1/5/15 min)"


def _print_first_load(
    first: dict[str, Any], sizes: dict[str, Any], release: dict[str, Any]
) -> None:
    files = first["files"]
    origin = urllib.parse.urlsplit(files[0]["url"])
    print(
        "first load, fresh profile, until the network is idle: body bytes as sent"
        " (gzip from the relay), decoded size, response headers"
    )
    total = headers = 0
    seen = set()
    for f in files:
        path = urllib.parse.urlsplit(f["url"]).path
        seen.add(path.lstrip("/") or "index.html")
        extra = " (service worker)" if f["serviceWorker"] else ""
        if f["failure"]:
            extra += f" FAILED: {f['failure']}"
        if f["contentLength"] is not None and f["contentLength"] != f["body"]:
            extra += f" (Content-Length {f['contentLength']:,})"
        decoded = f"{f['decoded']:>9,} B" if f["decoded"] is not None else "        ? B"
        print(
            f"  {path:<24} {f['status']!s:>4} {f['encoding'] or 'identity':<8}"
            f" {f['body']:>9,} B  decoded {decoded}  headers {f['headers']:>5,} B{extra}"
        )
        total += f["body"]
        headers += f["headers"]
    print(
        f"  {'total':<24} {len(files):>4} files   {total:>9,} B ({kib(total)}) of bodies,"
        f" {headers:,} B of headers ({origin.scheme}://{origin.netloc})"
    )
    unused = sorted(set(release["files"]) - seen)
    if unused:
        print(f"  not requested by this load: {', '.join(unused)}")
    app = next((f for f in files if f["url"].endswith("/app.js")), None)
    verdict = "under" if total < TARGET_BYTES else "OVER"
    print(
        f"  first load: {total:,} B, {verdict} the target of 1 MB (1,000,000 B) with the SDK and"
        f" its crypto (app.js {sizes['app']['gzip']:,} B gzip by this script's own build;"
        " the service worker's copies of the release's files included)"
    )
    if app is not None:
        with_sdk = total - app["body"] + sizes["appWithSdk"]["gzip"]
        verdict = "under" if with_sdk < TARGET_BYTES else "OVER"
        print(
            f"  with the whole SDK and libsodium in app.js ({sizes['appWithSdk']['minified']:,} B"
            f" minified, {sizes['appWithSdk']['gzip']:,} B gzip): the first load would be"
            f" {with_sdk:,} B ({kib(with_sdk)}), {verdict} the target of 1 MB"
        )
    print(
        f"  the SDK alone, minified by the app's build: {sizes['sdk']['minified']:,} B,"
        f" {sizes['sdk']['gzip']:,} B gzip ({kib(sizes['sdk']['gzip'])})"
    )


def _stats(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):,.0f} ms [min {min(values):,.0f} .."
        f" max {max(values):,.0f}]"
    )


def _print_first_screen(loads: list[dict[str, Any]]) -> None:
    print(
        f"first screen, {len(loads)} cold loads (fresh context each), from navigation start:"
        f' crisis help ("If you need help now") painted {_stats([x["paint"] for x in loads])}'
    )
    print(
        f"  heading in the document {_stats([x['dom'] for x in loads])};"
        f" first contentful paint {_stats([x['fcp'] for x in loads if x['fcp'] is not None])}"
    )


def wasm_allowed(csp: str) -> bool:
    """Whether a content security policy lets a page compile WebAssembly (libsodium's)."""
    directives: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:  # the first of a repeated directive is the one that counts
            directives.setdefault(words[0].lower(), [w.lower() for w in words[1:]])
    sources = directives.get("script-src", directives.get("default-src"))
    return sources is None or bool({"'wasm-unsafe-eval'", "'unsafe-eval'"} & set(sources))


async def _catch_up(url: str, work: pathlib.Path, count: int, rounds: int) -> dict[str, Any]:
    """Join ``rounds`` browser profiles and one Node member, send ``count`` texts, catch up."""
    import httpx  # noqa: PLC0415

    from client_sdk import HearthClient, Identity  # noqa: PLC0415

    catchup = str(SDK / "bench" / "catchup.mjs")
    # The policy the relay sends with the app. Without 'wasm-unsafe-eval' in script-src
    # no page of the relay's can compile libsodium's WebAssembly: the SDK's crypto
    # does not start. The catch-up then runs with the policy bypassed (devtools), so
    # that it measures the SDK's work, and says so.
    csp = httpx.get(url + "/").headers.get("content-security-policy", "")
    bypass = [] if wasm_allowed(csp) else ["--bypass-csp"]
    profiles = [work / f"profile{i}" for i in range(rounds)]
    node_member = Identity.generate()
    node_store = str(work / "node.store")
    async with HearthClient(url, Identity.generate(), store_path=work / "a.db", live=False) as a:
        room = await a.create_group("web catch-up")
        link = await room.create_invite(max_uses=rounds + 1, expires_in=3600)
        fragment = urllib.parse.urlencode({"join": link})
        for profile in profiles:
            joined = await adriver("catchup", url, str(profile), fragment, *bypass)
            if joined.get("room") != room.id:
                raise RuntimeError(f"a browser profile did not join: {joined}")
        await _node(catchup, "join", url, node_member.recovery_phrase, node_store, link)
        t0 = time.perf_counter()
        for i in range(count):
            await room.send(f"message {i} of the catch-up")
        sent = time.perf_counter() - t0
    fragment = urllib.parse.urlencode({"sync": room.id})
    browser: list[dict[str, Any]] = []
    node: dict[str, Any] = {}
    for i, profile in enumerate(profiles):
        result = await adriver("catchup", url, str(profile), fragment, *bypass)
        if "error" in result or result["messages"] != count or result["alarms"]:
            raise RuntimeError(f"browser catch-up {i}: {result}")
        browser.append(result)
        if i == 0:
            node = await _node(
                catchup, "sync", url, node_member.recovery_phrase, node_store, room.id
            )
            if node["messages"] != count or node["alarms"]:
                raise RuntimeError(f"Node catch-up: {node}")
    return {"sent": sent, "browser": browser, "node": node, "csp": csp, "bypass": bool(bypass)}


async def _node(script: str, mode: str, url: str, phrase: str, store: str, arg: str) -> Any:
    proc = await asyncio.create_subprocess_exec(
        "node", script, mode, url, phrase, store, arg, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"catchup.mjs {mode} failed ({proc.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def _print_catch_up(result: dict[str, Any], count: int) -> None:
    print(
        f"catch-up in the browser: {count:,} texts sent by a Python SDK member in"
        f" {result['sent']:.1f} s while the browser profiles were closed"
    )
    if result["bypass"]:
        print(
            "  NOTE: the relay's content security policy has no 'wasm-unsafe-eval' in script-src,"
            " so libsodium's WebAssembly cannot compile on its pages (the SDK's crypto does not"
            " start); the catch-up page ran with the policy bypassed through devtools"
        )
    for i, r in enumerate(result["browser"]):
        seconds = r["read"] / 1000
        print(
            f"  browser {i + 1}: open to all {count:,} read {seconds:.2f} s"
            f" ({count / seconds:,.0f} msg/s): client open {r['opened'] / 1000:.2f} s,"
            f" sync() {(r['synced'] - r['opened']) / 1000:.2f} s"
            f" ({count / ((r['synced'] - r['opened']) / 1000):,.0f} msg/s),"
            f" read back {(r['read'] - r['synced']) / 1000:.2f} s;"
            f" JS heap {_mib(r['heap']['usedSize'])} used after,"
            f" {_mib(r['heapAfterGc']['usedSize'])} after a forced collection"
        )
    node = result["node"]
    print(
        f"  Node, same relay, after browser 1 (js/sdk/bench/catchup.mjs, file store): sync()"
        f" {node['seconds']:.2f} s ({count / node['seconds']:,.0f} msg/s)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
