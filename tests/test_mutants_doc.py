"""docs/mutants.md is what `python -m harness.mutants.doc` renders from today's mutants."""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import pytest

from harness.mutants import MUTANTS, doc
from harness.mutants.doc import DOC, render
from threadsync.reference import pipeline as reference


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


def test_a_mutant_neither_patched_nor_explained_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    unexplained = types.ModuleType("harness.mutants.unexplained")
    unexplained.__doc__ = "A sweeper that does nothing."
    unexplained.pipeline = dataclasses.replace(reference, name="unexplained")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness.mutants.unexplained", unexplained)
    monkeypatch.setattr(doc, "MUTANTS", {"unexplained": "harness.mutants.unexplained:pipeline"})
    with pytest.raises(LookupError, match=r"'unexplained' is neither a patch nor says why"):
        doc.render()


def test_help_and_check_write_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mutants.md"
    target.write_text("stale\n", encoding="utf-8")
    monkeypatch.setattr(doc, "DOC", target)
    with pytest.raises(SystemExit) as help_exit:
        doc.main(["--help"])
    assert help_exit.value.code == 0
    assert doc.main(["--check"]) == 1
    assert "mutants.md is out of date" in capsys.readouterr().out
    assert target.read_text(encoding="utf-8") == "stale\n"
    assert doc.main([]) == 0
    assert target.read_text(encoding="utf-8") == render()
    assert doc.main(["--check"]) == 0
