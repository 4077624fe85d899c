"""``hearth web-check URL --hash HASH | --release FILE``: is an address serving a release?

The check anyone can run (docs/security.md, "The web app"): it fetches
``URL/release.json`` and every file it lists from that address, recomputes each
file's SHA-256 and the release hash over them ("How the release hash is
computed"), and compares them with the release hash published for that version
(``--hash``) or with a ``release.json`` built from source (``--release``, which also
names each file that differs). The page served at ``URL/`` itself must be the listed
``index.html``, since that is what a browser loads.

It is a subcommand of the relay's command line (``server/cli.py``), so it comes with
the ``relay`` extra, though it uses httpx alone and touches no relay state or
configuration. Requests carry no cookies, follow redirects only within the address's
own origin, and time out. Exit status: 0 when everything matches, 1 when anything
differs (one line per difference on stdout, then a summary on stderr), 2 when the
check could not be made (a network failure, a refused redirect, a bad argument):
never a traceback.

Run it from another network than the person's own, regularly: a copy replaced for
one person or one network is not seen from elsewhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urljoin, urlsplit

import httpx

__all__ = ["RELEASE_FORMAT", "CheckError", "Release", "add_arguments", "release_hash", "run"]

RELEASE_FORMAT: Final = "hearth-web-release"
"""The ``format`` field of a ``release.json``."""

_DOMAIN: Final = "hearth-web-release-v1\n"
"""The first line of the text the release hash is taken over (its version)."""

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_PATH: Final = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
_MAX_BYTES: Final = 32 * 1024 * 1024
"""The largest file fetched: a web app's file is far smaller; an endless answer stops here."""
_MAX_REDIRECTS: Final = 5


class CheckError(Exception):
    """The check could not be made (exit 2): the message says why, for a person."""


@dataclass(frozen=True)
class Release:
    """A ``release.json``: the version, each served path's SHA-256 (hex), the release hash."""

    version: str
    files: Mapping[str, str]
    release: str


def release_hash(files: Mapping[str, str]) -> str:
    """The release hash: SHA-256 over ``hearth-web-release-v1\\n`` then ``PATH HASH\\n`` per file.

    Paths sorted by their UTF-8 bytes, each hash lowercase hex (docs/security.md).
    """
    text = _DOMAIN + "".join(
        f"{path} {files[path]}\n" for path in sorted(files, key=lambda p: p.encode())
    )
    return hashlib.sha256(text.encode()).hexdigest()


