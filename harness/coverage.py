"""Which rare situations ("sometimes" states) one run reached, read from its history.

A check says what must never happen; a situation is something that must happen at least once in
an exploration, or its "no violation" says nothing about that part of the pipeline (Antithesis'
"sometimes" assertions). Each detector reads only what the history records: statement replies
(claim, complete, fail, sweep), webhook replies, deliveries, faults and lock waits, so it works for
any pipeline whose functions keep the reference's names and reply columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.engine.clock import START
from harness.history import Event, History
from harness.state import FinalState

SITUATIONS: dict[str, str] = {
    "lease-expired-mid-work": "a worker's lease expired while the worker was still running",
    "fence-refused": "a completion or fail was refused by the fence (its claim token was stale)",
    "claim-refused-held": "a claim was refused because another worker held the item",
    "duplicate-in-flight": "a webhook was delivered again while an earlier delivery still ran",
    "blocked-on-lock": "a statement waited on a row lock held by another actor",
    "paused-mid-function": "a statement paused inside a function while another actor ran",
    "sweeper-rescued-lease": "the sweeper returned an expired lease (requeued or dead-lettered)",
    "sweeper-re-emitted-dropped": "the sweeper re-sent a webhook that had been dropped",
    "retry-after-wait": "a failed attempt was retried only after the API's Retry-After",
    "dead-letter": "an item was dead-lettered (failed for good)",
    "early-found-no-row": "an early delivery found no row (its transaction had not committed)",
    "restart-lost-requests": "a server restart lost requests that were queued or being served",
}

# The fault kind a situation cannot be reached without: a fault set that leaves the kind out
# (`supabase` leaves out Early; a server the harness cannot restart, RestartServer) makes the
# situation not possible, which the table says instead of NOT REACHED.
NEEDS: dict[str, str] = {
    "early-found-no-row": "Early",
    "restart-lost-requests": "RestartServer",
}

DELIVERY_ROLES = ("page_worker", "processor")
_CLAIM = re.compile(r"\bclaim_(page|thread)\b")
_FINISH = re.compile(r"\b(complete|fail)_(page|thread)\b")
_FAIL = re.compile(r"\bfail_(page|thread)\b")
# The Python handlers' parameter names, and the RPC arguments an Edge Function sends.
_ITEM_PARAMS = ("page_id", "entry_id", "id", "p_page_id", "p_entry_id")

Item = tuple[str, int]  # ("page" | "thread", row id)


@dataclass
class _Delivery:
    """One webhook invocation: which row it served, and the span of events it made."""

    actor: str
    role: str
    function: str
    record: Any
    copy: Any
    first: int
    last: int
    events: list[Event] = field(default_factory=list)


def _rows(e: Event) -> list[Mapping[str, Any]]:
    rows = e.detail.get("rows")
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def _sql(e: Event) -> str:
    return str(e.detail.get("sql") or "") if e.kind == "statement" else ""


def _body(e: Event) -> Mapping[str, Any]:
    body = e.detail.get("body")
    return body if isinstance(body, Mapping) else {}


def _item(e: Event, match: re.Match[str]) -> Item | None:
    params = e.detail.get("params")
    if not isinstance(params, Mapping):
        return None
    for key in _ITEM_PARAMS:
        if isinstance(params.get(key), int):
            return (match.group(match.lastindex or 1), int(params[key]))
    return None


def _seconds(value: Any) -> float | None:
    """A timestamp from a reply row as virtual seconds since the run started."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return (value - START).total_seconds()
    return None


def _deliveries(history: History) -> dict[str, _Delivery]:
    out: dict[str, _Delivery] = {}
    for e in history.events:
        if e.kind == "invoke" and e.role in DELIVERY_ROLES and e.actor not in out:
            d = e.detail
            out[e.actor] = _Delivery(
                e.actor,
                e.role,
                str(d.get("function")),
                d.get("record_id"),
                d.get("copy"),
                e.seq,
                e.seq,
            )
        if e.actor in out:
            out[e.actor].last = e.seq
            out[e.actor].events.append(e)
    return out


def _sweep_counts(history: History) -> list[tuple[int, Mapping[str, Any]]]:
    """(seq, counters) of every sweep the sweeper ran (its reply body carries the counters)."""
    return [(e.seq, _body(e)) for e in history.events if e.role == "sweeper" and e.kind == "reply"]


