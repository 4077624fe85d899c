"""docs/sdk-js.md's install and quick start, done as a front-end developer does them.

The SDK is packed from the checkout (``npm pack``, whose ``prepack`` builds it),
installed into an empty folder with ``ws`` (Node 20 has no WebSocket), and the
quick start block of docs/sdk-js.md is run there against a real ``hearth serve``,
twice in a row in that folder: the second run loads the keystores and the stores
the first run made. Needs Node 20+ and the npm registry (for the SDK's own
dependencies); skips, saying so, without Node.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.client_sdk.conftest import RelayProcess
from tests.interop.conftest import JS, ROOT, install_js, require_node

DOC = ROOT / "docs" / "sdk-js.md"


def quick_start() -> str:
    text = DOC.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```js\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the quick start is one js block"
    return blocks[0]


def test_the_quick_start_runs_from_a_packed_install(tmp_path: Path) -> None:
    require_node()
    install_js()
    packed = subprocess.run(
        ["npm", "pack", "-w", "sdk", "--pack-destination", str(tmp_path)],
        cwd=JS,
        check=True,
        capture_output=True,
        text=True,
    )
    tarball = tmp_path / packed.stdout.strip().splitlines()[-1]
    assert tarball.exists(), packed.stdout
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "my-app", "private": true, "type": "module"}\n')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", str(tarball), "ws"],
        cwd=app,
        check=True,
        capture_output=True,
    )
    (app / "quickstart.mjs").write_text(quick_start())
    data = tmp_path / "relay"
    data.mkdir()
    relay = RelayProcess(data)
    relay.start()
    try:
        env = {**os.environ, "HEARTH_RELAY": relay.url}
        for run in (1, 2):
            result = subprocess.run(
                ["node", "quickstart.mjs"],
                cwd=app,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"run {run}:\n{result.stdout}\n{result.stderr}"
            out = result.stdout
            assert ("recovery phrase" in out) == (run == 1), out
            assert "Bob read: Welcome, Bob!" in out, out
            assert re.search(r"\S{8} Thanks\. Rough week\. exam stress", out), out
            assert "same safety number: true" in out, out
    finally:
        relay.stop()
