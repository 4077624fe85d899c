"""The repository explains itself: its docs link only to files it contains.

The architecture and the conventions once lived outside the repository (a design
brief and a style guide); they are docs/design.md and CONTRIBUTING.md now, and no
doc may send a reader to a file that is not here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_point_at_files_in_the_repo(doc: Path) -> None:
    missing = [
        target
        for target in LINK.findall(doc.read_text("utf-8"))
        if "://" not in target
        and not target.startswith("mailto:")
        and not (doc.parent / target).exists()
    ]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_doc_names_the_design_brief_or_style_guide_files(doc: Path) -> None:
    text = doc.read_text("utf-8")
    assert "DESIGN.md" not in text
    assert "STYLE.md" not in text


TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_every_front_end_rule_names_a_test_that_exists() -> None:
    """docs/front-ends.md ties each rule to a test: each named test must be there."""
    text = (ROOT / "docs" / "front-ends.md").read_text("utf-8")
    named = TEST_ID.findall(text)
    assert len(named) >= 30
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (ROOT / path).exists()
        or not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text("utf-8"), re.M)
    ]
    assert missing == []


JS_TEST_ID = re.compile(r"`(js/[\w/]+\.test\.ts)::([^`]+)`")


def test_every_web_app_rule_names_a_browser_test_that_exists() -> None:
    """The web app's part of docs/front-ends.md names vitest tests: each must be there.

    A name is vitest's ``it`` name; one written as a template (``... (${x} release.json)``)
    is matched up to its parenthesised part.
    """
    text = (ROOT / "docs" / "front-ends.md").read_text("utf-8")
    named = JS_TEST_ID.findall(text)
    assert len(named) >= 15
    missing = []
    for path, name in named:
        source = (ROOT / path).read_text("utf-8") if (ROOT / path).exists() else ""
        stem = name.split(" (", 1)[0]
        if not re.search(r"\bit(?:\.\w+\([^)]*\))?\(\s*[`\"]" + re.escape(stem), source):
            missing.append(f"{path}::{name}")
    assert missing == []
