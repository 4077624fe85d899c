"""The web app, served by the relay at ``/`` (docs/security.md, "The web app").

The relay serves the built files of ``js/web`` as they are: by default the copy that
travels with this package (``server/web/``, rebuilt by ``make web`` and held to the
sources by ``tests/test_web_app.py``), or the directory ``web_root`` names; with
``web_app = false`` it serves none, and ``/`` is an unknown route like any other.

The files are read once, when the application is built, and answered from memory:

- one route per file, ``/`` for ``index.html``; nothing else below ``/`` is served, so
  no path a request names ever reaches the file system;
- every answer carries the headers in :func:`web_headers`: the app's content
  security policy (no inline script or style, no origin but the relay's, never in a
  frame), ``nosniff``, no referrer, and a permissions policy that turns off what the
  app never uses. They are the header form of the policy ``index.html`` carries in
  its ``<meta>`` tag, which a static host that sends no header still enforces;
- ``Cache-Control: no-cache`` with a strong ``ETag`` (the file's SHA-256), so a
  browser keeps a copy but asks every time whether it is still the release, and a
  304 when it is;
- a client that accepts gzip gets the bytes gzip-compressed once at startup (with
  no timestamp, so the same every time); the decoded bytes are what the release
  hash covers;
- an invite link, ``/join/{room}#{secret}`` (protocol.md 5.6), opened in a browser
  is sent on to the app with ``302 Location: /?join={room}``: a browser keeps the
  fragment across a redirect whose ``Location`` has none, so the app receives the
  secret that never reached the relay, and reads both. A path that holds no room id
  is an unknown route. With ``web_app_url`` set (a copy hosted apart from the relay),
  the link goes there instead, as ``{web_app_url}?join={room}&relay={origin}``, even
  when this relay serves no app itself.

Which files: the regular files directly in the directory whose names are plain
(``[a-z0-9][a-z0-9.-]*``), ``release.json`` included, which lists each file's hash.
A directory without ``index.html`` is refused at startup (:class:`WebAppError`)
rather than served half.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, final
from urllib.parse import quote

from litestar import Request, Response, route
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from protocol.errors import HearthError
from server.config import Config

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PACKAGED",
    "WebAppError",
    "WebFile",
    "load_web_app",
    "web_headers",
    "web_routes",
]

PACKAGED: Final = Path(__file__).parent / "web"
"""The built app that travels with the package (``make web`` writes it)."""

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""The policy of every file the relay serves: the app's own origin, which is the
relay's, for everything; ``frame-ancestors``, which a ``<meta>`` tag cannot set, keeps
it out of every frame."""

_PERMISSIONS: Final = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

_TYPES: Final[Mapping[str, str]] = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain",
}
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9.-]*")
_ROOM: Final = re.compile(r"[A-Za-z0-9_-]{22}|[A-Za-z0-9_-]{32}")
"""A room id in an invite link: 32 base64url characters, or 22 for version 1."""


class WebAppError(HearthError):
    """The web app's directory cannot be served (missing, or without index.html)."""

    code = "config.invalid"


def web_headers(*, https: bool) -> dict[str, str]:
    """The security headers of every web-app answer (HSTS only over https)."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": _PERMISSIONS,
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


@final
@dataclass(frozen=True, slots=True)
class WebFile:
    """One file of the app, as it is answered."""

    name: str
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str


def load_web_app(directory: Path) -> tuple[WebFile, ...]:
    """Read the app's files from ``directory`` (see the module's note on which)."""
    if not directory.is_dir():
        raise WebAppError(f"web_root {directory} is not a directory")
    files = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or not _NAME.fullmatch(path.name):
            continue
        body = path.read_bytes()
        files.append(
            WebFile(
                name=path.name,
                body=body,
                gzipped=gzip.compress(body, compresslevel=9, mtime=0),
                media_type=_TYPES.get(path.suffix, "application/octet-stream"),
                etag='"' + hashlib.sha256(body).hexdigest() + '"',
            )
        )
    if not any(f.name == "index.html" for f in files):
        raise WebAppError(f"web_root {directory} holds no index.html: build it with `make web`")
    return tuple(files)


def _accepts_gzip(request: Request[Any, Any, Any]) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _handler(file: WebFile, headers: Mapping[str, str], path: str) -> HTTPRouteHandler:
    async def serve(request: Request[Any, Any, Any]) -> Response[bytes]:
        common = {**headers, "ETag": file.etag, "Vary": "Accept-Encoding"}
        if file.etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
            return Response(content=b"", status_code=304, headers=common)
        if _accepts_gzip(request):
            return Response(
                content=file.gzipped,
                media_type=file.media_type,
                headers={**common, "Content-Encoding": "gzip"},
            )
        return Response(content=file.body, media_type=file.media_type, headers=common)

    return route(
        path,
        http_method=["GET", "HEAD"],
        name=f"web:{file.name}",
        include_in_schema=False,
        cache_control=CacheControlHeader(no_cache=True),
    )(serve)


def web_routes(config: Config) -> list[HTTPRouteHandler]:
    """The app's routes as ``config`` asks: none with ``web_app`` off, else one per file.

    ``/`` answers ``index.html``; each answer carries :func:`web_headers`.
    """
    headers = web_headers(https=config.public_origin.startswith("https:"))
    if not config.web_app:
        return [_invite(headers, config)] if config.web_app_url else []
    files = load_web_app(Path(config.web_root) if config.web_root else PACKAGED)
    handlers = [_handler(f, headers, f"/{f.name}") for f in files]
    index = next(f for f in files if f.name == "index.html")
    handlers.append(_handler(index, headers, "/"))
    handlers.append(_invite(headers, config))
    return handlers


def _invite(headers: Mapping[str, str], config: Config) -> HTTPRouteHandler:
    """``/join/{room}``: on to the app, here or at ``web_app_url`` with this relay named."""
    if config.web_app_url:
        app = config.web_app_url.strip()
        app = app if app.endswith("/") else app + "/"
        relay = quote(config.public_origin, safe="")
    else:
        app, relay = "/", ""

    async def invite(room: Annotated[str, PathParameter()]) -> Response[bytes]:
        if not _ROOM.fullmatch(room):
            raise NotFoundException
        where = f"{app}?join={room}" + (f"&relay={relay}" if relay else "")
        return Response(content=b"", status_code=302, headers={**headers, "Location": where})

    return route(
        "/join/{room:str}",
        http_method=["GET", "HEAD"],
        name="web:join",
        include_in_schema=False,
        cache_control=CacheControlHeader(no_store=True),
    )(invite)
