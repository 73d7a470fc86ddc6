"""A violation told in sentences: the 3-6 steps that made it happen, each naming its event."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.attribution import targets
from harness.checks import Violation, describe
from harness.history import (
    Event,
    History,
    called_function,
    pause_text,
    short_value,
    statement_text,
)
from harness.report.lanes import Lane, ordinal

MOST_STEPS = 6
_TABLE = re.compile(r"\b(?:FROM|UPDATE|INTO)\s+(?:\w+\.)?(\w+)", re.IGNORECASE)
BRIEF_VALUE = 16  # a parameter longer than this is elided from a sentence
# Result columns that say what a step achieved, in the order a sentence names them.
TELLING = (
    "reason",
    "claimed",
    "completed",
    "recorded",
    "staged",
    "status",
    "attempts",
    "claim_token",
    "locked_until",
    "next_retry_at",
    "due",
)
SWEEP_COUNTS = (
    "pages_requeued",
    "pages_emitted",
    "pages_failed",
    "threads_requeued",
    "threads_emitted",
    "threads_failed",
)


@dataclass(frozen=True)
class Step:
    """One sentence of a violation's story, about the event with sequence number `seq`."""

    seq: int
    sentence: str


def cited_events(history: History, violation: Violation) -> list[Event]:
    """The events a violation's `steps` lines name (the lines `checks.related_steps` wrote)."""
    owner = targets(history)
    wanted: dict[str, int] = {}
    for line in violation.steps:
        wanted[line] = wanted.get(line, 0) + 1
    out = []
    for e in history.events:
        line = describe(e)
        if e.actor in owner and e.detail.get("record_id") is None:
            line += f" #{owner[e.actor][1]}"
        if wanted.get(line, 0) > 0:
            wanted[line] -= 1
            out.append(e)
    return out


def is_write(e: Event) -> bool:
    """A statement that changed or claimed something: a function call or an UPDATE/INSERT."""
    sql = str(e.detail.get("sql") or "")
    if e.kind != "statement":
        return False
    if called_function(sql):
        return True  # the pipeline's SQL functions all act on the queues
    return sql.lstrip().split(None, 1)[0].upper() in ("UPDATE", "INSERT", "DELETE")


def _sweep_counts(e: Event) -> dict[str, int]:
    rows = e.detail.get("rows") or []
    row = rows[0] if rows and isinstance(rows[0], Mapping) else {}
    return {k: int(row[k]) for k in SWEEP_COUNTS if isinstance(row.get(k), int) and row[k]}


PAGE, ENTRY, JOB = "sync_page_queue", "thread_processing_queue", "sync_jobs"
# How a check's row lines name queue rows (see harness/checks.py).
ROW_NAMES = (
    (re.compile(r"\bentry (\d+)"), ENTRY),
    (re.compile(r"\bthread_processing_queue row (\d+)"), ENTRY),
    (re.compile(r"\bsync_page_queue row (\d+)"), PAGE),
    (re.compile(r"\bpage \d+:\d+ \(id (\d+)"), PAGE),
    (re.compile(r"\bpage rows \[([\d, ]+)\]"), PAGE),
    (re.compile(r"\(rows \[([\d, ]+)\]\)"), PAGE),
    (re.compile(r"\bjob (\d+)"), JOB),
)
ID_KEYS = {PAGE: "page_id", ENTRY: "entry_id", JOB: "job_id"}

Target = tuple[str, int]


def _function_table(function: object) -> str:
    return PAGE if "page" in str(function) else ENTRY


def named_rows(history: History, violation: Violation) -> set[Target]:
    """The queue rows and jobs a violation is about: named in its row lines, or served by the
    actors and deliveries its steps cite."""
    out: set[Target] = set()
    for text in violation.rows:
        for pattern, table in ROW_NAMES:
            for match in pattern.finditer(text):
                out.update((table, int(n)) for n in re.findall(r"\d+", match.group(1)))
    owner = targets(history)
    for e in cited_events(history, violation):
        if e.actor in owner:
            out.add(owner[e.actor])
        elif e.kind == "delivery" and isinstance(e.detail.get("record_id"), int):
            out.add((_function_table(e.detail.get("function")), int(e.detail["record_id"])))
    return out