def _positive(counts: Mapping[str, Any], suffix: str) -> bool:
    return any(k.endswith(suffix) and isinstance(v, int) and v > 0 for k, v in counts.items())


def _claim_rows(
    deliveries: Iterable[_Delivery],
) -> Iterable[tuple[_Delivery, Event, Mapping[str, Any]]]:
    for d in deliveries:
        for e in d.events:
            if _CLAIM.search(_sql(e)):
                for row in _rows(e):
                    yield d, e, row


def _lease_expired_mid_work(history: History, deliveries: dict[str, _Delivery]) -> bool:
    sweeps = [seq for seq, c in _sweep_counts(history) if _positive(c, "_requeued")]
    for d, claim, row in _claim_rows(deliveries.values()):
        if row.get("claimed") is not True:
            continue
        expires = _seconds(row.get("locked_until"))
        later = [e for e in d.events if e.seq > claim.seq and e.kind not in ("crash", "fault")]
        if expires is not None and any(e.time > expires for e in later):
            return True
        # Without a lease time in the reply: the sweeper requeued work while this worker ran on.
        if later and any(claim.seq < s < later[-1].seq for s in sweeps):
            return True
    return False


def _fence_refused(deliveries: dict[str, _Delivery]) -> bool:
    for d in deliveries.values():
        for e in d.events:
            if _FINISH.search(_sql(e)):
                for row in _rows(e):
                    if row.get("completed") is False and "lease" in str(row.get("reason")):
                        return True
                    if row.get("recorded") is False:
                        return True
            if e.kind == "reply" and "lease lost" in str(_body(e).get("reason") or ""):
                return True
    return False


def _claim_refused_held(deliveries: dict[str, _Delivery]) -> bool:
    return any(
        row.get("claimed") is False and "another" in str(row.get("reason"))
        for _, _, row in _claim_rows(deliveries.values())
    )


def _duplicate_in_flight(deliveries: dict[str, _Delivery]) -> bool:
    by_item: dict[tuple[str, Any], list[_Delivery]] = {}
    for d in deliveries.values():
        if d.copy != "early" and d.record is not None:
            by_item.setdefault((d.function, d.record), []).append(d)
    for group in by_item.values():
        group.sort(key=lambda d: d.first)
        # Not only neighbours: a long-running first delivery can overlap a third one.
        for i, a in enumerate(group):
            if any(b.first < a.last for b in group[i + 1 :]):
                return True
    return False


def _blocked(history: History) -> bool:
    return any(e.kind == "blocked" for e in history.events)


# What counts as another actor running: any step it was granted (an invoke too).
_STEPS = ("invoke", "statement", "begin", "commit", "rollback", "api", "blocked")


def _paused_mid_function(history: History) -> bool:
    """A `paused` statement, and a step of another actor before it was `resumed`."""
    paused: set[str] = set()
    for e in history.events:
        if e.kind == "paused":
            paused.add(e.actor)
        elif e.kind == "resumed":
            paused.discard(e.actor)
        elif e.kind in _STEPS and paused - {e.actor}:
            return True
    return False


def _sweeper_rescued(history: History) -> bool:
    return any(
        _positive(c, "_requeued") or _positive(c, "_failed") for _, c in _sweep_counts(history)
    )


def _sweeper_re_emitted_dropped(history: History) -> bool:
    emits = [seq for seq, c in _sweep_counts(history) if _positive(c, "_emitted")]
    dropped: dict[tuple[str, Any], int] = {}
    for e in history.events:
        if e.kind != "delivery":
            continue
        key = (str(e.detail.get("function")), e.detail.get("record_id"))
        if e.detail.get("outcome") == "dropped":
            dropped.setdefault(key, e.seq)
        elif key in dropped and any(dropped[key] < s < e.seq for s in emits):
            return True
    return False


def _retry_after_wait(deliveries: dict[str, _Delivery]) -> bool:
    waiting: dict[Item, int] = {}
    events = sorted((e for d in deliveries.values() for e in d.events), key=lambda e: e.seq)
    for e in events:
        sql = _sql(e)
        fail = _FAIL.search(sql)
        if fail:
            params = e.detail.get("params")
            retry_after = params.get("retry_after") if isinstance(params, Mapping) else None
            item = _item(e, fail)
            recorded = any(
                r.get("recorded") is True and r.get("status") == "pending" for r in _rows(e)
            )
            if item and recorded and isinstance(retry_after, int | float) and retry_after > 0:
                waiting[item] = e.seq
            continue
        claim = _CLAIM.search(sql)
        if claim:
            item = _item(e, claim)
            if item in waiting and any(r.get("claimed") is True for r in _rows(e)):
                return True
    return False


