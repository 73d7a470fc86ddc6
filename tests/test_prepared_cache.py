"""Preparing the server binaries is remembered between commands, and redone when they change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.postgres import binaries


def _forbid(*_: object) -> None:
    raise AssertionError("prepared again although nothing changed")


@pytest.fixture
def memo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(binaries, "PREPARED_CACHE", tmp_path / "prepared")
    monkeypatch.setattr(binaries, "_prepared", {})
    monkeypatch.setattr(binaries, "_versions", {})
    return tmp_path / "prepared"


def test_a_second_command_reads_the_answer(memo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = binaries.find_pg_bin(None)
    run_as = binaries.server_account()
    first = binaries.prepare_pg_bin(bindir, run_as)
    version = binaries.version_of(first)
    assert len(list(memo_dir.glob("*.json"))) == 1
    monkeypatch.setattr(binaries, "_prepared", {})  # a new process
    monkeypatch.setattr(binaries, "_versions", {})
    monkeypatch.setattr(binaries, "_server_version", _forbid)
    monkeypatch.setattr(binaries, "_tree_readable_by_others", _forbid)
    assert binaries.prepare_pg_bin(bindir, run_as) == first
    assert binaries.version_of(first) == version


def test_a_changed_installation_is_prepared_again(tmp_path: Path, memo_dir: Path) -> None:
    source = binaries.find_pg_bin(None)
    copy = tmp_path / "install"
    shutil.copytree(source.parent, copy, symlinks=True, ignore=shutil.ignore_patterns("include"))
    bindir = copy / "bin"
    binaries.prepare_pg_bin(bindir, None)
    binaries._prepared.clear()
    stat = (bindir / "postgres").stat()
    os.utime(bindir / "postgres", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    binaries.prepare_pg_bin(bindir, None)
    assert len(list(memo_dir.glob("*.json"))) == 2


def test_a_broken_memo_is_ignored(memo_dir: Path) -> None:
    bindir = binaries.find_pg_bin(None)
    first = binaries.prepare_pg_bin(bindir, None)
    (memo,) = memo_dir.glob("*.json")
    memo.write_text("{", encoding="utf-8")
    binaries._prepared.clear()
    assert binaries.prepare_pg_bin(bindir, None) == first
