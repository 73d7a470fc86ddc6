"""A Supabase project with one patch applied, in a folder of its own: how a known-bad variant of
the reference (`examples/incident/bugs/*.patch`) becomes a project `--functions` loads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

# What a variant may change: the project's SQL and its functions, nothing of the repository else.
ALLOWED = ("supabase/migrations/", "supabase/functions/")
_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)
_SKIP = shutil.ignore_patterns(".temp", ".branches", "node_modules")


class VariantError(Exception):
    """A patch does not make a variant of the project; the message names the patch and why."""


def touched(patch: Path) -> list[str]:
    """The paths a unified diff (`git diff` output) changes, checked to be the project's own."""
    try:
        text = patch.read_text(encoding="utf-8")
    except OSError as exc:
        raise VariantError(f"{patch}: cannot read it ({exc.strerror})") from None
    paths = sorted({p for pair in _DIFF_HEADER.findall(text) for p in pair})
    if not paths:
        raise VariantError(f"{patch}: no `diff --git a/... b/...` header; is it a git diff?")
    outside = [p for p in paths if not p.startswith(ALLOWED)]
    if outside:
        raise VariantError(
            f"{patch}: changes {outside[0]}, outside {' and '.join(ALLOWED)}; a variant is the "
            "project's migrations and functions with one bug"
        )
    return paths


def materialise(project: Path, patch: Path, dest: Path) -> Path:
    """Copy `project` (a `supabase/` folder) to `dest/supabase`, apply `patch` there (paths as
    `git diff` at the repository root writes them) and return the copy."""
    touched(patch)
    if not (project / "migrations").is_dir() or not (project / "functions").is_dir():
        raise VariantError(f"{project}: not a Supabase project (no migrations/ and functions/)")
    if (dest / "supabase").exists():
        raise VariantError(f"{dest / 'supabase'} exists already; materialise into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(project, dest / "supabase", ignore=_SKIP)
    git = shutil.which("git")
    if git is None:
        raise VariantError("applying a variant's patch needs git on PATH (`git apply`)")
    # Outside any repository, so that git applies the patch to these files and no others
    # (inside one it would take the paths as the repository's and skip what lies outside dest).
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(dest.resolve().parent)}
    for check in (True, False):
        cmd = [git, "apply", *(["--check"] if check else []), str(patch.resolve())]
        done = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            why = " ".join(done.stderr.split()) or f"git apply exited with {done.returncode}"
            raise VariantError(
                f"{patch} does not apply to {project}: {why}; regenerate it with `git diff -- "
                "supabase` on a tree that has the bug"
            )
    return dest / "supabase"


__all__ = ["ALLOWED", "VariantError", "materialise", "touched"]
