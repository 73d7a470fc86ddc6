"""One lane per logical actor: the sweeper's ticks share one, each delivery has its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.history import History

ENGINE_LANE = "webhooks"
SHARED_ROLES = {"sweeper": "sweeper", "orchestrator": "orchestrator"}
MOST_LANES = 40


@dataclass
class Lane:
    """A column of the timeline: its key, what a person reads, and the actor ids it holds."""

    key: str
    label: str
    actors: list[str] = field(default_factory=list)
    note: str = ""  # why this lane is beside another for the same row: duplicate, redelivery
    names: dict[str, str] = field(default_factory=dict)  # actor -> its own name, when merged

    def name(self, actor: str) -> str:
        """What to call `actor` in this lane: its own lane's label, even in a merged lane."""
        return self.names.get(actor, self.label)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 21st."""
    suffix = "th" if 10 < n % 100 < 14 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def short_function(function: str) -> str:
    """`sync-threads-processor` -> `processor`: the prefix is the same for every function."""
    return function.removeprefix("sync-threads-")


def lanes(history: History, keep: set[str] | frozenset[str] = frozenset()) -> list[Lane]:
    """The lanes in order of first appearance, the engine's webhook lane first. Past
    `MOST_LANES`, deliveries not in `keep` share one lane per function, so a long run's page
    still fits a screen."""
    found = _lanes(history)
    if len(found) <= MOST_LANES:
        return found
    out: dict[str, Lane] = {}
    for lane in found:
        function = lane.label.split(" #", 1)[0]
        if lane.key != lane.actors[0] or lane.key in keep or " #" not in lane.label:
            out[lane.key] = lane
            continue
        key = f"others:{function}"
        merged = out.setdefault(key, Lane(key, "", [], "merged"))
        merged.actors += lane.actors
        merged.names[lane.actors[0]] = lane.label
        merged.label = f"{function} · {len(merged.actors)} deliveries"
    return list(out.values())


def _lanes(history: History) -> list[Lane]:
    out: dict[str, Lane] = {}
    seen_target: dict[tuple[str, object], int] = {}
    invokes = {e.actor: e for e in history.events if e.kind == "invoke"}
    if any(e.actor == "engine" for e in history.events):
        out[ENGINE_LANE] = Lane(ENGINE_LANE, "webhooks", ["engine"])
    for actor in history.actors():
        if actor == "engine":
            continue
        invoke = invokes.get(actor)
        role = invoke.role if invoke else next(e.role for e in history.events if e.actor == actor)
        if role in SHARED_ROLES:
            key = SHARED_ROLES[role]
            lane = out.setdefault(key, Lane(key, key))
            lane.actors.append(actor)
            continue
        detail = invoke.detail if invoke else {}
        function, record = detail.get("function"), detail.get("record_id")
        if function is None:
            out[actor] = Lane(actor, actor, [actor])
            continue
        label = f"{short_function(str(function))} #{record}"
        copy = detail.get("copy") or 0
        # Only normal deliveries count: a duplicate or an early copy is named as such instead.
        nth = seen_target.get((str(function), record), 0) + (0 if copy else 1)
        seen_target[(str(function), record)] = nth
        note = ""
        if copy == "early":
            note = "early"  # delivered before the inserting transaction committed
        elif copy:
            note = "duplicate" if copy == 1 else f"duplicate {copy}"
        elif nth > 1:
            note = f"{ordinal(nth)} delivery"
        out[actor] = Lane(actor, label + (f" · {note}" if note else ""), [actor], note)
    return list(out.values())


def lane_of(all_lanes: list[Lane]) -> dict[str, Lane]:
    """Actor id -> its lane."""
    return {actor: lane for lane in all_lanes for actor in lane.actors}
