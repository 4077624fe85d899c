"""The ``hearth`` console script: ``hearth chat`` opens the terminal app, the rest is the relay.

This dispatcher exists so that neither side imports the other: ``server`` must
never import a client, and the chat app (a client built only on ``client_sdk``)
must never import the relay. It looks at the first argument only and imports the
chosen side lazily, so ``hearth serve`` never loads Textual or the SDK, and
``hearth chat`` never loads Litestar. Everything after ``chat`` is the app's own
command line (``hearth chat --help``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hearth``: route ``chat`` to :mod:`hearth_chat`, anything else to the relay's CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["chat"]:
        try:
            from hearth_chat.cli import main as chat_main  # noqa: PLC0415 - lazy on purpose
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("textual"):
                raise
            print(  # noqa: T201 - the command line's own message
                "hearth chat needs the 'chat' extra: pip install 'hearth[chat]'",
                file=sys.stderr,
            )
            return 2
        return chat_main(args[1:])
    if args[:1] in (["-h"], ["--help"]):
        # The relay's parser does not know the chat app; say it exists.
        print("hearth chat [--relay URL] [--profile DIR]: the terminal chat app")  # noqa: T201
    from server.cli import main as server_main  # noqa: PLC0415 - lazy on purpose

    return server_main(args)