def touches(e: Event, rows: set[Target]) -> bool:
    """Whether this delivery or statement acted on one of `rows` (by its parameters, its result,
    or, for a job, by writing `sync_jobs`)."""
    d = e.detail
    if e.kind == "delivery":
        record = d.get("record_id")
        return isinstance(record, int) and (_function_table(d.get("function")), record) in rows
    if e.kind not in ("statement", "blocked", "paused"):
        return False
    raw = d.get("params")
    params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    results = [r for r in d.get("rows") or [] if isinstance(r, Mapping)]
    for table, key in ID_KEYS.items():
        if table == JOB and not (JOB in str(d.get("sql")) and is_write(e)):
            continue
        values = [params.get(key), *(r.get(key) for r in results)]
        if any(isinstance(v, int) and (table, v) in rows for v in values):
            return True
    return False


def _fired(e: Event) -> bool:
    """A fault that fired (a crash is told by the fault that caused it, when there is one)."""
    return e.kind == "fault" and e.detail.get("fault") != "unfired"


def named_events(history: History, violation: Violation) -> list[Event]:
    """Every event the violation cites, and every delivery and statement that acted on its rows."""
    rows = named_rows(history, violation)
    cited = {e.seq for e in cited_events(history, violation)}
    return [e for e in history.events if e.seq in cited or touches(e, rows)]


def story(history: History, violation: Violation, lanes: Mapping[str, Lane]) -> list[Step]:
    """The steps that made `violation` happen, oldest first, at most `MOST_STEPS`."""
    rows = named_rows(history, violation)
    cited = cited_events(history, violation)
    owner = targets(history)
    named = named_events(history, violation)
    involved = {e.actor for e in cited if e.actor in owner} | {
        e.actor for e in named if e.kind == "statement" and e.role != "sweeper"
    }
    ranked: dict[int, int] = {}  # seq -> priority, lower is kept first

    def keep(e: Event, priority: int) -> None:
        ranked[e.seq] = min(priority, ranked.get(e.seq, priority))

    for e in cited:
        if _fired(e):
            keep(e, 0)
    for e in named:
        if e.kind == "delivery" and e.detail.get("outcome") not in ("queued", None):
            keep(e, 0)  # a dropped or early webhook is a cause
    for actor in sorted(involved):
        mine = history.by_actor(actor)
        for f in mine:
            if _fired(f):
                keep(f, 0)
        writes = [e for e in mine if is_write(e) and (not rows or touches(e, rows))]
        for i, e in enumerate(writes):
            keep(e, 1 if i == len(writes) - 1 or e.detail.get("outcome") == "error" else 2)
        for e in mine:
            if e.kind in ("blocked", "paused"):
                keep(e, 1)
    for e in list(cited) + [f for f in history.by_kind("fault") if f.actor in involved]:
        if e.kind == "fault" and e.detail.get("fault") == "stall":
            before = [
                x for x in history.by_actor(e.actor) if x.kind == "statement" and x.seq < e.seq
            ]
            if before:
                keep(before[-1], 1)  # what the stalled actor had seen or done when it froze
    for f in history.by_kind("fault"):
        # Engine-wide faults that struck involved actors: a clock skip under their steps (their
        # leases may run out mid-handler) or a server restart while they ran.
        kind = f.detail.get("fault")
        skipped = kind == "clock_skip" and involved & set(f.detail.get("live") or ())
        restarted = kind == "restart_server" and any(
            _alive_at(history, actor, f.seq) for actor in involved
        )
        if skipped or restarted:
            keep(f, 0)
    redelivered = {e.time for e in named if e.kind == "delivery"}
    for e in history.by_role("sweeper"):
        if e.kind == "statement" and e.time in redelivered and _sweep_counts(e):
            keep(e, 2)
    if not ranked:
        # Nothing names a row: the faults of the run and the first of each kind of failure.
        failures: set[tuple[str, str]] = set()
        for e in history.events:
            if _fired(e):
                keep(e, 0)
            elif e.kind != "reply" and e.detail.get("outcome") in ("error", "fail"):
                failure = (e.role, str(e.detail.get("sqlstate") or e.detail.get("error")))
                if failure not in failures:
                    failures.add(failure)
                    keep(e, 1)
    chosen = sorted(ranked, key=lambda seq: (ranked[seq], -seq))[:MOST_STEPS]
    by_seq = {e.seq: e for e in history.events}
    return [
        Step(seq, sentence(by_seq[seq], lanes) + lease_note(history, by_seq[seq]))
        for seq in sorted(chosen)
    ]


