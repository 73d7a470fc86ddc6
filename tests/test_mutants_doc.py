"""docs/mutants.md is what `python -m harness.mutants.doc` renders from today's mutants."""

from __future__ import annotations

from harness.mutants import MUTANTS
from harness.mutants.doc import DOC, render


def test_docs_mutants_md_is_up_to_date() -> None:
    expected = render()
    written = DOC.read_text(encoding="utf-8")
    assert written == expected, (
        "docs/mutants.md is out of date: run `.venv/bin/python -m harness.mutants.doc` "
        "and commit the result"
    )


def test_every_mutant_has_a_section_with_its_bug() -> None:
    text = render()
    for name in MUTANTS:
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert "The bug is " in section or "Not stored as a patch: " in section, name
