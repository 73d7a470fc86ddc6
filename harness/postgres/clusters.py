"""A cache of freshly initialised data folders, copied into place instead of running initdb.

initdb costs seconds on a busy machine; copying its result costs a tenth of that. One pristine
cluster is kept per server binary folder, server version, server account and initdb options,
and beside it one per set of migrated templates (see `migrated_key`), so that a command also
skips the migrations of the pipelines it names.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.postgres import ownership
from harness.postgres.binaries import CACHE_ROOT, RunAs
from harness.postgres.errors import EnvironmentProblem, one_line
from harness.postgres.launcher import launch

CLUSTER_CACHE = CACHE_ROOT / "clusters"
CACHE_ENV = "THREADSYNC_INITDB_CACHE"  # "0" turns the cache off
MIGRATED_KEPT = 8  # migrated entries (about 50 MB each) kept, the most recently used
# Pristine entries (about 30 MB each) kept: one per installation, server account and version,
# so every new virtualenv (a CI checkout, a nox session) makes one, and they piled up without
# end (4.7 GB, 130 entries, on a machine that ran a few dozen checkouts' suites).
PRISTINE_KEPT = 8
INITDB_ARGS: tuple[str, ...] = (
    "--no-sync",
    "-A",
    "trust",
    "-U",
    "postgres",
    "-E",
    "UTF8",
    "--locale=C",
    # 1 MB WAL segments instead of 16: the WAL a new cluster holds is one segment, and every
    # command copies it (a third of a cached cluster's bytes with 16 MB segments).
    "--wal-segsize=1",
)


def enabled() -> bool:
    """Tell whether initialised clusters are cached (THREADSYNC_INITDB_CACHE=0 turns it off)."""
    return os.environ.get(CACHE_ENV, "1") != "0"


def cache_key(bindir: Path, version: str, run_as: RunAs | None) -> str:
    """The cache entry for one installation, version, server account and set of initdb options."""
    uid = run_as.uid if run_as else os.geteuid()
    text = f"{bindir.resolve()}\0{version}\0{uid}\0{' '.join(INITDB_ARGS)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def migrated_key(base: str, templates: list[tuple[str, str]]) -> str:
    """The entry for a pristine cluster's key plus templates (database name, migrations key)."""
    text = base + "".join(f"\0{name}\0{key}" for name, key in templates)
    return "m" + hashlib.sha256(text.encode()).hexdigest()[:15]


def template_name(pipeline: str, migrations: str) -> str:
    """The name a cached template database has: the pipeline's, and its migrations' key."""
    clean = "".join(c if c.isalnum() else "_" for c in pipeline.lower())[:24]
    return f"threadsync_tpl_{clean}_{migrations[:16]}"


def _reap_staging() -> None:
    """Remove half-made entries whose maker died (each carries an owner record)."""
    try:
        entries = list(CLUSTER_CACHE.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            owner = ownership.read_owner(entry)
            if owner is not None and not ownership.is_alive(owner):
                shutil.rmtree(entry, ignore_errors=True)


def pristine(key: str, run_as: RunAs | None, initdb: Callable[[Path], None]) -> Path:
    """The cached cluster for key, made once with initdb(folder) (or any maker of a data
    folder) and published atomically."""
    final = CLUSTER_CACHE / key
    if (final / "data" / "PG_VERSION").is_file():
        return final / "data"
    CLUSTER_CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE_ROOT, 0o755)
    os.chmod(CLUSTER_CACHE, 0o755)
    _reap_staging()
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=CLUSTER_CACHE))
    try:
        ownership.write_owner(staging)
        if run_as is not None:
            os.chown(staging, run_as.uid, run_as.gid)
        initdb(staging / "data")
        (staging / ownership.OWNER_FILE).unlink()
        try:
            os.rename(staging, final)
        except OSError:
            # Another process published the same entry first: use theirs.
            if not (final / "data" / "PG_VERSION").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final / "data"


def keep_recent(key: str, keep: int | None = None) -> None:
    """Mark an entry as just used and remove the least recently used of its kind (migrated or
    pristine) beyond `keep` (by default MIGRATED_KEPT or PRISTINE_KEPT): every change to a
    migration makes a new migrated entry, every new installation path a new pristine one, and
    the old ones would pile up. A process still copying a removed entry fails its copy and
    starts the slower way (from the pristine cluster, or with initdb)."""
    migrated = key.startswith("m")
    with contextlib.suppress(OSError):
        os.utime(CLUSTER_CACHE / key)
    try:
        entries = [
            e
            for e in CLUSTER_CACHE.iterdir()
            if not e.name.startswith(".") and e.name.startswith("m") == migrated
        ]
        entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    except OSError:
        return
    if keep is None:
        keep = MIGRATED_KEPT if migrated else PRISTINE_KEPT
    for entry in entries[keep:]:
        if entry.name != key:
            shutil.rmtree(entry, ignore_errors=True)


def discard(key: str) -> None:
    """Drop a cache entry that did not work (so the next start runs initdb again)."""
    shutil.rmtree(CLUSTER_CACHE / key, ignore_errors=True)


def copy_cluster(source: Path, target: Path, popen_kwargs: dict[str, object]) -> None:
    """Copy a pristine cluster into place as the server account, keeping modes (cp -a)."""
    proc = launch(
        ["cp", "-a", str(source), str(target)],
        signal.SIGKILL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **popen_kwargs,
    )
    out, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"copying the cached cluster {source} failed: {one_line(out.decode(errors='replace'))}"
            f"; remove {CLUSTER_CACHE} or set {CACHE_ENV}=0"
        )