def _alive_at(history: History, actor: str, seq: int) -> bool:
    """Whether `actor` had started and not yet replied or crashed at event `seq`."""
    mine = history.by_actor(actor)
    started = any(e.kind == "invoke" and e.seq < seq for e in mine)
    ended = any(e.kind in ("reply", "crash") and e.seq < seq for e in mine)
    return started and not ended


def _epoch(history: History) -> datetime | None:
    """The wall-clock instant of virtual time 0, from the engine's clock events."""
    for e in history.by_kind("clock"):
        with contextlib.suppress(TypeError, ValueError):
            return datetime.fromisoformat(str(e.detail.get("now"))) - timedelta(seconds=e.time)
    return None


def lease_note(history: History, e: Event) -> str:
    """For a claim whose actor next acted after its lease ran out: say so, the heart of most
    fencing bugs."""
    rows = e.detail.get("rows") or []
    row = rows[0] if rows and isinstance(rows[0], Mapping) else {}
    epoch = _epoch(history)
    if e.kind != "statement" or not row.get("locked_until") or epoch is None:
        return ""
    try:
        until = (datetime.fromisoformat(str(row["locked_until"])) - epoch).total_seconds()
    except ValueError:
        return ""
    later = [x for x in history.by_actor(e.actor) if x.seq > e.seq and x.kind != "fault"]
    past = [x for x in later if x.time > until]
    if not past:
        return ""
    if past[0] is later[0]:
        return f" Its lease ran out at t={until:g}s; it acted again only at t={past[0].time:g}s."
    return (
        f" Its lease ran out at t={until:g}s while it still worked; its next step came only at "
        f"t={past[0].time:g}s."
    )


def who(e: Event, lanes: Mapping[str, Lane]) -> str:
    """`processor #1 · delivery 2 (p9)`, or `the sweeper (tick 2)`."""
    lane = lanes.get(e.actor)
    if e.role == "sweeper":
        return f"the sweeper ({e.actor})"
    if lane is None or lane.name(e.actor) == e.actor:
        return e.actor
    return f"{lane.name(e.actor)} ({e.actor})"


def brief_call(detail: Mapping[str, Any]) -> str:
    """`complete_thread(entry_id=1, token=c114d43d…, result=…)`: long values elided."""
    sql = str(detail.get("sql") or "")
    params = detail.get("params")
    shown = [
        f"{k}={short_value(v)}" if len(short_value(v)) <= BRIEF_VALUE else f"{k}=…"
        for k, v in sorted(params.items() if isinstance(params, Mapping) else ())
    ]
    function = called_function(sql)
    if function:
        return f"{function}({', '.join(shown)})"
    return f"{sql_gist(sql)} [{', '.join(shown)}]" if shown else sql_gist(sql)


def sql_gist(sql: str) -> str:
    """`UPDATE sync_page_queue`, `SELECT from sync_jobs`: what a statement touches."""
    words = sql.split()
    verb = words[0].upper() if words else "SQL"
    table = _TABLE.search(sql)
    if table is None:
        return " ".join(words[:6])
    return f"{verb} {'' if verb in ('UPDATE', 'INSERT') else 'from '}{table.group(1)}"


def outcome_words(detail: Mapping[str, Any]) -> str:
    """What a statement returned, in its telling columns: `reason=claimed attempts=2 ...`."""
    if detail.get("outcome") == "error":
        return f"failed: {short_value(detail.get('error'), 100)}"
    rows = detail.get("rows")
    if not isinstance(rows, Sequence) or not rows:
        return "no rows"
    row = rows[0] if isinstance(rows[0], Mapping) else {}
    told = [
        f"{k}={short_value(row[k], 24)}"
        for k in TELLING
        if k in row and not (k in ("claimed", "completed") and "reason" in row)
    ]
    if not told:
        told = [f"{k}={short_value(v, 24)}" for k, v in row.items() if not isinstance(v, dict)]
    return " ".join(told[:6])


# What a delivery's outcome means, for the ones that never reached a handler.
DELIVERY_WORDS = {
    "dropped": "was dropped: it never reached its function",
    "unauthorized": "was refused with 401: its request carried no valid service key",
    "connection_error": "never arrived: connection error (its URL's host did not resolve)",
    "not_found": "was answered 404: no such function",
}


def _names(actors: Sequence[str], lanes: Mapping[str, Lane]) -> str:
    shown = [who_named(a, lanes) for a in actors[:4]]
    more = f" and {len(actors) - 4} more" if len(actors) > 4 else ""
    return ", ".join(shown) + more


