"""The check that only the claim currently holding a queue row records an attempt on it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Claim:
    """A successful claim: who made it, when, and the token it was given."""

    actor: str
    time: float
    token: Any


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
    held its row: another actor had claimed the row since."""
    owner = targets(history)
    holder: dict[tuple[str, int], Claim] = {}
    mine: dict[str, Claim] = {}
    found = []
    for e in history.events:
        if e.actor not in owner or e.kind != "statement":
            continue
        rows = _rows(e.detail)
        item = owner[e.actor]
        if any(r.get(_CLAIMED) is True for r in rows):
            token = next((r.get("claim_token") for r in rows if r.get(_CLAIMED) is True), None)
            claim = Claim(e.actor, e.time, token)
            holder[item] = mine[e.actor] = claim
            continue
        if not any(r.get(k) is True for r in rows for k in _RECORDED):
            continue
        current = holder.get(item)
        if current is None or current.actor == e.actor or e.actor not in mine:
            continue  # the holder itself, or nothing known to judge by
        found.append((item, _describe(e, item, mine[e.actor], current)))
    return found


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
    row: once another worker has claimed the row, the earlier worker's calls are refused."""
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
        "held its row",
        _few([text for _, text in found]),
        related_steps(inp.history, PAGE, pages) + related_steps(inp.history, ENTRY, entries),
    )
