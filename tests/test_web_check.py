"""``hearth web-check`` against a built web app served over loopback (docs/security.md).

The web app (``js/web``) is built once with its own build script, then each test
serves a copy of ``dist/`` from a local HTTP server, changes what it serves the way
a replaced copy would, and runs the command. The build's own reproducibility tests
(``js/web/test/build.test.ts``) run here too, so ``make test`` and CI run them. All of
it needs Node.js 20+; without it the tests skip and say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hearth_cli import main as hearth
from server.web_check import release_hash
from tests.interop.conftest import install_js, require_node

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "js" / "web"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``js/web`` built by its build script into a directory of its own."""
    require_node()
    install_js()
    out = tmp_path_factory.mktemp("web") / "dist"
    subprocess.run(
        ["node", str(WEB / "scripts" / "build.mjs"), "--out", str(out)],
        cwd=WEB,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


class _Handler(SimpleHTTPRequestHandler):
    redirects: dict[str, str] = {}  # noqa: RUF012 - set per server below

    def do_GET(self) -> None:
        target = self.redirects.get(self.path)
        if target is not None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(root: Path, redirects: dict[str, str] | None = None) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"redirects": redirects or {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def site(built: Path, tmp_path: Path) -> Path:
    """A copy of the build that a test may change before serving it."""
    return Path(shutil.copytree(built, tmp_path / "site"))


@pytest.fixture
def serve(site: Path) -> Iterator[str]:
    yield from _serve(site)


def _release(root: Path) -> dict[str, object]:
    return json.loads((root / "release.json").read_text())


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = hearth(["web-check", *args, "--timeout", "5"])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_web_app_builds_reproducibly() -> None:
    """``js/web/test/build.test.ts`` (the whole suite runs in tests/js)."""
    require_node()
    install_js()
    done = subprocess.run(
        [str(ROOT / "js" / "node_modules" / ".bin" / "vitest"), "run", "test/build.test.ts"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )
    assert done.returncode == 0, "vitest failed in js/web:\n" + (done.stdout + done.stderr)[-8000:]


def test_release_hash_follows_its_definition(built: Path) -> None:
    release = _release(built)
    files = release["files"]
    assert isinstance(files, dict)
    text = "hearth-web-release-v1\n" + "".join(f"{p} {files[p]}\n" for p in sorted(files))
    assert release["release"] == hashlib.sha256(text.encode()).hexdigest() == release_hash(files)
    for path, digest in files.items():
        assert hashlib.sha256((built / path).read_bytes()).hexdigest() == digest


def test_a_faithful_copy_passes(
    serve: str, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = str(_release(built)["release"])
    code, out, err = _run(capsys, serve, "--hash", expected)
    assert (code, err) == (0, "")
    files = _release(built)["files"]
    assert isinstance(files, dict)
    count = len(files)
    assert count == 8  # the app, its worker, style, page, manifest and three icons
    assert out == f"ok: {serve} serves release {expected} (version 0.1.0, {count} files)\n"
    code, out, _ = _run(capsys, serve.rstrip("/"), "--release", str(built / "release.json"))
    assert code == 0
    assert out.startswith("ok: ")


def test_one_changed_byte_fails_naming_the_file(
    site: Path, serve: str, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = bytearray((site / "app.js").read_bytes())
    app[100] ^= 1
    (site / "app.js").write_bytes(bytes(app))
    code, out, err = _run(capsys, serve, "--release", str(built / "release.json"))
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("mismatch: app.js: served SHA-256 ") for line in lines)
    assert any(line.startswith("mismatch: release hash: ") for line in lines)
    assert not any("index.html" in line or "app.css" in line for line in lines)
    assert err.startswith(f"hearth: web-check: {serve} does not serve release ")


def test_a_listed_file_that_is_missing_fails(
    site: Path, serve: str, capsys: pytest.CaptureFixture[str]
) -> None:
    release = _release(site)
    files = dict(release["files"])
    files["extra.js"] = hashlib.sha256(b"extra").hexdigest()
    release["files"] = files
    release["release"] = release_hash(files)
    (site / "release.json").write_text(json.dumps(release))
    code, out, _ = _run(capsys, serve, "--hash", str(release["release"]))
    assert code == 1
    assert "mismatch: extra.js: not served (HTTP 404)\n" in out


def test_a_wrong_expected_hash_fails(
    serve: str, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "0" * 64
    served = _release(built)["release"]
    code, out, err = _run(capsys, serve, "--hash", wrong)
    assert code == 1
    assert out == f"mismatch: release hash: {serve} serves {served}, expected {wrong}\n"
    assert err == f"hearth: web-check: {serve} does not serve release {wrong} (1 mismatch)\n"


def test_the_page_at_the_address_must_be_the_listed_index(
    site: Path, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "other.html").write_text("<!doctype html><script src=evil.js></script>")
    for url in _serve(site, {"/": "/other.html"}):
        code, out, _ = _run(capsys, url, "--release", str(built / "release.json"))
        assert code == 1
        assert out == f"mismatch: /: the page served at {url} is not the listed index.html\n"


def test_a_redirect_to_another_origin_is_refused(
    site: Path, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in _serve(site, {"/release.json": "http://127.0.0.2:9/release.json"}):
        code, out, err = _run(capsys, url, "--release", str(built / "release.json"))
        assert (code, out) == (2, "")
        assert err == (
            f"hearth: web-check: {url}release.json redirects to another origin"
            " (http://127.0.0.2:9/release.json): refused\n"
        )


def test_an_unreachable_address_is_a_clean_error(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    code, out, err = _run(capsys, url, "--release", str(built / "release.json"))
    assert (code, out) == (2, "")
    assert err.startswith(f"hearth: web-check: cannot reach {url}release.json: ")
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_a_bad_expected_hash_is_refused_before_any_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "http://127.0.0.1:9/", "--hash", "abc")
    assert (code, out) == (2, "")
    assert err == "hearth: web-check: --hash takes a release hash: 64 hexadecimal digits\n"


def test_a_listing_that_leaves_the_address_fails(
    site: Path, serve: str, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    release = _release(site)
    release["files"] = {**release["files"], "../outside.js": "0" * 64}
    (site / "release.json").write_text(json.dumps(release))
    code, out, _ = _run(capsys, serve, "--release", str(built / "release.json"))
    assert code == 1
    assert out == (
        "mismatch: release.json lists a path that is not a plain relative path: '../outside.js'\n"
    )
