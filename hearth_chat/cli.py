"""``hearth chat``: parse the command line and run the app.

The relay URL comes from ``--relay``, else the profile's remembered one, else
``http://127.0.0.1:8080`` (what ``hearth serve`` listens on by default).
``--region`` must be a two-letter country code (checked here with the SDK's
:func:`client_sdk.normalise_region`, so a typo is a clear message at start, not
a broken crisis screen later); it filters the crisis lines on this device and is
never sent. The app
locks itself after ``--lock-after`` idle minutes (10 unless told; 0 never).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from client_sdk import normalise_region
from hearth_chat.app import HearthChat
from hearth_chat.profile import Profile

__all__ = ["main"]

DEFAULT_RELAY = "http://127.0.0.1:8080"
DEFAULT_LOCK_MINUTES = 10.0


def _default_profile() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "hearth-chat" / "default"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the terminal app until the person quits; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="hearth chat", description="Hearth's end-to-end encrypted terminal chat"
    )
    parser.add_argument(
        "--relay", help=f"the relay's URL (default: remembered, or {DEFAULT_RELAY})"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=_default_profile(),
        help="the profile folder: keystore, local store, exports (default: %(default)s)",
    )
    parser.add_argument(
        "--kdf",
        choices=["interactive", "moderate", "sensitive"],
        default="moderate",
        help="how hard the passphrase's key derivation is for a new keystore (default moderate)",
    )
    parser.add_argument(
        "--registration-token",
        default=os.environ.get("HEARTH_REGISTRATION_TOKEN"),
        help="for relays whose create_policy is 'token' (or HEARTH_REGISTRATION_TOKEN)",
    )
    parser.add_argument(
        "--region",
        help=(
            "two-letter country code (ISO 3166-1 alpha-2, e.g. GB) for the crisis lines "
            "shown; chosen on this device, never sent (default: the one chosen in the app "
            "before, kept encrypted on this device, else every region)"
        ),
    )
    parser.add_argument(
        "--lock-after",
        type=float,
        default=DEFAULT_LOCK_MINUTES,
        metavar="MINUTES",
        help="lock the app after this many idle minutes; the passphrase unlocks it "
        "(0: never; default %(default)s). Escape twice locks it at once.",
    )
    args = parser.parse_args(argv)
    if args.lock_after < 0:
        parser.error("--lock-after: minutes, 0 or more")
    profile = Profile(args.profile.expanduser(), strength=args.kdf)
    relay = args.relay or profile.remembered_relay() or DEFAULT_RELAY
    try:
        region = normalise_region(args.region or None)
    except ValueError:
        parser.error(
            f"--region takes a two-letter country code such as GB, FR or US, not "
            f"{args.region!r}; leave it out to see the crisis lines of every region"
        )
    HearthChat(
        relay,
        profile,
        registration_token=args.registration_token,
        region=region,
        lock_after=args.lock_after * 60 if args.lock_after else None,
    ).run()
    return 0
