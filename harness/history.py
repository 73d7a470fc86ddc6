"""What happened in a run, as events: JSON round-trip, comparison, and a text transcript."""

from __future__ import annotations

import json
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
    "crash",
    "info",
]
# Jepsen-style: ok, fail, info (may or may not have happened); plus step outcomes.
Outcome = Literal["ok", "error", "blocked", "crashed", "info", "fail"]

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
        lines: list[str] = []
        waiting: set[str] = set()
        for e in self.events:
            d = e.detail
            head = f"{e.time:8.3f} "
            if e.kind in ("statement", "begin", "commit", "rollback", "api"):
                text = _short(str(d.get("sql") or d.get("call") or e.kind.upper()), width)
                if e.actor in waiting:
                    waiting.discard(e.actor)
                    text = "<... completed>"
                line = f"{head}step {e.actor}: {text}"
                if d.get("outcome") == "error":
                    line += (
                        f"\nERROR:  {d.get('sqlstate') or ''} {_short(str(d.get('error')), width)}"
                    )
                lines.append(line)
            elif e.kind == "blocked":
                waiting.add(e.actor)
                text = _short(str(d.get("sql") or ""), width)
                by = ",".join(d.get("blocked_by") or []) or "?"
                lines.append(f"{head}step {e.actor}: {text} <waiting ...> (on {by})")
            elif e.kind == "reply":
                body = json.dumps(d.get("body"), sort_keys=True, default=str)
                if "body" not in d:
                    body = str(d.get("error") or d.get("value") or "")
                lines.append(
                    f"{head}reply {e.actor}: {d.get('outcome')} {d.get('status', '')} "
                    f"{_short(body, width)}"
                )
            else:
                rest = {k: v for k, v in d.items() if k not in WALL_FIELDS}
                text = _short(json.dumps(rest, sort_keys=True, default=str), width)
                lines.append(f"{head}{e.kind} {e.actor}: {text}")
        return "\n".join(lines)


def _short(text: str, width: int) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 3] + "..."


__all__ = ["WALL_FIELDS", "Event", "History", "Kind", "Outcome", "Role"]