def parse_release(data: bytes, where: str) -> Release:
    """Read a ``release.json``; :class:`ValueError` names what is wrong with it."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where} is not JSON ({exc})") from None
    if not isinstance(value, dict) or value.get("format") != RELEASE_FORMAT:
        raise ValueError(f"{where} is not a Hearth web release (no format {RELEASE_FORMAT!r})")
    version, files, release = value.get("version"), value.get("files"), value.get("release")
    if not isinstance(version, str) or not isinstance(release, str) or not isinstance(files, dict):
        raise ValueError(f"{where} lacks its version, files or release hash")
    for path, digest in files.items():
        if not _PATH.fullmatch(path) or {".", ".."} & set(path.split("/")):
            raise ValueError(f"{where} lists a path that is not a plain relative path: {path!r}")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise ValueError(f"{where} lists {path} with a hash that is not 64 hex digits")
    return Release(version=version, files=dict(files), release=release)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CheckError(f"{url} is not an http:// or https:// address")
    if parts.query or parts.fragment:
        raise CheckError(f"{url} has a query or fragment: give the app's address alone")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _get(client: httpx.Client, url: str) -> tuple[int, bytes]:
    """GET ``url`` following same-origin redirects only: (status, body)."""
    origin = _origin(url)
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            with client.stream("GET", url) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    if _origin(target) != origin:
                        raise CheckError(f"{url} redirects to another origin ({target}): refused")
                    url = target
                    continue
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_BYTES:
                        raise CheckError(f"{url} is larger than {_MAX_BYTES} bytes: refused")
                return response.status_code, bytes(body)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise CheckError(f"cannot reach {url}: {reason}") from None
    raise CheckError(f"{url} redirects more than {_MAX_REDIRECTS} times")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(
    url: str, expected: str, expected_files: Mapping[str, str] | None, *, timeout: float
) -> tuple[list[str], Release | None]:
    """Every difference between what ``url`` serves and the expected release, one line each."""
    base = _base(url)
    problems: list[str] = []
    with httpx.Client(
        timeout=timeout, follow_redirects=False, headers={"Cache-Control": "no-cache"}
    ) as client:
        status, data = _get(client, base + "release.json")
        if status != 200:
            return [f"release.json: not served (HTTP {status})"], None
        try:
            listed = parse_release(data, "release.json")
        except ValueError as exc:
            return [str(exc)], None
        if release_hash(listed.files) != listed.release:
            problems.append(
                f"release.json: its release hash {listed.release} is not the hash of its own list"
            )
        paths = sorted(set(listed.files) | set(expected_files or {}), key=lambda p: p.encode())
        served: dict[str, str] = {}
        for path in paths:
            status, data = _get(client, base + path)
            if status != 200:
                problems.append(f"{path}: not served (HTTP {status})")
                continue
            served[path] = digest = _sha256(data)
            if path in listed.files and digest != listed.files[path]:
                problems.append(
                    f"{path}: served SHA-256 {digest}"
                    f" differs from release.json's {listed.files[path]}"
                )
            if expected_files is not None:
                if path not in expected_files:
                    problems.append(
                        f"{path}: listed by release.json but not in the expected release"
                    )
                elif path not in listed.files:
                    problems.append(
                        f"{path}: in the expected release but not listed by release.json"
                    )
                elif digest != expected_files[path]:
                    problems.append(
                        f"{path}: served SHA-256 {digest}"
                        f" differs from the expected {expected_files[path]}"
                    )
        if "index.html" not in listed.files:
            problems.append("index.html: not listed by release.json")
        else:
            status, data = _get(client, base)
            if status != 200 or _sha256(data) != listed.files["index.html"]:
                problems.append(f"/: the page served at {base} is not the listed index.html")
    if set(served) >= set(listed.files):
        actual = release_hash({path: served[path] for path in listed.files})
        if actual != expected:
            problems.append(f"release hash: {base} serves {actual}, expected {expected}")
    else:
        problems.append("release hash: not computed, some listed files are not served")
    return problems, listed


def _expected(args: argparse.Namespace) -> tuple[str, Mapping[str, str] | None]:
    if args.hash is not None:
        digest = args.hash.strip().lower()
        if not _HEX64.fullmatch(digest):
            raise CheckError("--hash takes a release hash: 64 hexadecimal digits")
        return digest, None
    path = Path(args.release)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        local = parse_release(data, str(path))
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    if release_hash(local.files) != local.release:
        raise CheckError(f"{path}: its release hash is not the hash of its own list of files")
    return local.release, local.files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``hearth web-check``'s arguments, on the subparser ``server/cli.py`` made."""
    parser.add_argument("url", metavar="URL", help="the web app's address (https://...)")
    expected = parser.add_mutually_exclusive_group(required=True)
    expected.add_argument("--hash", metavar="HASH", help="the published release hash")
    expected.add_argument(
        "--release", metavar="FILE", help="a release.json built from source (js/web/dist)"
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="seconds per request (default 15)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``hearth web-check``: 0 matches, 1 differs, 2 could not check."""
    try:
        expected, expected_files = _expected(args)
        problems, listed = check(args.url, expected, expected_files, timeout=args.timeout)
    except CheckError as exc:
        print(f"hearth: web-check: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's message
        return 2
    for problem in problems:
        print(f"mismatch: {problem}")  # noqa: T201 - a CLI prints
    if problems:
        print(  # noqa: T201
            f"hearth: web-check: {args.url} does not serve release {expected}"
            f" ({len(problems)} mismatch{'es' if len(problems) != 1 else ''})",
            file=sys.stderr,
        )
        return 1
    assert listed is not None
    print(  # noqa: T201
        f"ok: {args.url} serves release {expected}"
        f" (version {listed.version}, {len(listed.files)} files)"
    )
    return 0
