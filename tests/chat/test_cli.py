"""The ``hearth`` dispatcher: ``chat`` goes to the app, the rest to the relay, each lazily."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

import client_sdk
import hearth_chat
import protocol
import server
from client_sdk import AlarmKind, RoomFingerprint
from hearth_chat.texts import ALARM_TEXT, format_room_fingerprint, format_safety_number
from hearth_cli import main


def test_relay_commands_never_load_the_app_or_the_sdk() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom hearth_cli import main\ntry:\n    main(['serve', '--help'])\n"
            "except SystemExit:\n    pass\nprint('MODULES', *sorted(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "usage: hearth serve" in out.stdout
    loaded = set(out.stdout.split("MODULES", 1)[1].split())
    assert "server.cli" in loaded
    assert not {m for m in loaded if m.split(".")[0] in {"textual", "client_sdk", "hearth_chat"}}


def test_chat_never_loads_the_relay() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom hearth_cli import main\ntry:\n    main(['chat', '--help'])\n"
            "except SystemExit:\n    pass\nprint('MODULES', *sorted(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "usage: hearth chat" in out.stdout
    loaded = set(out.stdout.split("MODULES", 1)[1].split())
    assert "hearth_chat.app" in loaded
    assert not {m for m in loaded if m.split(".")[0] in {"server", "litestar", "uvicorn"}}


@pytest.mark.parametrize("argv", [["version"], ["--version"]])
def test_version_needs_neither_side(argv: list[str]) -> None:
    """``hearth --version`` works on the base install: it loads neither the relay nor the app."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from hearth_cli import main; main({argv!r}); print(*sorted(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    version, *loaded = out.stdout.split()
    assert version == protocol.__version__ == client_sdk.__version__ == server.__version__
    assert version == hearth_chat.__version__
    tops = {m.split(".")[0] for m in loaded}
    assert not tops & {"server", "litestar", "uvicorn", "textual", "hearth_chat", "client_sdk"}


def test_help_names_the_chat_app(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "hearth chat" in out
    assert "serve" in out


def test_every_alarm_kind_is_explained() -> None:
    assert set(ALARM_TEXT) == set(get_args(AlarmKind))
    for title, meaning in ALARM_TEXT.values():
        assert title
        assert len(meaning) > 80


def test_safety_numbers_are_grouped_for_reading_aloud() -> None:
    digits = "".join(str(i % 10) for i in range(60))
    rows = format_safety_number(digits).split("\n")
    assert len(rows) == 3
    assert all(len(row.split()) == 4 for row in rows)
    assert "".join(rows).replace(" ", "") == digits
    spaced = " ".join(digits[i : i + 5] for i in range(0, 60, 5))  # as the SDK gives it
    assert format_safety_number(spaced) == format_safety_number(digits)


def test_room_fingerprint_names_its_log_index_above_the_digits() -> None:
    digits = " ".join(f"{i:05d}" for i in range(12))
    title, *rows = format_room_fingerprint(RoomFingerprint(index=7, digits=digits)).split("\n")
    assert title == "Room fingerprint at log entry 7:"
    assert rows == format_safety_number(digits).split("\n")


@pytest.mark.parametrize(
    ("argv", "hidden", "extra"),
    [
        (["serve"], "litestar", "relay"),
        (["serve", "--port", "0"], "uvicorn", "relay"),
        (["chat", "--help"], "textual", "chat"),
    ],
)
def test_a_missing_extra_is_named_not_a_traceback(argv: list[str], hidden: str, extra: str) -> None:
    """A side whose extra is not installed says which line installs it (as in a base install)."""
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            # None in sys.modules makes `import NAME` fail as if NAME were not installed.
            f"import sys; sys.modules[{hidden!r}] = None\n"
            f"from hearth_cli import main\nsys.exit(main({argv!r}))",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"needs the '{extra}' extra" in r.stderr
    assert f"pip install 'hearth-peer-support[{extra}]'" in r.stderr
