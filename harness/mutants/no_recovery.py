"""Seed issue 5, no rescue job at all (the sweeper and sweep() do nothing), so a worker that dies
after its claim leaves the item processing forever and a lost webhook leaves it pending forever:
violates no-stuck-work."""

from __future__ import annotations

from harness.mutants._base import mutant
from threadsync.pipeline import Context, Reply

_NOTHING = {
    "pages_requeued": 0,
    "pages_failed": 0,
    "pages_emitted": 0,
    "threads_requeued": 0,
    "threads_failed": 0,
    "threads_emitted": 0,
}


def sweep(ctx: Context) -> Reply:
    """A scheduled job that exists but rescues nothing: the seed had no cleanup at all."""
    return Reply(200, {"outcome": "done", **_NOTHING})


# Shown in docs/mutants.md.
WHY_NOT_A_PATCH = (
    "Its sweeper handler does nothing, and its SQL replaces the whole of sweep() with a stub "
    "that returns zeros: a replacement, not an edit."
)

pipeline = mutant("no_recovery", sql=("no_recovery",), sweeper=sweep)
