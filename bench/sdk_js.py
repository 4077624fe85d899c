"""The TypeScript SDK's protocol core beside the Python one, on the same bytes, in one run.

Issue 21 asks the TypeScript SDK to stay within 2x of the Python SDK's rates. This
script builds the fixtures of ``bench/protocol.py`` (a 1 KiB text message sealed
under a fixed seed, and a 1,000-operation room log), measures the Python protocol
core on them as that script does, writes them as wire JSON, and runs
``js/sdk/bench/protocol.mjs`` on the same file (after ``npm run build``), which
measures the TypeScript core on the identical bytes. It prints both rates and the
ratio, and the size of the SDK's browser bundle with its crypto (target: under
400 KB gzip).

This script reports; it is not a test. Run it with ``make bench`` (it needs Node
20+; without it, it says so and exits 0).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from protocol import RoomLog, open_message, seal_message
from protocol.encoding import to_json

ROOT = pathlib.Path(__file__).resolve().parent.parent
SDK = ROOT / "js" / "sdk"
TARGET = 2.0


def _load_bench_protocol():  # type: ignore[no-untyped-def]
    """bench/protocol.py by path: its module name is taken by the ``protocol`` package."""
    spec = importlib.util.spec_from_file_location("bench_protocol", ROOT / "bench" / "protocol.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_protocol"] = module  # its dataclasses look themselves up here
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=21, help="timed batches (median)")
    parser.add_argument("--messages", type=int, default=200, help="messages per batch")
    args = parser.parse_args(argv)
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("TypeScript SDK benchmark skipped: Node.js 20+ and npm are not installed")
        return 0
    bp = _load_bench_protocol()
    rand = random.Random(20260101)  # bench/protocol.py's seed: the same bytes
    fx = bp.message_fixture(rand)
    ops = bp.LogBuilder(rand).build(bp.LOG_OPS)
    fold_reps = max(5, args.reps // 2)

    def py_seal() -> None:
        for _ in range(args.messages):
            seal_message(
                fx.keys,
                fx.plaintext,
                epoch=7,
                epoch_secret=fx.epoch_secret,
                head_index=812,
                head=fx.head,
            )

    def py_open() -> None:
        for _ in range(args.messages):
            open_message(fx.envelope, epoch_secret=fx.epoch_secret)

    def py_fold() -> None:
        RoomLog.from_ops(ops)

    def timed(fn, reps: int) -> float:  # type: ignore[no-untyped-def]
        for _ in range(2):
            fn()
        return sorted(bp._batch_seconds(fn) for _ in range(reps))[reps // 2]

    py = {"seal": timed(py_seal, args.reps), "open": timed(py_open, args.reps)}
    py["fold"] = timed(py_fold, fold_reps)

    fixture = {
        "seed": bytes(fx.keys.signing).hex(),
        "box": bytes(fx.keys.box).hex(),
        "room": fx.keys.room,
        "plaintext": json.loads(to_json(fx.plaintext)),
        "epoch_secret": fx.epoch_secret.hex(),
        "head": fx.head.hex(),
        "envelope": json.loads(to_json(fx.envelope)),
        "ops": [json.loads(to_json(op)) for op in ops],
        "messages": args.messages,
        "reps": args.reps,
        "fold_reps": fold_reps,
    }
    subprocess.run(["npm", "run", "build"], cwd=SDK, check=True, capture_output=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(fixture, f)
    started = time.perf_counter()
    out = subprocess.run(
        ["node", str(SDK / "bench" / "protocol.mjs"), f.name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pathlib.Path(f.name).unlink()
    ts = json.loads(out)
    bundle = json.loads(
        subprocess.run(
            ["node", str(SDK / "scripts" / "bundle.mjs"), "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    print(
        f"TypeScript SDK (Node {ts['node']}) vs. Python protocol core, same bytes, one run"
        f" ({time.perf_counter() - started:.1f} s for the Node side)"
    )
    rows = [
        ("seal+sign 1 KiB text", "seal", args.messages, "msg"),
        ("verify+open 1 KiB text", "open", args.messages, "msg"),
        ("fold 1,000-op log", "fold", len(ops), "op"),
    ]
    missed = 0
    for name, key, count, unit in rows:
        ratio = ts[key] / py[key]
        ok = ratio <= TARGET
        missed += not ok
        print(
            f"{name:<24} Python {count / py[key]:>9,.0f} {unit}/s | TypeScript"
            f" {count / ts[key]:>9,.0f} {unit}/s | {ratio:4.2f}x {'PASS' if ok else 'FAIL'}"
            f" (target <= {TARGET:.1f}x)"
        )
    print(
        f"browser bundle with crypto: {bundle['minified'] / 1024:.1f} KiB minified,"
        f" {bundle['gzip'] / 1024:.1f} KiB gzip (target < 400 KB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