def _dead_letter(
    history: History, deliveries: dict[str, _Delivery], state: FinalState | None
) -> bool:
    if any(_positive(c, "_failed") for _, c in _sweep_counts(history)):
        return True
    for d in deliveries.values():
        for e in d.events:
            if _FAIL.search(_sql(e)) and any(
                r.get("recorded") is True and r.get("status") == "failed" for r in _rows(e)
            ):
                return True
            if e.kind == "reply" and _body(e).get("outcome") == "dead-letter":
                return True
    if state is not None:
        return any(r.get("status") == "failed" for r in (*state.pages, *state.entries))
    return False


def _early_found_no_row(deliveries: dict[str, _Delivery]) -> bool:
    for d in deliveries.values():
        if d.copy != "early":
            continue
        for e in d.events:
            if _CLAIM.search(_sql(e)) and any(
                r.get("claimed") is False and "unknown" in str(r.get("reason")) for r in _rows(e)
            ):
                return True
    return False


def _restart_lost_requests(history: History, deliveries: dict[str, _Delivery]) -> bool:
    restarts = [
        e.seq
        for e in history.events
        if e.kind == "fault" and e.detail.get("fault") == "restart_server"
    ]
    for seq in restarts:
        for d in deliveries.values():
            # Served across the restart: its connection (and what it was doing) was lost with it.
            if d.first < seq < d.last:
                return True
    return False


Detector = Callable[[History, dict[str, _Delivery], FinalState | None], bool]
_DETECTORS: dict[str, Detector] = {
    "lease-expired-mid-work": lambda h, d, s: _lease_expired_mid_work(h, d),
    "fence-refused": lambda h, d, s: _fence_refused(d),
    "claim-refused-held": lambda h, d, s: _claim_refused_held(d),
    "duplicate-in-flight": lambda h, d, s: _duplicate_in_flight(d),
    "blocked-on-lock": lambda h, d, s: _blocked(h),
    "paused-mid-function": lambda h, d, s: _paused_mid_function(h),
    "sweeper-rescued-lease": lambda h, d, s: _sweeper_rescued(h),
    "sweeper-re-emitted-dropped": lambda h, d, s: _sweeper_re_emitted_dropped(h),
    "retry-after-wait": lambda h, d, s: _retry_after_wait(d),
    "dead-letter": _dead_letter,
    "early-found-no-row": lambda h, d, s: _early_found_no_row(d),
    "restart-lost-requests": lambda h, d, s: _restart_lost_requests(h, d),
}
assert set(_DETECTORS) == set(SITUATIONS)


# Combinations: rarer than any one situation, and where read-then-write races live. They steer
# the search (a run that reaches one is kept and varied, see harness.explore.corpus) but are not
# required of an exploration: whether one can happen depends on the pipeline's locking.
COMBINATIONS: dict[str, str] = {
    "paused-while-item-raced": "while a statement was paused, another worker claimed or "
    "finished the item the paused one had claimed",
    "stale-finish-while-reclaimed": "a worker finished (or failed) an item after another "
    "worker claimed it again, before that claim had finished",
    "sweep-paused-while-finished": "while a sweep was paused, a worker claimed or finished an item",
    "claim-in-retry-wait": "a webhook tried to claim an item while the item waited out the retry "
    "a failed attempt had scheduled",
    "re-send-lost-in-grace": "a sweeper tick passed over a waiting row whose re-sent webhook had "
    "been lost, its emit grace not yet out",
}


def _claimed_item(d: _Delivery) -> tuple[Item | None, int | None]:
    """The item a delivery claimed, and the seq of its successful claim (None: not claimed)."""
    for e in d.events:
        match = _CLAIM.search(_sql(e))
        if match and any(r.get("claimed") is True for r in _rows(e)):
            return _item(e, match), e.seq
    return None, None


