"""The ``hearth`` dispatcher: ``chat`` goes to the app, the rest to the relay, each lazily."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

from client_sdk import AlarmKind, RoomFingerprint
from hearth_chat.texts import ALARM_TEXT, format_room_fingerprint, format_safety_number
from hearth_cli import main


def test_relay_commands_never_load_the_app_or_the_sdk() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from hearth_cli import main; main(['version']); "
            "print(*sorted(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(out.stdout.split())
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


def test_version_goes_to_the_relay_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip()


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
