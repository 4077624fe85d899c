"""The ``hearth`` console script: ``hearth chat`` opens the terminal app, the rest is the relay.

This dispatcher exists so that neither side imports the other: ``server`` must
never import a client, and the chat app (a client built only on ``client_sdk``)
must never import the relay. It looks at the first argument only and imports the
chosen side lazily, so ``hearth serve`` never loads Textual or the SDK, and
``hearth chat`` never loads Litestar. Everything after ``chat`` is the app's own
command line (``hearth chat --help``).

Each side is an extra of the distribution (``relay``, ``chat``); the base install
is the SDK alone. A side whose extra is missing is named with the line that
installs it, never with a traceback. ``hearth --version`` needs neither side.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final

from protocol import __version__

__all__ = ["DISTRIBUTION", "main"]

DISTRIBUTION: Final = "hearth-peer-support"
"""The name pip knows this project by (``hearth`` on the index is another project)."""

# The top-level modules each extra brings; a missing one means the extra is missing.
_EXTRAS: Final = {
    "chat": frozenset({"textual", "rich"}),
    "relay": frozenset({"litestar", "uvicorn", "asyncpg", "redis", "uvloop"}),
}


def _missing_extra(exc: ModuleNotFoundError, extra: str, command: str) -> bool:
    """Print which extra ``command`` needs if ``exc`` is one of its modules missing."""
    if exc.name is None or exc.name.split(".", maxsplit=1)[0] not in _EXTRAS[extra]:
        return False
    print(  # noqa: T201 - the command line's own message
        f"hearth {command} needs the '{extra}' extra ({exc.name} is not installed):"
        f" pip install '{DISTRIBUTION}[{extra}]'",
        file=sys.stderr,
    )
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hearth``: route ``chat`` to :mod:`hearth_chat`, anything else to the relay's CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["version"]):
        print(__version__)  # noqa: T201 - a CLI prints
        return 0
    if args[:1] == ["chat"]:
        try:
            from hearth_chat.cli import main as chat_main  # noqa: PLC0415 - lazy on purpose
        except ModuleNotFoundError as exc:
            if not _missing_extra(exc, "chat", "chat"):
                raise
            return 2
        return chat_main(args[1:])
    if args[:1] in (["-h"], ["--help"]):
        # The relay's parser does not know the chat app; say it exists.
        print("hearth chat [--relay URL] [--profile DIR]: the terminal chat app")  # noqa: T201
        print("hearth --version: print the version")  # noqa: T201
    try:
        from server.cli import main as server_main  # noqa: PLC0415 - lazy on purpose
    except ModuleNotFoundError as exc:
        if not _missing_extra(exc, "relay", args[0] if args else "serve"):
            raise
        return 2
    return server_main(args)
