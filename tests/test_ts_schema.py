"""The TypeScript SDK's wire schema is the Python structures', written by a script.

``js/sdk/src/wire/schema.gen.ts`` is generated from ``protocol/`` by
``scripts/gen_ts_schema.py``; a protocol change that does not regenerate it would
let the two SDKs disagree on canonical bytes, so this fails until it is rerun.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_typescript_schema_is_generated_from_the_current_protocol() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_ts_schema.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        "js/sdk/src/wire/schema.gen.ts is out of date: run"
        " `.venv/bin/python scripts/gen_ts_schema.py` and commit the result"
    )
