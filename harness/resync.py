"""Further syncs of a scenario and the source versions they see: each one changes the source.

A scenario's first sync starts at virtual time 0 over the generated dataset (version 0). Each
further sync `k` (1, 2, ...) starts at its own virtual time, possibly while earlier ones still
run; at that instant the source becomes version `k`: version `k - 1` with some threads updated
(a newer `updated_at`, one more message, sometimes a new subject or participant), some added (new
ids, listed last) and some removed from the listing. Everything is a function of the base
dataset and the syncs' fields, so a replay sees the same versions. What the fake API serves from
which version is described in harness/fakeapi.py (`FakeThreadsAPI`) and docs/scenarios.md.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.fakeapi import NO_QUIRKS, Dataset, Quirks, generate_dataset, relist, undate


@dataclass(frozen=True)
class Resync:
    """A further sync: it starts at virtual time `at` over a source changed as `seed` draws."""

    at: float
    seed: int = 0
    updated: int = 0
    added: int = 0
    removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "seed": self.seed,
            "updated": self.updated,
            "added": self.added,
            "removed": self.removed,
        }


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _updated(
    thread: dict[str, Any], rng: random.Random, people: Sequence[str], undated: bool = False
) -> dict[str, Any]:
    """`thread` with one more message, strictly newer than its last: a newer version of it.
    With `undated` (a source some of whose threads have no `updated_at`) an undated thread gets
    one and a dated one loses it half the time, so a newer version may lack what an older had."""
    new: dict[str, Any] = json.loads(json.dumps(thread))
    last = new.get("updated_at") or new["messages"][-1]["sent_at"]
    t = _parse(last) + timedelta(seconds=rng.randrange(60, 86400))
    if rng.random() < 0.5:
        new["subject"] = "Re: " + new["subject"]
    if rng.random() < 0.5:
        extra = [p for p in people if p not in new["participants"]]
        if extra:
            new["participants"] = [*new["participants"], rng.choice(extra)]
    n = len(new["messages"])
    donor = rng.choice(new["messages"])
    new["messages"].append(
        {
            "id": f"{new['id'].replace('thr_', 'msg_')}_{n}",
            "from": rng.choice(new["participants"]),
            "sent_at": _iso(t),
            "body": donor["body"],
        }
    )
    new["updated_at"] = _iso(t)
    if undated and "updated_at" in thread and rng.random() < 0.5:
        del new["updated_at"]
    return new


def _added(dataset_seed: int, sync: Resync, first_id: int) -> list[dict[str, Any]]:
    """`sync.added` new threads, numbered from `first_id` (ids are never reused)."""
    if not sync.added:
        return []
    drawn = generate_dataset(dataset_seed ^ (sync.seed + 1) * 7919, sync.added).threads
    out = []
    for i, thread in enumerate(drawn):
        number = first_id + i
        new: dict[str, Any] = json.loads(json.dumps(thread))
        new["id"] = f"thr_{number:05d}"
        for j, message in enumerate(new["messages"]):
            message["id"] = f"msg_{number:05d}_{j}"
        out.append(new)
    return out


def _next(
    previous: Dataset,
    sync: Resync,
    index: int,
    first_id: int,
    dataset_seed: int,
    undated: bool = False,
) -> Dataset:
    rng = random.Random(f"resync:{dataset_seed}:{index}:{sync.seed}")
    threads = list(previous.threads)
    removed = set(rng.sample(range(len(threads)), min(sync.removed, len(threads))))
    kept = [t for i, t in enumerate(threads) if i not in removed]
    people = sorted({p for t in previous.threads for p in t["participants"]})
    for i in sorted(rng.sample(range(len(kept)), min(sync.updated, len(kept)))):
        kept[i] = _updated(kept[i], rng, people, undated)
    return Dataset(seed=previous.seed, threads=(*kept, *_added(dataset_seed, sync, first_id)))


def _number(thread_id: str) -> int:
    return int(thread_id.removeprefix("thr_"))


@functools.lru_cache(maxsize=64)
def versions(
    seed: int, threads: int, syncs: tuple[Resync, ...], quirks: Quirks = NO_QUIRKS
) -> tuple[Dataset, ...]:
    """The source as each sync finds it: version 0 is the generated dataset, then one per sync;
    with `quirks`, some threads undated and each version's listing repeating some threads."""
    out = [undate(generate_dataset(seed, threads), quirks.undated)]
    next_id = threads
    for index, sync in enumerate(syncs, start=1):
        out.append(_next(out[-1], sync, index, next_id, seed, quirks.undated > 0))
        next_id += sync.added
        assert all(_number(t["id"]) < next_id for t in out[-1].threads)
    if quirks.repeats:
        out = [relist(v, quirks.repeats, f"{seed}:{k}") for k, v in enumerate(out)]
    return tuple(out)


def starts(syncs: Sequence[Resync]) -> list[float]:
    """Every sync's start time, the first one's (0) included."""
    return [0.0, *(s.at for s in syncs)]


__all__ = ["Resync", "starts", "versions"]