def _won(e: Event) -> Item | None:
    """The item of a claim or finish statement that took effect (claimed, completed, recorded)."""
    sql = _sql(e)
    match = _CLAIM.search(sql) or _FINISH.search(sql)
    if not match:
        return None
    effect = ("claimed",) if match.re is _CLAIM else ("completed", "recorded")
    if any(r.get(k) is True for r in _rows(e) for k in effect):
        return _item(e, match)
    return None


def _paused_spans(history: History) -> list[tuple[str, int, int]]:
    """(actor, paused seq, resumed seq or the end) of every pause that stopped."""
    spans: list[tuple[str, int, int]] = []
    start: dict[str, int] = {}
    for e in history.events:
        if e.kind == "paused":
            start[e.actor] = e.seq
        elif e.kind == "resumed" and e.actor in start:
            spans.append((e.actor, start.pop(e.actor), e.seq))
    end = history.events[-1].seq + 1 if history.events else 0
    spans.extend((actor, seq, end) for actor, seq in start.items())
    return spans


def _paused_while_item_raced(history: History, deliveries: dict[str, _Delivery]) -> bool:
    items = {a: _claimed_item(d)[0] for a, d in deliveries.items()}
    for actor, first, last in _paused_spans(history):
        item = items.get(actor)
        if item is None:
            continue
        for e in history.events[first:last]:
            if e.actor != actor and e.actor in deliveries and _won(e) == item:
                return True
    return False


def _stale_finish_while_reclaimed(deliveries: dict[str, _Delivery]) -> bool:
    claims: dict[Item, list[tuple[int, _Delivery]]] = {}
    for d in deliveries.values():
        item, seq = _claimed_item(d)
        if item is not None and seq is not None:
            claims.setdefault(item, []).append((seq, d))
    for group in claims.values():
        group.sort(key=lambda c: c[0])
        for i, (_, a) in enumerate(group):
            finishes = [e.seq for e in a.events if _FINISH.search(_sql(e))]
            for later_claim, b in group[i + 1 :]:
                b_done = [e.seq for e in b.events if _FINISH.search(_sql(e))]
                b_end = b_done[0] if b_done else b.last + 1
                if any(later_claim < f < b_end for f in finishes):
                    return True
    return False


def _sweep_paused_while_finished(history: History, deliveries: dict[str, _Delivery]) -> bool:
    sweepers = {e.actor for e in history.events if e.role == "sweeper"}
    for actor, first, last in _paused_spans(history):
        if actor in sweepers and any(
            e.actor in deliveries and _won(e) is not None for e in history.events[first:last]
        ):
            return True
    return False


def _claims_in_retry_wait(deliveries: dict[str, _Delivery]) -> frozenset[str]:
    """The functions (the Edge Functions, as their deliveries name them) whose claims were made
    while their item waited out the retry a recorded failure had scheduled."""
    waits: list[tuple[Item, int, float]] = []  # (item, seq of the failure, when its retry is due)
    for d in deliveries.values():
        for e in d.events:
            match = _FAIL.search(_sql(e))
            if not match:
                continue
            item = _item(e, match) or _claimed_item(d)[0]
            for r in _rows(e):
                due = _seconds(r.get("next_retry_at"))
                if (
                    item
                    and due is not None
                    and (r.get("recorded"), r.get("status"))
                    == (
                        True,
                        "pending",
                    )
                ):
                    waits.append((item, e.seq, due))
    found: set[str] = set()
    for d in deliveries.values():
        for e in d.events:
            match = _CLAIM.search(_sql(e))
            item = _item(e, match) if match else None
            if item is not None and any(
                item == waiting and failed < e.seq and e.time < due
                for waiting, failed, due in waits
            ):
                found.add(d.function)
    return frozenset(found)


def _claim_in_retry_wait(deliveries: dict[str, _Delivery]) -> bool:
    return bool(_claims_in_retry_wait(deliveries))


# The prefixes of wait_features' names: a claim function called, and called inside a retry wait.
CLAIMS, WAITED = "claims:", "waited:"


def wait_features(history: History) -> frozenset[str]:
    """Finer than the claim-in-retry-wait combination, for the search's corpus and recipes: each
    function whose deliveries claimed (`claims:<Edge Function>`) and each one whose delivery
    claimed while its item waited out a retry (`waited:<Edge Function>`). A page's claim and a
    thread's are different code, and a run reaching the combination through one says nothing of
    the other."""
    deliveries = _deliveries(history)
    called_claims = {
        d.function for d in deliveries.values() for e in d.events if _CLAIM.search(_sql(e))
    }
    return frozenset(
        [CLAIMS + f for f in called_claims]
        + [WAITED + f for f in _claims_in_retry_wait(deliveries)]
    )


