"""Where the Deno binary is (the `deno` wheel on PyPI carries it) and how to run it.

`python -m harness.functions.deno <args>` runs it with `deno_env()`, for nox and for people.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

DENO_DIR_ENV = "THREADSYNC_DENO_DIR"
DEFAULT_DENO_DIR = Path("~/.cache/threadsync/deno")
REQUIREMENT = "deno==2.9.8"  # as pinned in pyproject.toml


class DenoMissing(RuntimeError):
    """The `deno` wheel, or the binary it should carry, is not installed."""


def deno_binary() -> Path:
    """The Deno binary the `deno` wheel installed into this Python environment."""
    try:
        from deno import find_deno_bin
    except ImportError:
        raise DenoMissing(
            f"Deno is not installed for {sys.executable}: run "
            f"`{sys.executable} -m pip install '{REQUIREMENT}'` (or install threadsync with pip)"
        ) from None
    try:
        return Path(find_deno_bin())
    except FileNotFoundError as e:
        raise DenoMissing(
            f"the deno wheel is installed but its binary is missing ({e}): reinstall it with "
            f"`{sys.executable} -m pip install --force-reinstall '{REQUIREMENT}'`"
        ) from None


def deno_dir() -> Path:
    """Deno's cache (npm packages, type-check results): THREADSYNC_DENO_DIR, or
    ~/.cache/threadsync/deno."""
    override = os.environ.get(DENO_DIR_ENV)
    return Path(override).expanduser() if override else DEFAULT_DENO_DIR.expanduser()


def deno_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run Deno with: `base` (default os.environ) plus its cache folder, and
    no update check, colours or permission prompts (a prompt would wait for ever)."""
    env = dict(os.environ if base is None else base)
    env.update(
        DENO_DIR=str(deno_dir()),
        DENO_NO_UPDATE_CHECK="1",
        DENO_NO_PROMPT="1",
        NO_COLOR="1",
    )
    return env


def main(argv: list[str] | None = None) -> int:
    """Run Deno with `argv` (default: this process's arguments) and deno_env()."""
    args = sys.argv[1:] if argv is None else argv
    try:
        binary = deno_binary()
    except DenoMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return subprocess.run([str(binary), *args], env=deno_env(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
