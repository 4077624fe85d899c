"""The ``hearth`` command line: ``hearth serve`` runs a relay, ``hearth version``.

``hearth admin freeze|unfreeze ROOM_ID`` and ``hearth backup DEST`` act on the
data directory (or database) the same configuration names, beside a running relay
or without one (``server/admin.py``). ``hearth web-check URL --hash HASH`` checks
what an address serves as the web app against a published release
(``server/web_check.py``); it reads no configuration.

``serve`` loads the configuration (defaults < ``--config`` TOML < ``HEARTH_*``
environment < flags), sets up logging that never records client addresses (no
access log; uvicorn's own connection lines only at ``debug``, and every log line,
at every level, with IP addresses redacted before it is written), warns about
settings that leave people without help (no crisis line for any region), and runs
uvicorn in this process, on uvloop where it is installed. SIGINT and SIGTERM
trigger uvicorn's graceful shutdown: it stops accepting, lets requests in flight
finish (up to ``shutdown_timeout``), closes streams with 1012 (each told when to
come back, spread over ``restart_spread``: ``server.websocket``), then the
application's lifespan closes the storage after its last write committed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Coroutine, Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import uvicorn

from protocol import HearthError, __version__
from protocol.ids import ROOM_ID_CHARS
from server import admin, web_check
from server.app import create_app
from server.config import Config, ConfigError, load_config
from server.limits import http_protocol_class
from server.redact import RedactSecrets
from server.webapp import WebAppError
from server.websocket import protocol_class

__all__ = ["main"]

_MAX_HEAD_BYTES: Final = 128 * 1024
"""An HTTP request head's largest size (h11's default is 16 KiB): a multi-room read
carries a session token per room (78 characters each) in one header, up to 1000."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth", description="Hearth peer-support relay")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    serve = sub.add_parser("serve", help="run the relay")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--data-dir", type=Path, help="where the database lives (./hearth-data)")
    serve.add_argument("--config", type=Path, help="a TOML configuration file")
    serve.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="default info"
    )
    serve.add_argument(
        "--log-keys",
        action="store_const",
        const=True,
        help="let member keys and room ids appear in the log (tokens never do)",
    )
    serve.add_argument(
        "--header-timeout", type=float, help="seconds a request head may take (default 10)"
    )
    serve.add_argument("--ws-max-per-key", type=int, help="open streams per member key (16)")
    serve.add_argument(
        "--ws-max-per-address", type=int, help="open streams per client address (2000)"
    )
    serve.add_argument(
        "--allowed-origins",
        type=_origins,
        metavar="ORIGINS",
        help="comma-separated origins of web front ends hosted elsewhere (default none)",
    )
    web = serve.add_mutually_exclusive_group()
    web.add_argument(
        "--web-root",
        metavar="DIR",
        help="serve the built web app in DIR at / instead of the packaged copy",
    )
    web.add_argument(
        "--no-web-app",
        dest="web_app",
        action="store_const",
        const=False,
        help="serve no web app: / is an unknown route (default: the app is served)",
    )
    admin = sub.add_parser("admin", help="operator actions on the relay's data")
    actions = admin.add_subparsers(dest="action", required=True)
    for action, text in (
        ("freeze", "refuse new messages and log operations in a room"),
        ("unfreeze", "lift a freeze"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("room", help="the room id")
        _data_arguments(command)
    web_check.add_arguments(
        sub.add_parser(
            "web-check",
            help="check that an address serves a published release of the web app",
            description="Check that an address serves exactly a published release of the"
            " web app (docs/security.md).",
        )
    )
    backup = sub.add_parser("backup", help="copy the SQLite database while the relay runs")
    backup.add_argument("dest", type=Path, help="the backup file to create")
    _data_arguments(backup)
    return parser


def _origins(text: str) -> tuple[str, ...]:
    """``--allowed-origins``: comma-separated, as in ``HEARTH_ALLOWED_ORIGINS``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _room_first(argv: list[str]) -> list[str]:
    """``admin freeze ROOM_ID ...`` with a room id that starts with ``-`` (base64url).

    argparse would take ``-uvyQ...`` for an option; a room id is exactly
    ``ROOM_ID_CHARS`` characters, which no option of ours is, so it moves behind ``--``.
    """
    if argv[:1] == ["admin"] and len(argv) >= 3 and len(argv[2]) == ROOM_ID_CHARS:
        return [*argv[:2], *argv[3:], "--", argv[2]]
    return argv


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="where the database lives (./hearth-data)")
    parser.add_argument("--config", type=Path, help="a TOML configuration file")


# IPv4 dotted quads and IPv6 forms (``::1``, ``fe80::1``, ``2001:db8:0:0:0:0:0:1``),
# with an optional port. Over-redacting a time like ``12:30:00`` in a message is harmless.
_ADDRESS = re.compile(
    r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
    r"|(?<![\w:])\[?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}\]?(?![\w:])"
)


class _RedactAddresses(logging.Filter):
    """Replaces IP addresses in a record's message: the design forbids any on disk or in logs.

    uvicorn's debug lines name the peer (``127.0.0.1:58308 - "WebSocket ..."``), and
    a library's exception text might; the filter sits on the one handler, so nothing
    the process logs escapes it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _ADDRESS.sub("<address>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class _PeerMisbehaviour(logging.Filter):
    """Turns uvicorn's traceback for a peer's invalid UTF-8 text frame into a debug line.

    The peer gets its 1007 close either way; logged at ERROR with a traceback, each
    such frame would let any client write a dozen lines to the operator's log at will.
    """

    _MESSAGES: Final = frozenset({"Invalid UTF-8 sequence received from client."})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self._MESSAGES:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info, record.exc_text = None, None
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _setup_logging(level: str, *, log_keys: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets(keys=log_keys))
    handler.addFilter(_RedactAddresses())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn.error logs websocket handshakes with the client's address at INFO.
    quiet = "DEBUG" if level == "debug" else "WARNING"
    logging.getLogger("uvicorn.error").setLevel(quiet)
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _PeerMisbehaviour) for f in errors.filters):
        errors.addFilter(_PeerMisbehaviour())
    logging.getLogger("uvicorn").setLevel(quiet)
    logging.getLogger("uvicorn.access").disabled = True
    # At debug, aiosqlite logs every statement with its parameters (member keys, room
    # ids, ciphertext) and httpx every push endpoint's URL (a capability): never.
    for chatty in ("aiosqlite", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel("WARNING")
    # While PostgreSQL is unreachable asyncpg's pool logs a warning with a traceback
    # at every attempt; server.health says the cause once instead.
    logging.getLogger("asyncpg.pool").setLevel("ERROR")


class _Server(uvicorn.Server):
    """uvicorn's server, announcing where it listens once it does.

    uvicorn re-raises a captured SIGINT/SIGTERM after its graceful shutdown, which
    turns a clean stop into a KeyboardInterrupt traceback or a "killed" exit status;
    a relay that stopped cleanly exits 0 instead.
    """

    web_app = False
    """Whether the relay serves the web app, to say where to open it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        host, port = self.config.host, self.config.port
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                port = sock.getsockname()[1]
                break
        shown = f"[{host}]" if ":" in host else host
        print(f"Hearth relay listening on http://{shown}:{port}", flush=True)  # noqa: T201
        if self.web_app:
            print(f"Web app: open http://{shown}:{port}/ in a browser", flush=True)  # noqa: T201
        print("Press Ctrl+C to stop", flush=True)  # noqa: T201


def _run(main: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run ``main`` on uvloop where it is installed and wanted, else on asyncio's loop.

    uvloop moves the loop's own work (polling, callbacks, socket writes) into C: about
    a sixth of the relay's CPU per message under load (docs/performance.md).
    """
    if event_loop != "asyncio":
        try:
            import uvloop  # noqa: PLC0415 - optional: not built for every platform
        except ImportError:
            if event_loop == "uvloop":
                raise SystemExit(
                    "hearth: event_loop = uvloop, but uvloop is not installed"
                ) from None
        else:
            logging.getLogger("hearth").info("event loop: uvloop %s", version("uvloop"))
            uvloop.run(main)
            return
    logging.getLogger("hearth").info("event loop: asyncio")
    asyncio.run(main)


def _warn_about(config: Config) -> None:
    """Log, once at start, what in ``config`` leaves the people using this relay worse off."""
    if not any(resource.regions for resource in config.crisis):
        logging.getLogger("hearth").warning(
            "no crisis lines are configured for any region: apps will show only the "
            "SDK's short built-in list. List the lines for your community's regions "
            "as [[crisis]] tables (the `crisis` key) in the TOML config file; see "
            'docs/operator.md, "Crisis lines".'
        )


def serve(config: Config) -> int:
    """Run a relay until SIGINT or SIGTERM."""
    _setup_logging(config.log_level, log_keys=config.log_keys)
    _warn_about(config)
    try:
        app = create_app(config)
    except WebAppError as exc:
        print(f"hearth: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    server = _Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=True,
            proxy_headers=config.trust_proxy,
            ws_max_size=config.max_frame_bytes,
            ws_ping_interval=config.ws_ping_interval,
            ws_ping_timeout=config.ws_ping_timeout,
            ws=protocol_class(config.ws_frame_timeout, config.restart_spread),
            http=http_protocol_class(config.header_timeout),
            h11_max_incomplete_event_size=_MAX_HEAD_BYTES,
            timeout_graceful_shutdown=int(config.shutdown_timeout),
            lifespan="on",
        )
    )
    server.web_app = config.web_app
    _run(server.serve(), config.event_loop)
    if not server.started:
        return 1
    print("Hearth relay stopped", flush=True)  # noqa: T201
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hearth`` console script."""
    args = _parser().parse_args(_room_first(list(sys.argv[1:] if argv is None else argv)))
    if args.command == "version":
        print(__version__)  # noqa: T201 - a CLI prints
        return 0
    if args.command == "web-check":  # no configuration: it reads only the address it checks
        return web_check.run(args)
    try:
        config = load_config(
            path=args.config,
            env=os.environ,
            overrides={
                "host": getattr(args, "host", None),
                "port": getattr(args, "port", None),
                "data_dir": args.data_dir,
                "log_level": getattr(args, "log_level", None),
                "log_keys": getattr(args, "log_keys", None),
                "header_timeout": getattr(args, "header_timeout", None),
                "ws_max_per_key": getattr(args, "ws_max_per_key", None),
                "ws_max_per_address": getattr(args, "ws_max_per_address", None),
                "allowed_origins": getattr(args, "allowed_origins", None),
                "web_app": getattr(args, "web_app", None),
                "web_root": getattr(args, "web_root", None),
            },
        )
    except ConfigError as exc:
        print(f"hearth: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    if args.command == "serve":
        return serve(config)
    return _admin(args, config)


def _admin(args: argparse.Namespace, config: Config) -> int:
    """``hearth admin ...`` and ``hearth backup``: 0 done, 1 no such room, 2 refused."""
    # The operator typed the room id: the record of what was done to it keeps it.
    _setup_logging("info", log_keys=True)
    try:
        if args.command == "backup":
            admin.backup(config, args.dest)
            print(f"backed up to {args.dest}")  # noqa: T201
            return 0
        frozen = args.action == "freeze"
        if not admin.run_set_frozen(config, args.room, frozen=frozen):
            print(f"hearth: no room {args.room} here", file=sys.stderr)  # noqa: T201
            return 1
    except HearthError as exc:
        print(f"hearth: {exc.code}: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(f"room {args.room} {'frozen' if frozen else 'unfrozen'}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
