"""The noxfile under a Python other than 3.11, with no 3.11 anywhere on PATH: sessions run on the
interpreter running nox, and a session whose interpreter is missing fails instead of being skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OTHER_VERSIONS = ("3.12", "3.13")
HIDDEN = ("python", "pip", "pydoc", "2to3", "idle")


def other_python() -> Path | None:
    """A Python 3.12 or 3.13 (on PATH or under pyenv) that has nox installed."""
    for version in OTHER_VERSIONS:
        found = shutil.which(f"python{version}")
        pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
        for candidate in ([found] if found else []) + sorted(glob.glob(pyenv)):
            probe = subprocess.run(
                [candidate, "-c", "import nox"], capture_output=True, check=False
            )
            if probe.returncode == 0:
                return Path(candidate)
    return None


@pytest.fixture(scope="module")
def python() -> Path:
    found = other_python()
    if found is None:
        pytest.skip(
            f"no Python {' or '.join(OTHER_VERSIONS)} with nox here: install one "
            "(python3.12 -m pip install nox) to test the noxfile under it"
        )
    return found


@pytest.fixture(scope="module")
def only_that_python(python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose PATH holds the system's tools and that one Python, no other."""
    tools = tmp_path_factory.mktemp("bin")
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for entry in sorted(Path(folder).glob("*")) if Path(folder).is_dir() else []:
            if not entry.name.startswith(HIDDEN) and not (tools / entry.name).exists():
                (tools / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYENV_VERSION", "VIRTUAL_ENV")}
    env["PATH"] = f"{python.parent}{os.pathsep}{tools}"
    missing = subprocess.run(
        ["sh", "-c", "command -v python3.11"], env=env, capture_output=True, check=False
    )
    assert missing.returncode != 0, "python3.11 is still on the restricted PATH"
    return env


def nox(python: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "nox", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )


def test_a_session_whose_interpreter_is_missing_fails(
    python: Path, only_that_python: dict[str, str], tmp_path: Path
) -> None:
    proc = nox(
        python, only_that_python, "-s", "lint", "--force-python", "3.10", "--envdir", str(tmp_path)
    )
    output = proc.stdout + proc.stderr
    assert "Python interpreter 3.10 not found" in output, output
    assert proc.returncode != 0, output
    assert "Session lint-3.10 failed" in output and "skipped" not in output, output


def test_run_session_runs_on_the_python_running_nox(
    python: Path, only_that_python: dict[str, str]
) -> None:
    # The session's own virtualenv, .nox/py<version>/run, is reused when it exists (as nox does
    # for a user); the first time it is created and the project installed, about 40 s.
    proc = nox(python, only_that_python, "-s", "run", "--", "--threads", "20", "--page-size", "5")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "skipped" not in output, output
    assert "OK: 20 threads synced exactly once from 4 pages" in output, output
    version = python.name.removeprefix("python")
    # One folder of virtualenvs per interpreter: runs under two versions never share one.
    venv = ROOT / ".nox" / f"py{version}" / "run"
    assert f".nox/py{version}/run" in output, output
    assert (venv / "bin" / f"python{version}").exists(), sorted(
        p.name for p in (venv / "bin").iterdir()
    )
