"""The relay serves the web app at ``/`` (issue 22, items 3 and 4; ``server/webapp.py``).

- The copy in the Python package (``server/web``) is exactly what ``js/web`` and
  ``js/sdk``'s sources build today (``make web`` rebuilds it): a change to the app
  that was not rebuilt, or a packaged file that no build makes, fails here.
- Through the real application: every file at its path and ``/``, each with the
  security headers a reviewer expects, gzip, ``ETag`` and 304; nothing else below
  ``/`` (no traversal, no listing); ``web_app = false`` serves none; a ``web_root``
  without ``index.html`` is refused at startup with a clear message.
- A real ``hearth serve`` process: ``hearth web-check`` passes against the relay's
  own copy and fails against a tampered one (``web_root`` pointing at a copy with
  one byte changed), as the issue's "done when" asks.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hearth_cli import main as hearth
from protocol import ManualClock
from server.config import ConfigError, load_config
from server.webapp import CONTENT_SECURITY_POLICY, PACKAGED, load_web_app
from tests.client_sdk.conftest import RelayProcess
from tests.interop.conftest import install_js, require_node
from tests.server import conftest
from tests.server.conftest import Relay

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "js" / "web"
FILES = sorted(p.name for p in PACKAGED.iterdir())


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Relay]:
    async with conftest.test_client(conftest.make_config(tmp_path), ManualClock()) as relay:
        yield relay


def test_the_packaged_copy_is_what_the_sources_build(tmp_path: Path) -> None:
    require_node()
    install_js()
    out = tmp_path / "dist"
    subprocess.run(
        ["node", str(WEB / "scripts" / "build.mjs"), "--out", str(out)],
        cwd=WEB,
        check=True,
        capture_output=True,
        timeout=300,
    )
    built = sorted(p.name for p in out.iterdir())
    assert built == FILES, "server/web differs from a build: run `make web` and commit it"
    stale = [n for n in built if (out / n).read_bytes() != (PACKAGED / n).read_bytes()]
    assert stale == [], f"server/web is stale ({', '.join(stale)}): run `make web` and commit it"


async def test_every_file_is_served_with_the_security_headers(relay: Relay) -> None:
    assert {"index.html", "release.json"} <= set(FILES)
    for name in FILES:
        r = await relay.http.get(f"/{name}", headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200, name
        assert r.content == (PACKAGED / name).read_bytes(), name
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cross-origin-opener-policy"] == "same-origin"
        assert "camera=()" in r.headers["permissions-policy"]
        assert r.headers["cache-control"] == "no-cache"
        assert "strict-transport-security" not in r.headers  # http here: see below
        assert "set-cookie" not in r.headers
    r = await relay.http.get("/")
    assert r.content == (PACKAGED / "index.html").read_bytes()
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert (await relay.http.get("/app.js")).headers["content-type"].startswith("text/javascript")
    manifest = await relay.http.get("/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"


def test_the_policy_allows_nothing_inline_nor_any_other_origin_nor_a_frame() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    # The one exception: 'wasm-unsafe-eval' in script-src lets the page compile
    # WebAssembly (the SDK's crypto is libsodium's WebAssembly build) and nothing
    # else: no eval of JavaScript, no inline script.
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
    for name, value in directives.items():
        for word in ("unsafe", "*", "http", "data:", "blob:"):
            assert word not in value.replace("'wasm-unsafe-eval'", ""), name
    # The page's own <meta> policy says the same, where a static host sends no header.
    index = (PACKAGED / "index.html").read_text()
    assert "script-src 'self' 'wasm-unsafe-eval';" in index
    assert "unsafe" not in index.replace("'wasm-unsafe-eval'", "")


async def test_gzip_etag_and_not_modified(relay: Relay) -> None:
    body = (PACKAGED / "app.js").read_bytes()
    r = await relay.http.get("/app.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == body  # httpx decodes: the bytes the release hash covers
    assert int(r.headers["content-length"]) < len(body) // 2
    assert "Accept-Encoding" in r.headers["vary"]
    etag = r.headers["etag"]
    assert etag == f'"{hashlib.sha256(body).hexdigest()}"'
    again = await relay.http.get("/app.js", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    other = await relay.http.get("/app.js", headers={"If-None-Match": '"0000"'})
    assert (other.status_code, other.content) == (200, body)
    plain = await relay.http.get("/app.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in plain.headers
    # The compressed bytes are the same on every start: no timestamp in them.
    (file,) = [f for f in load_web_app(PACKAGED) if f.name == "app.js"]
    assert file.gzipped == gzip.compress(body, compresslevel=9, mtime=0)


async def test_nothing_else_below_the_root_is_served(relay: Relay) -> None:
    # (Litestar's router ignores one trailing slash: "/index.html/" is index.html.)
    for path in (
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/web/index.html",
        "/server/web/app.js",
        "/APP.JS",
        "/.hidden",
        "/app.js.map",
    ):
        r = await relay.http.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"] == "route.not_found", path
    # Posting to the app's paths is a typed refusal, not a 500.
    r = await relay.http.post("/", content=b"x")
    assert (r.status_code, r.json()["code"]) == (405, "request.method_not_allowed")
    # The API is where it always was, beside the app.
    assert (await relay.http.get("/v1/crisis")).status_code == 200


async def test_an_invite_link_opened_in_a_browser_reaches_the_app(relay: Relay) -> None:
    room = "A" * 31 + "_"
    r = await relay.http.get(f"/join/{room}")
    assert (r.status_code, r.headers["location"]) == (302, f"/?join={room}")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.content == b""
    old = "B" * 22  # a version-1 room id
    assert (await relay.http.get(f"/join/{old}")).headers["location"] == f"/?join={old}"
    for bad in ("short", "A" * 33, "A" * 31 + "%", "A" * 31 + "."):
        r = await relay.http.get(f"/join/{bad}")
        assert (r.status_code, r.json()["code"]) == (404, "route.not_found"), bad


async def test_invite_links_go_to_an_app_hosted_elsewhere(tmp_path: Path) -> None:
    app = "https://app.example.org"
    config = conftest.make_config(
        tmp_path, web_app=False, web_app_url=app + "/hearth", allowed_origins=(app,)
    )
    room = "C" * 32
    async with conftest.test_client(config, ManualClock()) as relay:
        r = await relay.http.get(f"/join/{room}")
        assert r.status_code == 302
        assert r.headers["location"] == (f"{app}/hearth/?join={room}&relay=http%3A%2F%2Frelay.test")
        assert (await relay.http.get("/")).status_code == 404  # no app here
        assert (await relay.http.get("/join/x")).status_code == 404


def test_an_app_hosted_elsewhere_must_be_an_allowed_origin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be in allowed_origins"):
        conftest.make_config(tmp_path, web_app_url="https://app.example.org/")
    with pytest.raises(ConfigError, match="no query or fragment"):
        conftest.make_config(
            tmp_path,
            web_app_url="https://app.example.org/?x=1",
            allowed_origins=("https://app.example.org",),
        )
    with pytest.raises(ConfigError, match="web_app_url"):
        conftest.make_config(tmp_path, web_app_url="ftp://app.example.org/")


async def test_web_app_off_serves_nothing(tmp_path: Path) -> None:
    config = conftest.make_config(tmp_path, web_app=False)
    async with conftest.test_client(config, ManualClock()) as relay:
        for path in ("/", "/index.html", "/app.js", "/release.json", "/join/" + "A" * 32):
            r = await relay.http.get(path)
            assert (r.status_code, r.json()["code"]) == (404, "route.not_found"), path
        assert (await relay.http.get("/v1/crisis")).status_code == 200


async def test_hsts_only_over_https(tmp_path: Path) -> None:
    config = conftest.make_config(tmp_path, origin="https://relay.example")
    async with conftest.test_client(config, ManualClock()) as relay:
        r = await relay.http.get("/")
        assert r.headers["strict-transport-security"] == "max-age=31536000"


def test_the_options_read_from_the_environment_and_refuse_nonsense(tmp_path: Path) -> None:
    config = load_config(env={"HEARTH_WEB_APP": "false", "HEARTH_WEB_ROOT": str(tmp_path)})
    assert (config.web_app, config.web_root) == (False, str(tmp_path))
    assert load_config(env={}).web_app is True
    with pytest.raises(ConfigError, match="not a boolean"):
        load_config(env={"HEARTH_WEB_APP": "maybe"})


def test_a_web_root_without_the_app_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "app.js").write_text("alert(1)")
    for root, says in ((empty, "holds no index.html"), (tmp_path / "nowhere", "not a directory")):
        code = hearth(
            ["serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--web-root", str(root)]
        )
        assert code == 2
        assert says in capsys.readouterr().err


def _check(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    code = hearth(["web-check", url, *args, "--timeout", "10"])
    out, err = capsys.readouterr()
    return code, out + err


def test_web_check_passes_against_the_relay_and_fails_against_a_tampered_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    release = json.loads((PACKAGED / "release.json").read_text())
    published = str(release["release"])
    data = tmp_path / "data"
    data.mkdir()
    relay = RelayProcess(data)
    relay.start()
    try:
        code, said = _check(capsys, relay.url + "/", "--hash", published)
        assert code == 0, said
        assert f"serves release {published}" in said
    finally:
        relay.stop()

    # A hostile operator's copy: same release.json, one byte of app.js changed.
    tampered = Path(shutil.copytree(PACKAGED, tmp_path / "tampered"))
    script = bytearray((tampered / "app.js").read_bytes())
    script[-2] ^= 0x01
    (tampered / "app.js").write_bytes(bytes(script))
    data2 = tmp_path / "data2"
    data2.mkdir()
    relay = RelayProcess(data2, HEARTH_WEB_ROOT=str(tampered))
    relay.start()
    try:
        code, said = _check(capsys, relay.url + "/", "--hash", published)
        assert code == 1, said
        assert "app.js" in said
        code, said = _check(capsys, relay.url + "/", "--release", str(PACKAGED / "release.json"))
        assert code == 1, said
    finally:
        relay.stop()
