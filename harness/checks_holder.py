"""The check that the claim currently holding a queue row, and only it, records attempts on it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from harness.attribution import targets
from harness.history import Event, History, called_function

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation

PAGE = "sync_page_queue"
_RPC = re.compile(r"^\s*-- POST /rest/v1/rpc/(\w+)")
# A result column that says the call did what it was asked (the reference's replies; a port's
# functions return the same rows). A call whose rows carry none of them is not judged.
_CLAIMED = "claimed"
_RECORDED = ("recorded", "completed")
_ID_KEYS = {
    PAGE: ("page_id", "p_page_id"),
    "thread_processing_queue": ("entry_id", "p_entry_id"),
}


@dataclass(frozen=True)
class Claim:
    """A successful claim: who made it, when, and the token it was given."""

    actor: str
    time: float
    token: Any
    until: float | None  # the lease's end, in the history's virtual seconds


def function_of(detail: Mapping[str, Any]) -> str | None:
    """The SQL function a statement called, directly or through PostgREST (a port's RPC)."""
    sql = str(detail.get("sql") or detail.get("call") or "")
    rpc = _RPC.match(sql)
    return rpc.group(1) if rpc else called_function(sql)


def _rows(detail: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = detail.get("rows")
    if detail.get("outcome") != "ok" or not isinstance(rows, list):
        return []
    return [r for r in rows if isinstance(r, Mapping)]


def _token(params: Any) -> Any:
    if not isinstance(params, Mapping):
        return None
    return params.get("token", params.get("p_token"))


def stale_records(history: History) -> list[tuple[tuple[str, int], str]]:
    """((table, row id), what happened) for each attempt recorded by a claim that no longer
    held its row (another actor had claimed the row since), and for each attempt of the holder
    refused while its lease still ran and no one else had claimed the row."""
    owner = targets(history)
    start = _start(history)
    unsure = _time_unsure(history)
    holder: dict[tuple[str, int], Claim] = {}
    mine: dict[tuple[str, tuple[str, int]], Claim] = {}
    found = []
    for e in history.events:
        if e.actor not in owner or e.kind != "statement":
            continue
        rows = _rows(e.detail)
        claimed = [r for r in rows if r.get(_CLAIMED) is True]
        if claimed:
            item = _row_of(claimed[0], owner[e.actor])
            until = _seconds(claimed[0].get("locked_until"), start)
            claim = Claim(e.actor, e.time, claimed[0].get("claim_token"), until)
            holder[item] = mine[(e.actor, item)] = claim
            continue
        item = _row_of(e.detail.get("params"), owner[e.actor])
        current, own = holder.get(item), mine.get((e.actor, item))
        if current is None or own is None:
            continue  # nothing known to judge by
        if any(r.get(k) is True for r in rows for k in _RECORDED):
            if current.actor != e.actor:
                found.append((item, _describe(e, item, own, current)))
        elif (
            any(r.get(k) is False for r in rows for k in _RECORDED)
            and current.actor == e.actor
            and own.until is not None
            and e.time < own.until
            and e.actor not in unsure
        ):
            found.append((item, _refused(e, item, own)))
    return found


def _row_of(values: Any, target: tuple[str, int]) -> tuple[str, int]:
    """The row a claim's result or a call's parameters name (a claim may take another row than
    its webhook named), else the webhook's row."""
    if isinstance(values, Mapping):
        for key in _ID_KEYS[target[0]]:
            value = values.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return (target[0], value)
    return target


def _start(history: History) -> datetime | None:
    """The virtual clock's reading at t=0, from the first clock event."""
    for e in history.events:
        if e.kind == "clock" and e.detail.get("now"):
            return _parse(e.detail["now"]) - timedelta(seconds=e.time)
    return None


def _parse(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace(" ", "T"))


def _seconds(stamp: Any, start: datetime | None) -> float | None:
    if stamp is None or start is None:
        return None
    try:
        return (_parse(stamp) - start).total_seconds()
    except ValueError:
        return None


def _time_unsure(history: History) -> set[str]:
    """Actors whose statements may have read a later clock than their event's time: paused
    inside a statement, or live while the clock jumped."""
    out = {e.actor for e in history.events if e.kind == "paused"}
    for e in history.events:
        if e.kind == "fault" and e.detail.get("fault") == "clock_skip":
            out.update(str(a) for a in e.detail.get("live") or ())
    return out


def _refused(e: Event, item: tuple[str, int], own: Claim) -> str:
    kind = "page row" if item[0] == PAGE else "entry"
    function = function_of(e.detail) or "its call"
    reasons = [str(r.get("reason")) for r in _rows(e.detail) if r.get("reason")]
    why = f" ({reasons[0]})" if reasons else ""
    return (
        f"{e.actor}'s {function} on {kind} {item[1]} at t={e.time:g}s was refused{why}, though "
        f"its claim from t={own.time:g}s held the row until t={own.until:g}s and no one had "
        "claimed it since"
    )


def _describe(e: Event, item: tuple[str, int], own: Claim, current: Claim) -> str:
    kind = "page row" if item[0] == PAGE else "entry"
    function = function_of(e.detail) or "its call"
    carried = _token(e.detail.get("params"))
    token = f" with token {str(carried)[:8]}…" if carried else ""
    return (
        f"{e.actor} recorded {function} on {kind} {item[1]} at t={e.time:g}s{token} from its claim "
        f"at t={own.time:g}s, but {current.actor} had claimed the row since, at t={current.time:g}s"
    )


def attempts_by_holder(inp: CheckInput) -> Violation | None:
    """A completion or a failed attempt is recorded only by the claim that currently holds its
    row: once another worker has claimed the row, the earlier worker's calls are refused; and
    the holder's are recorded while its lease runs (nothing else can have ended its claim)."""
    from harness.checks import ENTRY, Violation, _few, related_steps

    found = stale_records(inp.history)
    if not found:
        return None
    pages = [i for (table, i), _ in found if table == PAGE]
    entries = [i for (table, i), _ in found if table == ENTRY]
    count = len(found)
    return Violation(
        "attempts-by-holder",
        f"{count} attempt{'s were' if count != 1 else ' was'} recorded by a worker that no longer "
        "held its row, or refused to the worker that did",
        _few([text for _, text in found]),
        related_steps(inp.history, PAGE, pages) + related_steps(inp.history, ENTRY, entries),
    )