def who_named(actor: str, lanes: Mapping[str, Lane]) -> str:
    lane = lanes.get(actor)
    if lane is None or lane.name(actor) == actor:
        return actor
    return f"{lane.name(actor)} ({actor})"


def _engine_fault(e: Event, lanes: Mapping[str, Lane]) -> str | None:
    """Faults of the whole run (the clock, the server, pg_net's batches) in words."""
    d = e.detail
    at = f"t={e.time:g}s"
    kind = d.get("fault")
    if kind == "clock_skip":
        live = [str(a) for a in d.get("live") or ()]
        under = f" under {_names(live, lanes)}, mid-handler" if live else ""
        return (
            f"{at}: the clock jumped from t={float(d.get('from') or e.time):g}s to "
            f"t={float(d.get('to') or e.time):g}s{under} (a slow step: leases may run out)."
        )
    if kind == "restart_server":
        how = "crashed and restarted" if d.get("immediate") else "restarted cleanly"
        lost = int(d.get("queued_requests") or 0)
        return (
            f"{at}: the database server {how}"
            + (f", losing {lost} queued webhook requests" if lost and d.get("immediate") else "")
            + "."
        )
    if kind in ("batch_timeout", "batch_resend"):
        hook = f"the webhook {d.get('function')} #{d.get('record_id')}"
        if kind == "batch_timeout":
            return f"{at}: pg_net's batch {d.get('batch')} timed out on {hook}: its caller gave up."
        return f"{at}: pg_net re-sent {hook} (batch {d.get('batch')}): it arrives twice."
    if kind == "early":
        return (
            f"{at}: the webhook {d.get('function')} request {d.get('request')} was delivered "
            f"early, while {who(e, lanes)}'s transaction that queued it was still open."
        )
    return None


def sentence(e: Event, lanes: Mapping[str, Lane]) -> str:
    """One event as a sentence a person can follow."""
    d = e.detail
    at = f"t={e.time:g}s"
    if e.kind == "fault" and _engine_fault(e, lanes):
        return str(_engine_fault(e, lanes))
    if e.kind == "fault":
        step = int(d.get("at_step") or 0) + 1
        kind = str(d.get("fault"))
        if kind == "stall":
            until = float(d.get("until") or e.time)
            return (
                f"{at}: a stall fault froze {who(e, lanes)} before its {ordinal(step)} step, "
                f"for {until - e.time:g} s (until t={until:g}s)."
            )
        if kind in ("crash", "kill_connection"):
            what = "crashed" if kind == "crash" else "lost its connection"
            return f"{at}: {who(e, lanes)} {what} before its {ordinal(step)} step (fault)."
        return f"{at}: fault {kind} hit {who(e, lanes)}."
    if e.kind == "crash":
        return f"{at}: {who(e, lanes)} crashed."
    if e.kind == "api":
        called = f"{at}: {who(e, lanes)} called {short_value(d.get('call'), 60)}"
        if d.get("outcome") == "error":
            return f"{called} → failed: {short_value(d.get('error'), 100)}."
        return called + "."
    if e.detail.get("outcome") == "error" and e.kind == "statement":
        return f"{at}: {who(e, lanes)} ran {brief_call(e.detail)} → {outcome_words(d)}."
    if e.kind == "statement" and e.role == "sweeper":
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in _sweep_counts(e).items())
        return f"{at}: {who(e, lanes)} swept: {counts or 'nothing to do'}."
    if e.kind == "statement":
        return f"{at}: {who(e, lanes)} ran {brief_call(d)} → {outcome_words(d)}."
    if e.kind == "blocked":
        by = ", ".join(d.get("blocked_by") or []) or "another transaction"
        return f"{at}: {who(e, lanes)} waited for a lock held by {by}: {statement_text(d)}."
    if e.kind == "paused":
        return (
            f"{at}: {who(e, lanes)} paused inside {brief_call(d)} (a Pause fault), {pause_text(d)}."
        )
    if e.kind == "delivery":
        outcome = str(d.get("outcome"))
        did = DELIVERY_WORDS.get(outcome, f"was {outcome}")
        return f"{at}: the webhook {d.get('function')} #{d.get('record_id')} {did}."
    if e.kind == "reply":
        body = d.get("body")
        said = body.get("outcome") if isinstance(body, Mapping) else d.get("error")
        status = f" {d['status']}" if d.get("status") else ""
        return f"{at}: {who(e, lanes)} replied{status} {short_value(said, 100)}."
    return f"{at}: {who(e, lanes)} {e.kind}."
