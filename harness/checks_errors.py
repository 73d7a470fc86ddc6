"""The check that every webhook delivery and sweeper tick ends as its implementation designed it,
never with an error that no injected fault explains."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.attribution import targets
from harness.history import Event, History, sql_name

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation

# Replies the engine writes for a caller, not the handler's own ending.
_ENGINE_ENDINGS = frozenset({"instance crashed", "caller timed out"})
# Faults aimed at one actor that break its connection: any error after them is theirs.
_CONNECTION_FAULTS = frozenset({"crash", "kill_connection"})
# A statement cancelled by a timeout, or a lock it could not get in time: only a wait explains it.
_TIMEOUT_STATES = frozenset({"57014", "55P03"})
# SQLSTATE classes of a lost connection or a server shutting down.
_CONNECTION_CLASSES = ("08", "57P")
_RPC = re.compile(r"^\s*-- POST /rest/v1/rpc/(\w+)")
ROLES = ("page_worker", "processor", "sweeper", "orchestrator")


def unexpected_ending(reply: Mapping[str, Any]) -> str | None:
    """The error a handler ended with when its reply is not one it chose: a raised exception
    (the Python bridge) or an HTTP 5xx whose body is no designed outcome (a function's uncaught
    error is `500 {"outcome": "error"}`); None for a designed reply."""
    if reply.get("outcome") == "fail" and reply.get("status") is None:
        error = " ".join(str(reply.get("error") or "").split())
        return None if error in _ENGINE_ENDINGS else error or "an exception without a message"
    status = reply.get("status")
    body = reply.get("body")
    if isinstance(status, int) and status >= 500:
        outcome = body.get("outcome") if isinstance(body, Mapping) else None
        if outcome in (None, "error"):
            said = body.get("error") if isinstance(body, Mapping) else body
            return f"HTTP {status}: " + " ".join(str(said or "no body").split())
    return None


def _lost_connection(events: list[Event], error: str) -> bool:
    """The actor's error is a broken connection: its failed statement has no SQLSTATE (the
    client saw the socket close) or a connection / shutdown one, or nothing failed on the server
    and the error says so."""
    failed = [
        e
        for e in events
        if e.kind in ("statement", "commit") and e.detail.get("outcome") == "error"
    ]
    if not failed:
        return "connection" in error.lower()
    state = str(failed[-1].detail.get("sqlstate") or "")
    return not state or state.startswith(_CONNECTION_CLASSES)


def _excuse(events: list[Event], restarts: list[int], error: str) -> str | None:
    """The injected fault that explains an actor's error, if one does."""
    first, last = events[0].seq, events[-1].seq
    if any(first < seq < last for seq in restarts):
        return "the server restarted under it"
    # A restart also breaks the idle connections that later actors are handed.
    if any(seq < last for seq in restarts) and _lost_connection(events, error):
        return "a connection the server restart broke"
    api_errors = set()
    waited = False
    for e in events:
        d = e.detail
        if e.kind == "fault" and d.get("fault") in _CONNECTION_FAULTS:
            return f"{d.get('fault')} fault"
        if e.kind == "crash":
            return "crash"
        if e.kind == "reply" and d.get("caller_gone"):
            return "its caller had given up"
        if e.kind == "api" and d.get("outcome") == "error":
            api_errors.add(" ".join(str(d.get("error") or "").split()))
        if e.kind in ("paused", "blocked") or (e.kind == "fault" and d.get("fault") == "stall"):
            waited = True
        if (
            waited
            and e.kind in ("statement", "commit")
            and d.get("outcome") == "error"
            and str(d.get("sqlstate")) in _TIMEOUT_STATES
        ):
            return "a timeout while it waited on a pause or a lock"
    # An implementation may let an injected API error escape: the fault explains that error only,
    # never one the server raised (whose message may quote the API error it was recording, as a
    # CHECK violation's failing row does).
    if _refused_statement(events) is None and any(a and a in error for a in api_errors):
        return "an injected API fault"
    return None


def _refused_statement(events: list[Event]) -> Event | None:
    """The first statement of the actor that the server refused with a SQLSTATE, if any."""
    for e in events:
        d = e.detail
        if e.kind in ("statement", "commit") and d.get("outcome") == "error" and d.get("sqlstate"):
            return e
    return None


def _failed_statement(events: list[Event]) -> str | None:
    """The last statement of the actor that the server refused, in words."""
    for e in reversed(events):
        d = e.detail
        if e.kind in ("statement", "commit", "rollback") and d.get("outcome") == "error":
            call = str(d.get("sql") or d.get("call") or "")
            rpc = _RPC.match(call)
            if rpc:  # a function's call through PostgREST: its SQL starts with the request
                call = f"SELECT * FROM {rpc.group(1)}("
            state = f" [{d['sqlstate']}]" if d.get("sqlstate") else ""
            return f"{sql_name(call, 60)}{state}"
    return None


def _by_actor(history: History) -> tuple[dict[str, list[Event]], list[int]]:
    """Each handler's events, and the history positions of server restarts."""
    by_actor: dict[str, list[Event]] = {}
    restarts: list[int] = []
    for e in history.events:
        if e.role in ROLES:
            by_actor.setdefault(e.actor, []).append(e)
        if e.kind == "fault" and e.detail.get("fault") == "restart_server":
            restarts.append(e.seq)
    return by_actor, restarts


def broken_by_faults(history: History) -> set[str]:
    """The actors whose handler ended with an error that an injected fault explains."""
    by_actor, restarts = _by_actor(history)
    broken = set()
    for actor, events in by_actor.items():
        endings = [e for e in events if e.kind == "reply"]
        error = unexpected_ending(endings[-1].detail) if endings else None
        if error is not None and _excuse(events, restarts, error):
            broken.add(actor)
    return broken


def unexpected_errors(history: History) -> list[tuple[str, str]]:
    """(actor, what went wrong) for each handler that ended with an unexplained error."""
    by_actor, restarts = _by_actor(history)
    owner = targets(history)
    found = []
    for actor, events in by_actor.items():
        endings = [e for e in events if e.kind == "reply"]
        if not endings:
            continue
        error = unexpected_ending(endings[-1].detail)
        if error is None or _excuse(events, restarts, error):
            continue
        role = events[0].role
        what = role.replace("_", " ")
        if actor in owner:
            function = events[0].detail.get("function") or what
            what = f"{function} #{owner[actor][1]}"
        statement = _failed_statement(events)
        where = f" after {statement} failed" if statement else ""
        found.append(
            (
                actor,
                f"{actor} ({what}, t={endings[-1].time:g}s) ended with an error no injected "
                f"fault explains{where}: {_short(error)}",
            )
        )
    return found


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def no_unexpected_errors(inp: CheckInput) -> Violation | None:
    """Every webhook delivery and sweeper tick ends with a reply its handler chose (done, noop,
    retry, dead-letter, rejected), never with an error that no injected fault explains."""
    from harness.checks import SHOWN, Violation, describe

    found = unexpected_errors(inp.history)
    if not found:
        return None
    rows = [text for _, text in found[:SHOWN]]
    if len(found) > SHOWN:
        rows.append(f"... and {len(found) - SHOWN} more")
    actors = {a for a, _ in found}
    steps = tuple(
        describe(e)
        for e in inp.history.events
        if e.actor in actors and e.kind in ("invoke", "reply", "fault", "crash")
    )[-12:]
    count = len(found)
    return Violation(
        "no-unexpected-errors",
        f"{count} handler{'s' if count != 1 else ''} ended with an error no injected fault "
        "explains",
        tuple(rows),
        steps,
    )
