"""The ``hearth`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hearth`` console script."""
    parser = argparse.ArgumentParser(prog="hearth", description="Hearth peer-support relay")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(version("hearth"))  # noqa: T201 - a CLI prints
    return 0


if __name__ == "__main__":
    sys.exit(main())
