"""What happened in a run, as events: JSON round-trip, comparison, and a text transcript."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal[
    "orchestrator", "page_worker", "processor", "sweeper", "deliverer", "engine", "actor"
]
Kind = Literal[
    "invoke",
    "statement",
    "begin",
    "commit",
    "rollback",
    "api",
    "delivery",
    "reply",
    "fault",
    "clock",
    "blocked",
    "released",
    "paused",
    "resumed",
    "crash",
    "info",
]
# Jepsen-style: ok, fail, info (may or may not have happened); plus step outcomes.
Outcome = Literal["ok", "error", "blocked", "paused", "crashed", "info", "fail"]

# Fields that depend on wall-clock time or on the server process, not on the schedule: dropped
# by `comparable()` so two replays of one scenario compare equal.
WALL_FIELDS = frozenset({"wall_ms", "pid", "polls", "detect_ms"})


@dataclass(frozen=True)
class Event:
    """One thing that happened: `time` is virtual seconds since the run started."""

    seq: int
    time: float
    actor: str
    role: str
    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str | None:
        value = self.detail.get("outcome")
        return None if value is None else str(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "role": self.role,
            "kind": self.kind,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            seq=int(data["seq"]),
            time=float(data["time"]),
            actor=str(data["actor"]),
            role=str(data["role"]),
            kind=str(data["kind"]),
            detail=dict(data.get("detail") or {}),
        )

    def comparable(self) -> Event:
        """This event without wall-clock and process-id fields."""
        detail = {k: v for k, v in self.detail.items() if k not in WALL_FIELDS}
        return Event(self.seq, self.time, self.actor, self.role, self.kind, detail)


@dataclass(frozen=True)
class History:
    """The events of one run, in the order the scheduler observed them."""

    events: tuple[Event, ...] = ()

    def __len__(self) -> int:
        return len(self.events)

    def comparable(self) -> list[dict[str, Any]]:
        """The events as plain dicts without wall-clock fields: equal for equal schedules."""
        return [e.comparable().to_dict() for e in self.events]

    def by_actor(self, actor: str) -> list[Event]:
        return [e for e in self.events if e.actor == actor]

    def by_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    def by_role(self, *roles: str) -> list[Event]:
        return [e for e in self.events if e.role in roles]

    def actors(self) -> list[str]:
        seen: dict[str, None] = {}
        for e in self.events:
            seen.setdefault(e.actor, None)
        return list(seen)

    def replies(self) -> dict[str, Event]:
        """The first reply each actor gave (what its caller saw)."""
        out: dict[str, Event] = {}
        for e in self.events:
            if e.kind == "reply":
                out.setdefault(e.actor, e)
        return out

    def to_json(self) -> str:
        return json.dumps([e.to_dict() for e in self.events], sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> History:
        return cls(tuple(Event.from_dict(d) for d in json.loads(text)))

    @classmethod
    def of(cls, events: Iterable[Event]) -> History:
        return cls(tuple(events))

    def transcript(self, *, width: int = 100) -> str:
        """Isolation-tester style text: `step w2: <sql> <waiting ...>`, then `<... completed>`."""
        return "\n".join(text for text, _ in self.transcript_lines(width=width))

    def transcript_lines(self, *, width: int = 100) -> list[tuple[str, bool]]:
        """The transcript as (line, matters) pairs: a line that matters (a delivery, a reply, a
        fault, a crash, a lock wait, an error) must survive any shortening of the transcript.
        Only SQL text is cut to `width`; parameters and results are shown with tokens and long
        values shortened."""
        lines: list[tuple[str, bool]] = []
        waiting: set[str] = set()
        params = blocked_params(self)
        for e in self.events:
            d = e.detail
            head = f"{e.time:8.3f} "
            if e.kind in ("statement", "begin", "commit", "rollback", "api"):
                text = statement_text(d, width)
                if e.actor in waiting:
                    waiting.discard(e.actor)
                    text = f"<... completed> {text}"
                result = result_text(d)
                lines.append(
                    (f"{head}step {e.actor}: {text}" + (f" -> {result}" if result else ""), False)
                )
                if d.get("outcome") == "error":
                    error = " ".join(str(d.get("error")).split())
                    lines.append(
                        (f"ERROR:  {d.get('sqlstate') or d.get('status') or ''} {error}", True)
                    )
            elif e.kind == "blocked":
                waiting.add(e.actor)
                by = ",".join(d.get("blocked_by") or []) or "?"
                text = statement_text({**d, "params": params.get(e.seq)}, width)
                lines.append((f"{head}step {e.actor}: {text} <waiting ...> (on {by})", True))
            elif e.kind == "released":
                lines.append((f"{head}released {e.actor}: its lock wait ended", True))
            elif e.kind == "paused":
                waiting.add(e.actor)
                text = statement_text({**d, "params": params.get(e.seq)}, width)
                lines.append((f"{head}step {e.actor}: {text} <paused ...> ({pause_text(d)})", True))
            elif e.kind == "resumed":
                lines.append((f"{head}resumed {e.actor}: {d.get('reason')}", True))
            elif e.kind == "reply":
                lines.append((f"{head}reply {e.actor}: {reply_text(d)}", True))
            elif e.kind == "fault":
                lines.append((f"{head}fault {e.actor}: {fault_text(e)}", True))
            elif e.kind == "clock":
                lines.append((f"{head}clock: {d.get('now')}", False))
            else:
                rest = {k: short_value(v) for k, v in d.items() if k not in WALL_FIELDS}
                text = " ".join(f"{k}={v}" for k, v in sorted(rest.items()))
                lines.append((f"{head}{e.kind} {e.actor}: {text}", True))
        return lines


def blocked_params(history: History) -> dict[int, Any]:
    """For each `blocked` or `paused` event, the parameters of the statement it waited in
    (recorded on the statement's own event, when it completes)."""
    out: dict[int, Any] = {}
    waiting: dict[str, int] = {}
    for e in history.events:
        if e.kind in ("blocked", "paused"):
            waiting[e.actor] = e.seq
        elif e.kind == "statement" and e.actor in waiting:
            out[waiting.pop(e.actor)] = e.detail.get("params")
    return out


# --- words for one event's parts, shared by the transcript and the HTML report ------------------

_TOKEN = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_STAMP = re.compile(r"\b\d{4}-(\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.\d+)?(?:\+00(?::00)?)?\b")
_CALL = re.compile(r"^\s*SELECT \* FROM (?:\w+\.)?(\w+)\(", re.IGNORECASE)
VALUE_CHARS = 40  # a parameter or result value longer than this is shortened


def short_value(value: Any, limit: int = VALUE_CHARS) -> str:
    """A value for one line: UUID tokens as their first 8 digits, long text cut with its length."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = _TOKEN.sub(r"\1…", " ".join(text.split()))
    text = _STAMP.sub(r"\1 \2", text)  # virtual time: the year and zone say nothing
    if len(text) > limit:
        total = re.search(r"\.\.\.\((\d+) chars\)$", text)
        size = total.group(1) if total else str(len(text))
        text = f"{text[: limit - 1]}…({size} chars)"
    return text


def params_text(params: Any) -> str:
    """`name=value, ...` for a statement's parameters, values shortened."""
    if not isinstance(params, Mapping):
        return "" if params is None else short_value(params)
    return ", ".join(f"{k}={short_value(v)}" for k, v in sorted(params.items()))


def called_function(sql: str) -> str | None:
    """`claim_thread` for `SELECT * FROM public.claim_thread(...)`, None for other SQL."""
    call = _CALL.match(sql)
    return call.group(1) if call else None


def sql_name(sql: str, width: int = 100) -> str:
    """`claim_thread` for `SELECT * FROM public.claim_thread(...)`, else the SQL on one line."""
    function = called_function(sql)
    if function:
        return function
    one = " ".join(sql.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def statement_text(detail: Mapping[str, Any], width: int = 100) -> str:
    """A step as one line: `claim_thread(entry_id=1)`, or its SQL with `[params]`."""
    raw = str(detail.get("sql") or detail.get("call") or "")
    params = params_text(detail.get("params"))
    name = sql_name(raw, width)
    if _CALL.match(raw):
        return f"{name}({params})"
    return name + (f" [{params}]" if params else "")


def result_text(detail: Mapping[str, Any], rows_shown: int = 2) -> str:
    """What a step returned, on one line: the scalar columns of its first rows."""
    if detail.get("outcome") == "error":
        return "ERROR"
    if "threads" in detail:
        shown = ", ".join(str(t) for t in detail["threads"])
        cursor = detail.get("next_cursor")
        return f"threads [{shown}]" + (f" next_cursor={short_value(cursor)}" if cursor else "")
    rows = detail.get("rows")
    if not isinstance(rows, list) or not rows:
        return "" if rows is None else "0 rows"
    parts = []
    for row in rows[:rows_shown]:
        if isinstance(row, Mapping):
            cols = [
                f"{k}={short_value(v, 24)}"
                for k, v in row.items()
                if not isinstance(v, Mapping | list)
            ]
            parts.append(" ".join(cols))
        else:
            parts.append(short_value(row))
    count = int(detail.get("row_count") or len(rows))
    more = f" (+{count - rows_shown} rows)" if count > rows_shown else ""
    return "; ".join(parts) + more


def reply_text(detail: Mapping[str, Any]) -> str:
    """A reply in full: outcome, status, then its body (or its error)."""
    if "body" in detail:
        body = json.dumps(detail.get("body"), sort_keys=True, default=str)
    else:
        body = " ".join(str(detail.get("error") or detail.get("value") or "").split())
    status = detail.get("status")
    gone = " (its caller had given up)" if detail.get("caller_gone") else ""
    return f"{detail.get('outcome')}" + (f" {status}" if status else "") + f" {body}{gone}"


def _th(n: int) -> str:
    return "th" if 10 < n % 100 < 14 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def pause_text(d: Mapping[str, Any]) -> str:
    """Where a paused statement stopped, and what lets it go on."""
    where = f"pause point {d.get('at_point')}"
    if d.get("where") == "threadsync.now()":
        where += " (a read of threadsync.now())"
    elif d.get("where"):
        where += f" (the start of {d['where']})"
    after = d.get("resume_after_steps")
    when = f"after {after} steps of others" if after is not None else "when the schedule says"
    if d.get("seconds"):
        when = f"once {d['seconds']:g} s have passed, then {when}"
    return f"at {where}; goes on {when}"


def fault_text(event: Event) -> str:
    """A fault event in words, saying whether it fired."""
    d = event.detail
    kind = str(d.get("fault"))
    at = d.get("at_step")
    if kind == "unfired" and d.get("reason"):
        return f"{d.get('rule')} rule aimed at step {at} did NOT fire: {d['reason']}"
    if kind == "unfired":
        return (
            f"{d.get('rule')} rule aimed at step {at} did NOT fire: the handler's last step "
            f"was step {d.get('steps_taken')}"
        )
    step = f"step {at} (its {int(at or 0) + 1}{_th(int(at or 0) + 1)})"
    if kind == "stall":
        return (
            f"stall FIRED before {step}: paused {float(d.get('until', 0)) - event.time:g} s, "
            f"until t={float(d.get('until', 0)):g}s"
        )
    if kind in ("crash", "kill_connection"):
        return f"{kind} FIRED before {step}"
    if kind == "early":
        return (
            f"early delivery FIRED: {d.get('function')} request {d.get('request')} was delivered "
            "while this transaction, which queued it, was still open"
        )
    if kind == "clock_skip":
        live = ", ".join(str(a) for a in d.get("live") or ()) or "no handler"
        return (
            f"clock_skip FIRED: the clock jumped from t={float(d.get('from') or 0):g}s to "
            f"t={float(d.get('to') or 0):g}s under {live} mid-step"
        )
    if kind == "restart_server":
        how = "immediate (crash) restart" if d.get("immediate") else "clean restart"
        return (
            f"restart_server FIRED: {how} of the database server; "
            f"{d.get('queued_requests', 0)} webhook requests were queued in pg_net"
        )
    if kind in ("batch_timeout", "batch_resend"):
        what = "timed out (its caller gave up)" if kind == "batch_timeout" else "was sent again"
        return (
            f"{kind} FIRED: in pg_net batch {d.get('batch')}, {d.get('function')} "
            f"#{d.get('record_id')} (request {d.get('request')}) {what}"
        )
    rest = {k: short_value(v) for k, v in d.items() if k not in WALL_FIELDS and k != "fault"}
    return f"{kind} FIRED " + " ".join(f"{k}={v}" for k, v in sorted(rest.items()))


__all__ = [
    "WALL_FIELDS",
    "Event",
    "History",
    "Kind",
    "Outcome",
    "Role",
    "blocked_params",
    "called_function",
    "fault_text",
    "params_text",
    "pause_text",
    "reply_text",
    "result_text",
    "short_value",
    "sql_name",
    "statement_text",
]
