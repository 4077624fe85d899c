"""The storage rules both backends share (``server/storage/_rules.py``), without a database."""

from __future__ import annotations

import pytest

from server.errors import RelayError
from server.storage import _rules as rules


def code(exc: pytest.ExceptionInfo[RelayError]) -> str:
    return exc.value.code


def test_log_index() -> None:
    rules.check_log_index(3, None)  # a write that names no log is never refused
    rules.check_log_index(3, 3)
    with pytest.raises(RelayError) as caught:
        rules.check_log_index(4, 3)
    assert code(caught) == "log.conflict"


@pytest.mark.parametrize(
    ("first_young", "last_seq", "low", "mark"),
    [
        (None, 10, 0, 10),  # every event is old: the whole room
        (5, 10, 0, 4),  # the first young event bounds the prefix
        (5, 10, 4, None),  # nothing beyond the mark already reached
        (3, 10, 4, None),  # a mark never goes back
        (None, 0, 0, None),  # an empty room
    ],
)
def test_purge_mark(first_young: int | None, last_seq: int, low: int, mark: int | None) -> None:
    assert rules.purge_mark(first_young, last_seq, low) == mark


def test_erasure_span() -> None:
    assert rules.erasure_span(0, None) is None
    assert rules.erasure_span(0, 7) is None
    assert rules.erasure_span(2, 7) == 7


def test_claim_outcome() -> None:
    assert rules.claim_outcome((2000, None, b"box"), 1999) == b"box"
    assert rules.claim_outcome((2000, None, b"box"), 2000) is None  # expired at its instant
    assert rules.claim_outcome((2000, None, None), 1000) is None  # dropped by retention
    for offer, expected in ((None, "link.not_found"), ((2000, 1500, None), "link.used")):
        with pytest.raises(RelayError) as caught:
            rules.claim_outcome(offer, 1000)
        assert code(caught) == expected


def test_link_cap() -> None:
    rules.check_link_pending(1, 2)
    with pytest.raises(RelayError) as caught:
        rules.check_link_pending(2, 2)
    assert code(caught) == "link.too_many"


def test_personal_write() -> None:
    limits = {"max_docs": 2, "max_bytes": 10}
    assert rules.personal_write(None, (0, 0), expected=0, size=10, **limits) == 1
    assert rules.personal_write((1, 8), (2, 10), expected=1, size=8, **limits) == 2  # replaces
    with pytest.raises(RelayError) as conflict:
        rules.personal_write((4, 1), (1, 1), expected=3, size=1, **limits)
    assert (code(conflict), conflict.value.detail) == ("personal.conflict", {"version": 4})
    with pytest.raises(RelayError) as created:
        rules.personal_write(None, (1, 1), expected=1, size=1, **limits)
    assert created.value.detail == {"version": 0}
    for current, totals, size in ((None, (2, 2), 1), ((1, 2), (1, 2), 11)):
        with pytest.raises(RelayError) as quota:
            rules.personal_write(
                current, totals, expected=current[0] if current else 0, size=size, **limits
            )
        assert code(quota) == "personal.quota"


def test_push_cap() -> None:
    rules.check_push_limit(2, 1, 2)  # a device replacing its own registration
    rules.check_push_limit(1, 0, 2)
    with pytest.raises(RelayError) as caught:
        rules.check_push_limit(2, 0, 2)
    assert (code(caught), caught.value.detail) == ("push.too_many", {"limit": 2})
