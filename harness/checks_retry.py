"""The timing checks of retries, judged on the row log: a claim waits for its row's retry time, a
returned attempt schedules its retry later (no sooner than the API's Retry-After), and a recorded
failure lets go of its claim."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from harness.attribution import targets
from harness.checks_holder import function_of
from harness.history import History

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation
    from harness.state import FinalState

PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"
_ROW_KINDS = {"page_row": PAGE, "entry_row": ENTRY}
_FAILS = {"fail_page": PAGE, "fail_thread": ENTRY}
_ID_KEYS = {PAGE: ("page_id", "p_page_id"), ENTRY: ("entry_id", "p_entry_id")}

Item = tuple[str, int]


@dataclass(frozen=True)
class Failure:
    """A failed attempt the pipeline answered as recorded: who, when, with which claim, and what
    its reply said it committed."""

    actor: str
    time: float
    item: Item
    token: str
    retry_after: float | None
    reply: Mapping[str, Any]
    error: str | None = None


def row_versions(state: FinalState) -> dict[Item, list[Mapping[str, Any]]]:
    """Every committed version of each queue row, oldest first. Writers of one row take its lock
    in turn, so the log's order is the row's commit order; an INSERT starts a new lineage (a
    table wiped by a restart numbers its rows again)."""
    out: dict[Item, list[Mapping[str, Any]]] = {}
    for e in sorted(state.effects, key=lambda e: int(e["id"])):
        table = _ROW_KINDS.get(str(e["kind"]))
        detail = e["detail"]
        if table is None or not isinstance(detail, Mapping):
            continue
        item = (table, int(e["key"]))
        if detail.get("op") == "INSERT":
            out[item] = []
        out.setdefault(item, []).append(detail)
    return out


def _stamp(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace(" ", "T"))
    except ValueError:
        return None


def _seconds(value: Any) -> float | None:
    """A positive number of seconds, as a handler passed it (a port may send it as text)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _name(item: Item) -> str:
    return f"page row {item[1]}" if item[0] == PAGE else f"entry {item[1]}"


class _Clock:
    """Renders the pipeline's timestamps in the history's virtual seconds (t=0 at the first
    event), as the transcript shows times."""

    def __init__(self, history: History) -> None:
        self.start: datetime | None = None
        for e in history.events:
            if e.kind == "clock" and e.detail.get("now"):
                now = _stamp(e.detail["now"])
                if now is not None:
                    self.start = now - timedelta(seconds=e.time)
                break

    def show(self, stamp: datetime) -> str:
        if self.start is None:
            return stamp.isoformat()
        return f"t={(stamp - self.start).total_seconds():g}s"


def early_claims(state: FinalState, history: History) -> list[tuple[Item, str]]:
    """(row, what happened) for each claim of a pending row that began before the retry time of
    the version it claimed."""
    clock = _Clock(history)
    found = []
    for item, versions in row_versions(state).items():
        for prev, cur in pairwise(versions):
            if prev.get("status") != "pending" or cur.get("status") != "processing":
                continue
            due, began = _stamp(prev.get("next_retry_at")), _stamp(cur.get("started_at"))
            if due is None or began is None or began >= due:
                continue  # a pipeline whose rows lack either column is not judged on it
            error = prev.get("last_error")
            why = f" (after: {error})" if error else ""
            found.append(
                (
                    item,
                    f"{_name(item)} was claimed for attempt {cur.get('attempts')} at "
                    f"{clock.show(began)}, before its retry was due at {clock.show(due)}{why}",
                )
            )
    return found


def recorded_failures(history: History) -> list[Failure]:
    """Each fail_page / fail_thread call whose reply says it recorded the failure, with the
    Retry-After its handler passed or, if longer, the one the API answered it with."""
    owner = targets(history)
    asked: dict[str, float] = {}  # per actor, the Retry-After of its last API error
    out = []
    for e in history.events:
        if e.kind == "api" and e.detail.get("outcome") == "error":
            wait = _seconds(e.detail.get("retry_after"))
            if wait is None:
                asked.pop(e.actor, None)
            else:
                asked[e.actor] = wait
        if e.kind != "statement" or e.detail.get("outcome") != "ok" or e.actor not in owner:
            continue
        table = _FAILS.get(function_of(e.detail) or "")
        params, rows = e.detail.get("params"), e.detail.get("rows")
        if table is None or not isinstance(params, Mapping) or not isinstance(rows, list):
            continue
        replies = [r for r in rows if isinstance(r, Mapping) and r.get("recorded") is True]
        token = params.get("token", params.get("p_token"))
        ident = next((params[k] for k in _ID_KEYS[table] if isinstance(params.get(k), int)), None)
        if not replies or token is None or ident is None:
            continue
        passed = _seconds(params.get("retry_after", params.get("p_retry_after_seconds")))
        waits = [w for w in (passed, asked.get(e.actor)) if w is not None]
        retry_after = max(waits) if waits else None
        error = params.get("error", params.get("p_error"))
        out.append(
            Failure(
                e.actor,
                e.time,
                (table, ident),
                str(token),
                retry_after,
                replies[0],
                None if error is None else str(error),
            )
        )
    return out