def _re_send_lost_in_grace(history: History, deliveries: dict[str, _Delivery]) -> bool:
    """A re-sent webhook (not a row's first) dropped or delayed, then two sweeper ticks before
    the row's next webhook and before any claim of it: the first tick passed the row over. With
    an emit grace at most the sweep interval every tick re-sends a waiting row, so only a longer
    grace reaches it; a sweep that re-sends at every tick whatever the grace never does."""
    ticks = [seq for seq, _ in _sweep_counts(history)]
    claims: dict[tuple[str, Any], list[int]] = {}
    for d in deliveries.values():
        seq = _claimed_item(d)[1]
        if seq is not None:
            claims.setdefault((d.function, d.record), []).append(seq)
    sent: dict[tuple[str, Any], list[Event]] = {}
    for e in history.events:
        if e.kind == "delivery":
            key = (str(e.detail.get("function")), e.detail.get("record_id"))
            sent.setdefault(key, []).append(e)
    for key, events in sent.items():
        for i, lost in enumerate(events[1:], start=1):
            after = events[i + 1] if i + 1 < len(events) else None
            late = lost.detail.get("outcome") == "queued" and (lost.detail.get("delay") or 0) > 0
            if lost.detail.get("outcome") != "dropped" and not late:
                continue
            end = min([s for s in claims.get(key, []) if s > lost.seq], default=None)
            if after is not None:
                end = after.seq if end is None else min(end, after.seq)
            if sum(lost.seq < t and (end is None or t < end) for t in ticks) >= 2:
                return True
    return False


# The names race_features gives a run that reached a whole race of each kind.
ITEM_RACE = "resumed:item"
SWEEP_RACE = "resumed:sweep"
_CALLED = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)
_SQL_WORDS = {"select", "from", "values", "coalesce", "now", "exists", "count", "row"}


def called(sql: str) -> str:
    """The function a statement calls (its first call that is not an SQL keyword), else '?'."""
    for match in _CALLED.finditer(sql):
        name = match.group(1).lower()
        if name not in _SQL_WORDS:
            return name
    return "?"


def race_features(history: History) -> frozenset[str]:
    """Finer than COMBINATIONS, for the search's corpus: each pause that stopped, named by the
    function its statement called and its pause point (`paused:complete_page@1`), and the
    deepest the race around it went: `claimed` (another worker claimed its item meanwhile) or
    `finished` (another finished it), and then `resumed` if the paused one went on after that.
    Every function and pause point of any pipeline gets its own names, so the search can give
    the rarest of them more runs without knowing which one matters."""
    deliveries = _deliveries(history)
    items = {a: _claimed_item(d)[0] for a, d in deliveries.items()}
    sweepers = {e.actor for e in history.events if e.role == "sweeper"}
    paused_at: dict[int, Event] = {e.seq: e for e in history.events if e.kind == "paused"}
    end = history.events[-1].seq + 1 if history.events else 0
    found: set[str] = set()
    for actor, first, last in _paused_spans(history):
        e = paused_at.get(first)
        if e is None:
            continue
        name = f"{called(str(e.detail.get('sql') or ''))}@{e.detail.get('at_point')}"
        found.add(f"paused:{name}")
        item = items.get(actor)
        depth = ""
        for other in history.events[first:last]:
            if other.actor == actor or other.actor not in deliveries:
                continue
            won = _won(other)
            if won is None or (actor not in sweepers and won != item):
                continue
            depth = "finished" if _FINISH.search(_sql(other)) else depth or "claimed"
        if depth:
            found.add(f"{depth}:{name}")
            if depth == "finished" and last < end:
                found.add(f"resumed:{name}")
                # Any such race at all, for aiming recipes at the class as a whole.
                found.add(SWEEP_RACE if actor in sweepers else ITEM_RACE)
    return frozenset(found) | wait_features(history)


