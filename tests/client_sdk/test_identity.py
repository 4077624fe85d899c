"""Identity and keystore: the root seed round-trips through a passphrase, and only through it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from client_sdk import Identity, KeystoreError
from protocol import PhraseError
from tests.protocol.builders import some_room_id


def test_recovery_phrase_restores_every_room_key() -> None:
    me = Identity.generate()
    again = Identity.from_recovery_phrase(me.recovery_phrase.lower().replace("-", " "))
    assert again == me
    room = some_room_id()
    assert again.room_keys(room).member == me.room_keys(room).member
    assert me.room_keys(room).member != me.room_keys(some_room_id()).member
    assert "secret" in repr(me)
    assert me.recovery_phrase not in repr(me)


def test_a_typo_in_the_phrase_is_caught() -> None:
    phrase = Identity.generate().recovery_phrase
    typo = ("1" if phrase[0] != "1" else "2") + phrase[1:]
    with pytest.raises(PhraseError) as info:
        Identity.from_recovery_phrase(typo)
    assert info.value.code == "phrase.checksum"


def test_keystore_round_trip(tmp_path: Path) -> None:
    me = Identity.generate()
    path = tmp_path / "me.key"
    me.save(path, "correct horse battery staple")
    assert os.stat(path).st_mode & 0o777 == 0o600
    text = path.read_text()
    assert me.recovery_phrase.replace("-", "") not in text.replace("-", "")
    assert Identity.load(path, "correct horse battery staple") == me


def test_keystore_default_strength_is_moderate(tmp_path: Path) -> None:
    path = tmp_path / "me.key"
    Identity.generate().save(path, "pw")
    record = json.loads(path.read_text())
    assert record["kdf"] == "argon2id"
    assert record["memlimit"] == 256 * 1024 * 1024


def test_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "me.key"
    Identity.generate().save(path, "right", strength="interactive")
    with pytest.raises(KeystoreError) as info:
        Identity.load(path, "wrong")
    assert info.value.code == "keystore.wrong_passphrase"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda r: {**r, "box": r["box"][:-4] + "AAA="}, "keystore.wrong_passphrase"),
        (lambda r: {**r, "version": 99}, "keystore.version"),
        (lambda r: {**r, "memlimit": 2**40}, "keystore.corrupt"),
        (lambda r: {**r, "format": "other"}, "keystore.corrupt"),
        (lambda r: "not json", "keystore.corrupt"),
    ],
)
def test_damaged_keystore_is_refused(tmp_path: Path, change, code: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "me.key"
    Identity.generate().save(path, "pw", strength="interactive")
    record = change(json.loads(path.read_text()))
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    with pytest.raises(KeystoreError) as info:
        Identity.load(path, "pw")
    assert info.value.code == code


def test_empty_passphrase_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError) as info:
        Identity.generate().save(tmp_path / "k", "")
    assert info.value.code == "keystore.passphrase"
    with pytest.raises(KeystoreError) as info:
        Identity.load(tmp_path / "missing", "pw")
    assert info.value.code == "keystore.io"
