"""The check that the sweeper skips a queue row a worker holds instead of waiting for its lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.attribution import ROLE_TABLE, targets
from harness.history import Event, History

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation

PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"
# The work item tables: a row of these held by a worker is live work the sweeper must not wait on.
QUEUES = (PAGE, ENTRY)


def _table(lock: Mapping[str, Any]) -> str | None:
    relation = lock.get("relation")
    return str(relation).rsplit(".", 1)[-1] if relation else None


def sweeper_waits(history: History) -> list[tuple[Event, str, list[str]]]:
    """(blocked event, queue table, holding workers) for each time a sweep waited for a lock on a
    queue row held by a worker (a page worker or processor delivery)."""
    role = {e.actor: e.role for e in history.events}
    found = []
    for e in history.events:
        lock = e.detail.get("lock")
        if e.kind != "blocked" or e.role != "sweeper" or not isinstance(lock, Mapping):
            continue  # a history recorded before locks were named is not judged
        table = _table(lock)
        if table not in QUEUES:
            continue  # the job row, say: a lease dead letter may rightly wait for a finisher
        holders = [str(h) for h in lock.get("holders") or () if role.get(str(h)) in ROLE_TABLE]
        if holders:
            found.append((e, table, holders))
    return found


def sweep_skips_held_work(inp: CheckInput) -> Violation | None:
    """The sweeper never waits for a lock on a queue row (a page or thread entry) that a worker
    holds: the row is live work, and a sweep skips it (SKIP LOCKED) rather than queue behind its
    worker, which delays every other rescue and can deadlock with that worker."""
    from harness.checks import Violation, _few, related_steps

    waits = sweeper_waits(inp.history)
    if not waits:
        return None
    owner = targets(inp.history)
    problems = []
    pages: set[int] = set()
    entries: set[int] = set()
    for e, table, holders in waits:
        held = [h + (f" (on #{owner[h][1]})" if h in owner else "") for h in holders]
        for h in holders:
            if h in owner:
                (pages if owner[h][0] == PAGE else entries).add(owner[h][1])
        lock = e.detail["lock"]
        what = (
            f"the lock of a {table} row"
            if lock.get("locktype") in ("transactionid", "tuple")
            else f"a {lock.get('locktype')} lock ({lock.get('mode')}) on {table}"
        )
        problems.append(
            f"{e.actor}'s sweep at t={e.time:g}s waited for {what} held by {', '.join(held)}"
        )
    count = len(problems)
    return Violation(
        "sweep-skips-held-work",
        f"{count} sweep{'s' if count != 1 else ''} waited for a queue row a worker held",
        _few(problems),
        tuple(f"t={e.time:g}s {e.actor} blocked (step {e.seq})" for e, _, _ in waits[:4])
        + related_steps(inp.history, PAGE, pages)
        + related_steps(inp.history, ENTRY, entries),
    )
