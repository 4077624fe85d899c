"""Typed follow-ups (``client_sdk/_core/followups.py``): made by the core, handled in one place.

The core asks its driver for work as values; the client's ``_Host.follow_up`` is the
one handler. These tests pin that every kind of :data:`FollowUp` has its case there
and that the match ends in ``assert_never`` (so mypy names a kind left out), and how
a step collects follow-ups.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import get_args

from client_sdk._core import followups
from client_sdk._core.followups import (
    Abandon,
    FollowUp,
    JoinBuddy,
    Reprofile,
    Republish,
    Reseal,
    Restatus,
)
from client_sdk._core.step import Step
from protocol.ids import MemberId, MessageId

CLIENT = Path(__file__).resolve().parents[2] / "client_sdk" / "client.py"


def _handler() -> ast.FunctionDef:
    tree = ast.parse(CLIENT.read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "_Host":
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "follow_up":
                    return item
    raise AssertionError("client.py has no _Host.follow_up")


def test_every_follow_up_class_is_in_the_union() -> None:
    defined = {
        cls
        for _, cls in inspect.getmembers(followups, inspect.isclass)
        if cls.__module__ == followups.__name__ and dataclasses.is_dataclass(cls)
    }
    assert set(get_args(FollowUp)) == defined
    assert len(defined) == 6  # Reprofile (issue 19) is the sixth


def test_the_host_handles_every_follow_up_and_ends_in_assert_never() -> None:
    matches = [n for n in ast.walk(_handler()) if isinstance(n, ast.Match)]
    assert len(matches) == 1, "one match over the follow-up"
    cases = matches[0].cases
    handled = [
        c.pattern.cls.id
        for c in cases
        if isinstance(c.pattern, ast.MatchClass) and isinstance(c.pattern.cls, ast.Name)
    ]
    assert sorted(handled) == sorted(cls.__name__ for cls in get_args(FollowUp))
    last = cases[-1]
    assert isinstance(last.pattern, ast.MatchAs), "case _:"
    assert last.pattern.pattern is None, "case _:"
    calls = [n for n in ast.walk(last) if isinstance(n, ast.Call)]
    assert [ast.unparse(c.func) for c in calls] == ["assert_never"]
    for case in cases[:-1]:  # each kind spawns its work in the background
        spawned = [n for n in ast.walk(case) if isinstance(n, ast.Call)]
        assert any(ast.unparse(c.func) == "self._client._spawn" for c in spawned), case


def test_a_step_asks_once_for_what_runs_once_and_keeps_the_order() -> None:
    a, b = MessageId("a"), MessageId("b")
    step = Step()
    step.follow(Republish())
    step.follow(JoinBuddy(a))
    other = Step()
    other.follow(Republish())
    other.follow(Restatus())
    other.follow(JoinBuddy(a))
    other.follow(Abandon(b))
    other.follow(Reseal(b, "help", [MemberId("m")]))
    other.follow(Restatus())
    other.follow(Reprofile())
    other.follow(Reprofile())
    step.extend(other)
    assert step.follow_ups == [
        Republish(),
        JoinBuddy(a),
        Restatus(),
        JoinBuddy(a),
        Abandon(b),
        Reseal(b, "help", [MemberId("m")]),
        Reprofile(),
    ]