def _after_claim(
    versions: list[Mapping[str, Any]], token: str
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """The last version held by this claim, and the version committed right after it."""
    last = None
    for i, v in enumerate(versions):
        if str(v.get("claim_token")) == token and v.get("status") == "processing":
            last = i
    if last is None:
        return None, None
    return versions[last], versions[last + 1] if last + 1 < len(versions) else None


def unscheduled_retries(state: FinalState, history: History) -> list[tuple[Item, str]]:
    """(row, what happened) for each claimed row put back to pending with a retry time no later
    than its attempt began, and each recorded failure that the API answered with a Retry-After
    yet scheduled its retry sooner than that after the attempt began."""
    clock = _Clock(history)
    versions_of = row_versions(state)
    found = []
    for item, versions in versions_of.items():
        for prev, cur in pairwise(versions):
            if prev.get("status") != "processing" or cur.get("status") != "pending":
                continue
            began, due = _stamp(prev.get("started_at")), _stamp(cur.get("next_retry_at"))
            if began is None or due is None or due > began:
                continue
            found.append(
                (
                    item,
                    f"{_name(item)} went back to pending after attempt {prev.get('attempts')} "
                    f"(begun at {clock.show(began)}) with its retry due at {clock.show(due)}, "
                    f"not after the attempt: no backoff ({cur.get('last_error')})",
                )
            )
    for f in recorded_failures(history):
        if f.retry_after is None:
            continue
        held, nxt = _after_claim(versions_of.get(f.item, []), f.token)
        if held is None or nxt is None or nxt.get("status") != "pending":
            continue
        began, due = _stamp(held.get("started_at")), _stamp(nxt.get("next_retry_at"))
        if began is None or due is None:
            continue
        earliest = began + timedelta(seconds=f.retry_after)
        if due < earliest:
            found.append(
                (
                    f.item,
                    f"{f.actor}'s failure on {_name(f.item)} at t={f.time:g}s carried the API's "
                    f"Retry-After of {f.retry_after:g}s, but the retry was scheduled at "
                    f"{clock.show(due)}, before {clock.show(earliest)}",
                )
            )
    return found


def _carries(version: Mapping[str, Any], failure: Failure) -> bool:
    """Whether a version records this failure's own error (then the failure wrote it)."""
    error, recorded = failure.error, version.get("last_error")
    return bool(error) and isinstance(recorded, str) and str(error) in recorded


def unreleased_failures(state: FinalState, history: History) -> list[tuple[Item, str]]:
    """(row, what happened) for each failure answered as recorded whose row's next committed
    version is not the one the reply described (the claim was not let go by it), or whose row
    is still held by that claim at the end."""
    clock = _Clock(history)
    versions_of = row_versions(state)
    final = {(PAGE, int(r["id"])): r for r in state.pages}
    final.update({(ENTRY, int(r["id"])): r for r in state.entries})
    found = []
    for f in recorded_failures(history):
        held, nxt = _after_claim(versions_of.get(f.item, []), f.token)
        if held is None:
            continue  # the log never saw this claim: nothing to judge by
        said = f.reply.get("status")
        what = f"{f.actor}'s failure on {_name(f.item)} at t={f.time:g}s was answered as recorded"
        if nxt is None:
            row = final.get(f.item)
            if row is not None and str(row.get("claim_token")) == f.token:
                found.append((f.item, f"{what}, but the row is still {row.get('status')} under it"))
            continue
        promised, got = _stamp(f.reply.get("next_retry_at")), _stamp(nxt.get("next_retry_at"))
        if said is not None and nxt.get("status") != said:
            found.append(
                (
                    f.item,
                    f"{what} ({said}), but the row's next version is {nxt.get('status')} "
                    f"({nxt.get('last_error')})",
                )
            )
        elif said == "pending" and promised and got and promised != got and not _carries(nxt, f):
            found.append(
                (
                    f.item,
                    f"{what} with its retry at {clock.show(promised)}, but the row stayed under "
                    f"that claim: its next version retries at {clock.show(got)} "
                    f"({nxt.get('last_error')})",
                )
            )
    return found


def _violation(
    inp: CheckInput, check: str, found: list[tuple[Item, str]], one: str, many: str
) -> Violation | None:
    from harness.checks import Violation, _few, related_steps

    if not found:
        return None
    pages = sorted({i for (table, i), _ in found if table == PAGE})
    entries = sorted({i for (table, i), _ in found if table == ENTRY})
    count = len(found)
    return Violation(
        check,
        f"{count} {one if count == 1 else many}",
        _few([text for _, text in found]),
        related_steps(inp.history, PAGE, pages) + related_steps(inp.history, ENTRY, entries),
    )


def retry_waits_for_its_time(inp: CheckInput) -> Violation | None:
    """No claim of a pending row begins before the retry time of the version it claims."""
    found = early_claims(inp.state, inp.history)
    return _violation(
        inp,
        "retry-waits-for-its-time",
        found,
        "claim came before its retry was due",
        "claims came before their retry was due",
    )


def failure_backs_off(inp: CheckInput) -> Violation | None:
    """A claimed row returned to pending is due again only after its attempt began, and a failure
    that reported the API's Retry-After is due no sooner than that after its attempt began."""
    found = unscheduled_retries(inp.state, inp.history)
    return _violation(
        inp,
        "failure-backs-off",
        found,
        "retry was scheduled too soon",
        "retries were scheduled too soon",
    )


def failure_releases_claim(inp: CheckInput) -> Violation | None:
    """A failure answered as recorded is the row's next committed version: the claim let go, in
    the state and with the retry time the reply gave."""
    found = unreleased_failures(inp.state, inp.history)
    return _violation(
        inp,
        "failure-releases-claim",
        found,
        "recorded failure left its row under its claim",
        "recorded failures left their rows under their claims",
    )
