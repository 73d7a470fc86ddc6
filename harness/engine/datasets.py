"""Datasets, and the Faker pools they draw from, kept on disk between commands (Faker is slow).

A dataset is a function of its seed and size, of the generator's source (harness/fakeapi.py), of
the installed Faker and of Python's `random`: the cache key is all of those, so a change to any
of them reads nothing stale. Importing Faker and drawing one seed's pools costs a whole replay
a few hundred milliseconds; reading a few kB of JSON costs well under one. A further sync
draws its new threads from pools of a seed of its own (harness/resync.py), so an exploration
meets up to twenty pool seeds; each costs every new search process 50-300 ms unless cached.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import fakeapi
from harness.fakeapi import Dataset, Pools
from harness.postgres.binaries import CACHE_ROOT

DATASET_CACHE = CACHE_ROOT / "datasets"
CACHE_ENV = "THREADSYNC_DATASET_CACHE"  # "0" turns the cache off
KEYS_KEPT = 8  # generator versions kept (a few hundred kB each), the most recently used


def enabled() -> bool:
    """Tell whether datasets are cached on disk (THREADSYNC_DATASET_CACHE=0 turns it off)."""
    return os.environ.get(CACHE_ENV, "1") != "0"


@functools.cache
def generator_key() -> str:
    """A digest of what a dataset depends on besides its seed and size."""
    digest = hashlib.sha256(Path(fakeapi.__file__).read_bytes())
    spec = importlib.util.find_spec("faker")  # finds the package without importing it
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is not None:
        stat = origin.stat()
        digest.update(f"\0{origin}\0{stat.st_mtime_ns}\0{stat.st_size}".encode())
    digest.update(f"\0{sys.version_info[:2]}".encode())
    return digest.hexdigest()[:16]


def _path(seed: int, threads: int) -> Path:
    return DATASET_CACHE / generator_key() / f"{seed}-{threads}.json"


def _read(path: Path, seed: int) -> Dataset | None:
    try:
        threads = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(threads, list):
        return None
    return Dataset(seed=seed, threads=tuple(threads))


def _write(path: Path, data: Dataset) -> None:
    _publish(path, list(data.threads))


def _publish(path: Path, value: Any) -> None:
    """Write JSON atomically (a reader sees the whole file or none); a failure only costs time."""
    with contextlib.suppress(OSError):
        fresh = not path.parent.is_dir()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, separators=(",", ":"))
        os.replace(tmp, path)
        if fresh:
            _keep_recent(path.parent.name)


def _keep_recent(key: str) -> None:
    """Remove the cached datasets of all but the most recently used generator versions."""
    try:
        entries = sorted(DATASET_CACHE.iterdir(), key=lambda e: e.stat().st_mtime, reverse=True)
    except OSError:
        return
    for entry in entries[KEYS_KEPT:]:
        if entry.name != key:
            shutil.rmtree(entry, ignore_errors=True)


def load_or_make(seed: int, threads: int, make: Callable[[int, int], Dataset]) -> Dataset:
    """The dataset for (seed, threads): read from the cache, or made and stored there."""
    if not enabled():
        return make(seed, threads)
    path = _path(seed, threads)
    found = _read(path, seed)
    if found is not None:
        return found
    data = make(seed, threads)
    _write(path, data)
    return data


def load_or_make_pools(seed: int, make: Callable[[int], Pools]) -> Pools:
    """The Faker pools of `seed`: read from the cache, or drawn and stored there."""
    if not enabled():
        return make(seed)
    path = DATASET_CACHE / generator_key() / f"pools-{seed}.json"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        found = None
    if (
        isinstance(found, list)
        and len(found) == 3
        and all(isinstance(p, list) and all(isinstance(x, str) for x in p) for p in found)
    ):
        emails, subjects, bodies = found
        return tuple(emails), tuple(subjects), tuple(bodies)
    pools = make(seed)
    _publish(path, [list(p) for p in pools])
    return pools
