"""Which queue row each actor of a history worked on, and which of its attempts faults broke."""

from __future__ import annotations

from collections.abc import Iterable

from harness.history import Event, History

PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"
ROLE_TABLE = {"page_worker": PAGE, "processor": ENTRY}
# Injected faults that end an attempt: the worker dies, loses its connection, or outlives its lease
# (a stall, a clock skip while it ran, or a pause with seconds inside one of its statements).
ATTEMPT_FAULTS = {"crash", "kill_connection", "stall"}

Target = tuple[str, int]


def targets(history: History) -> dict[str, Target]:
    """Actor id -> (table, row id) named by the webhook it served."""
    out: dict[str, Target] = {}
    for e in history.events:
        if e.kind == "invoke" and e.role in ROLE_TABLE:
            record = e.detail.get("record_id")
            if isinstance(record, int):
                out[e.actor] = (ROLE_TABLE[e.role], record)
    return out


def injected_failures(history: History) -> dict[Target, int]:
    """Per row, how many delivered attempts an injected fault broke (an upper bound: a fault
    that struck before the claim is counted too, which can only excuse, never accuse)."""
    owner = targets(history)
    broken: dict[str, Target] = {}
    live: set[str] = set()
    for e in history.events:
        if e.actor in owner and e.kind == "invoke":
            live.add(e.actor)
        elif e.kind == "crash" or (
            e.kind == "reply" and e.detail.get("error") != "caller timed out"
        ):
            live.discard(e.actor)
        if e.actor in owner and _breaks_attempt(e):
            broken[e.actor] = owner[e.actor]
        if e.kind == "fault" and e.detail.get("fault") == "restart_server":
            for actor in live:
                broken[actor] = owner[actor]
        if e.kind == "fault" and e.detail.get("fault") == "clock_skip":
            # The clock ran on under these actors' steps: their leases may have expired.
            for actor in e.detail.get("live") or ():
                if actor in owner:
                    broken[actor] = owner[actor]
    counts: dict[Target, int] = {}
    for target in broken.values():
        counts[target] = counts.get(target, 0) + 1
    return counts


def _breaks_attempt(e: Event) -> bool:
    if e.kind == "fault":
        return e.detail.get("fault") in ATTEMPT_FAULTS
    if e.kind == "paused":
        # A pause that must last a while is a stall inside a statement: the lease may run out.
        seconds = e.detail.get("seconds")
        return isinstance(seconds, int | float) and seconds > 0
    return e.kind == "api" and e.detail.get("outcome") == "error"


def events_for(history: History, table: str, ids: Iterable[int]) -> list[Event]:
    """Deliveries, replies, faults and crashes that concerned these rows of `table`."""
    wanted = {int(i) for i in ids}
    owner = targets(history)
    function_table = {
        str(e.detail.get("function")): ROLE_TABLE[e.role]
        for e in history.events
        if e.kind == "invoke" and e.role in ROLE_TABLE and e.detail.get("function")
    }
    out = []
    for e in history.events:
        if e.kind not in {"delivery", "reply", "fault", "crash", "invoke"}:
            continue
        if e.actor in owner:
            hit = owner[e.actor][0] == table and owner[e.actor][1] in wanted
        else:
            hit = (
                function_table.get(str(e.detail.get("function"))) == table
                and e.detail.get("record_id") in wanted
            )
        if hit:
            out.append(e)
    return out