def combinations(history: History) -> frozenset[str]:
    """The names of the COMBINATIONS this run reached."""
    deliveries = _deliveries(history)
    found = set()
    if _paused_while_item_raced(history, deliveries):
        found.add("paused-while-item-raced")
    if _stale_finish_while_reclaimed(deliveries):
        found.add("stale-finish-while-reclaimed")
    if _sweep_paused_while_finished(history, deliveries):
        found.add("sweep-paused-while-finished")
    if _claim_in_retry_wait(deliveries):
        found.add("claim-in-retry-wait")
    if _re_send_lost_in_grace(history, deliveries):
        found.add("re-send-lost-in-grace")
    return frozenset(found)


def reached(history: History, state: FinalState | None = None) -> frozenset[str]:
    """The names of the situations this run reached (a subset of SITUATIONS)."""
    deliveries = _deliveries(history)
    return frozenset(
        name for name, detect in _DETECTORS.items() if detect(history, deliveries, state)
    )


@dataclass
class Tally:
    """How many runs reached each situation, over a batch of runs (zeros included)."""

    runs: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SITUATIONS, 0))

    def add(self, names: Iterable[str]) -> None:
        self.runs += 1
        for name in names:
            self.counts[name] = self.counts.get(name, 0) + 1

    def merge(self, other: Mapping[str, int], runs: int) -> None:
        self.runs += runs
        for name, n in other.items():
            self.counts[name] = self.counts.get(name, 0) + n

    def never(self) -> list[str]:
        return [name for name in SITUATIONS if self.counts.get(name, 0) == 0]


def impossible(kinds: Iterable[str]) -> list[str]:
    """The situations a search drawing only these fault kinds cannot reach (see NEEDS)."""
    drawn = set(kinds)
    return [name for name in SITUATIONS if name in NEEDS and NEEDS[name] not in drawn]


def table(counts: Mapping[str, int], runs: int, impossible: Iterable[str] = ()) -> str:
    """The coverage as text: a line per situation, then the ones never reached (zero runs).
    A situation in `impossible` (the fault set cannot produce it) and never reached is said to
    be not possible in this fault set, not NOT REACHED; reached anyway, it is counted as usual."""
    width = max(len(name) for name in SITUATIONS)
    cannot = {name for name in impossible if counts.get(name, 0) == 0}
    lines = [f"coverage over {runs} runs (runs that reached each situation):"]
    for name, description in SITUATIONS.items():
        n = counts.get(name, 0)
        if name in cannot:
            lines.append(
                f"  {name:<{width}}  {'-':>6}  {'-':>6}  not possible in this fault set "
                f"(needs {NEEDS[name]}): {description}"
            )
            continue
        share = f"{100 * n / runs:5.1f}%" if runs else "    -"
        lines.append(f"  {name:<{width}}  {n:>6}  {share}  {description}")
    never = [name for name in SITUATIONS if counts.get(name, 0) == 0 and name not in cannot]
    if never:
        lines.append(
            f"NOT REACHED: {', '.join(never)}; no violation found says nothing about "
            + ("this situation" if len(never) == 1 else "these situations")
        )
    elif cannot:
        lines.append("every situation possible in this fault set was reached at least once")
    else:
        lines.append("every situation was reached at least once")
    return "\n".join(lines)


def table_of_run(history: History, state: FinalState | None = None) -> str:
    """The coverage table of a single run."""
    tally = Tally()
    tally.add(reached(history, state))
    return table(tally.counts, tally.runs)


def properties(
    counts: Mapping[str, int], runs: int, impossible: Iterable[str] = ()
) -> dict[str, str]:
    """The coverage as JUnit properties: `coverage.<name>` = runs, the list never reached, and
    the list the fault set could not reach (never reached, and not in the first list)."""
    cannot = [n for n in SITUATIONS if n in set(impossible) and counts.get(n, 0) == 0]
    props = {f"coverage.{name}": str(counts.get(name, 0)) for name in SITUATIONS}
    props["coverage.runs"] = str(runs)
    props["coverage.not_reached"] = ",".join(
        n for n in SITUATIONS if counts.get(n, 0) == 0 and n not in cannot
    )
    props["coverage.not_possible"] = ",".join(cannot)
    return props


__all__ = [
    "COMBINATIONS",
    "ITEM_RACE",
    "NEEDS",
    "SITUATIONS",
    "SWEEP_RACE",
    "Tally",
    "called",
    "combinations",
    "impossible",
    "properties",
    "race_features",
    "reached",
    "table",
    "table_of_run",
    "wait_features",
]
