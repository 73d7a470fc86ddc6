"""What the search learns of a pipeline's pause points: how many each function's statements have.

A Pause stops a statement at its n-th pause point (a clock read, or the start of a write; see
harness/sql/pause.sql). How many points a statement has depends on the pipeline's SQL, which the
search does not read: a constant that suits one pipeline is random on another. So every run
teaches it instead: a Pause that stopped shows its statement has more than `at_point` points, and
one recorded as unfired ("ended before pause point n") shows that path has at most n. Points are
then drawn uniformly over what was seen, with a margin past it so longer paths are found too.

The knowledge only grows from runs, so the same seed gives the same search; explore() stops
teaching it once a failure is found, so shrinking draws from what the failing run was drawn from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.coverage import DELIVERY_ROLES, called
from harness.engine.faults import SWEEPER, Pause
from harness.history import History
from harness.scenario import Scenario

# Before anything is learned: the first few points, where a function reads and first writes.
PRIOR_POINTS = 8
# Past the most points seen, how far a draw may reach to find a longer path.
MARGIN = 4

Key = tuple[str, int]  # (function or SWEEPER, at_step)
# The history's events that are a delivery's steps (harness.engine.actor's step kinds but invoke).
_STEP_EVENTS = frozenset({"statement", "api", "begin", "commit", "rollback"})


@dataclass(repr=False)
class PausePoints:
    """Per (function, step): the most points a statement was seen to reach, the points armed
    statements ended before, and the steps that have no statement at all."""

    reached: dict[Key, int] = field(default_factory=dict)  # max stopped at_point + 1
    ended: dict[Key, set[int]] = field(default_factory=dict)  # at_points a statement ended before
    no_statement: set[Key] = field(default_factory=set)
    # Per statement a step ran (named by the function it called, as harness.coverage names
    # races): the most points it was seen to stop at, and the points it ended before. One step
    # may run different statements (a completion, or a failure after the API failed), and a
    # short one's points are a few of a long one's: a race draws a statement, then its points.
    paths: dict[Key, dict[str, int]] = field(default_factory=dict)
    path_ended: dict[Key, dict[str, set[int]]] = field(default_factory=dict)
    runs: int = 0
    # Steps some delivery ran a statement at, read from every run (with or without a Pause):
    # where a race may pause before any pause has stopped there.
    ran: set[Key] = field(default_factory=set)
    # Per step, the statements deliveries ran there (by the function each called), read from
    # every run: how many ran it with no failed API call before it in their delivery, and how
    # many after one (a failure path). A race aims at a statement no pause has stopped yet too,
    # and takes the path that statement is run on.
    ran_paths: dict[Key, dict[str, tuple[int, int]]] = field(default_factory=dict)

    def __repr__(self) -> str:  # short: Hypothesis shows it in the strategy's repr
        return f"PausePoints({len(self.reached)} statements seen, {self.runs} runs)"

    def bound(self, function: str, step: int) -> int:
        """How many points a draw for this statement ranges over (at least one): the most seen
        and a margin past them (paths differ: one that returns early proves nothing of a longer
        one), or before any stopped, the prior, or less if every armed statement ended sooner."""
        key = (function, step)
        seen = self.reached.get(key, 0)
        if seen:
            return seen + MARGIN
        ended = self.ended.get(key)
        return max(1, min(PRIOR_POINTS, max(ended))) if ended else PRIOR_POINTS

    def known(self, function: str, step: int) -> int:
        """How many points a draw that must stop ranges over: the points below the most seen (a
        statement that stopped at point n passed every point before it), without the margin
        past them, but never fewer than bound() up to the prior (a statement seen to stop only
        at its first point must not confine the draw to it)."""
        bound = self.bound(function, step)
        return max(self.reached.get((function, step), 0), min(bound, PRIOR_POINTS))

    def steps(self, function: str, steps: int) -> tuple[int, ...]:
        """The steps of `function` (0..steps-1), less those that never had a statement to pause
        (an API call, or past the handler's end) whenever a Pause was aimed at them."""
        had = set(self.reached) | set(self.ended)
        return tuple(
            s
            for s in range(steps)
            if (function, s) in had or (function, s) not in self.no_statement
        ) or (0,)

    def learn_steps(self, history: History) -> None:
        """Read, from any run, at which steps each function's deliveries ran a statement: a
        delivery's n-th step after its invoke is its n-th step event (a statement, an API call,
        a transaction's begin or end; a pause, a lock wait and a fault are not steps)."""
        functions: dict[str, str] = {}
        steps: dict[str, int] = {}
        failed: set[str] = set()  # deliveries whose API call failed
        for e in history.events:
            if e.kind == "invoke" and e.role in DELIVERY_ROLES:
                functions[e.actor] = str(e.detail.get("function"))
                steps[e.actor] = 0
            elif e.actor in steps and e.kind in _STEP_EVENTS:
                if e.kind == "statement":
                    key = (functions[e.actor], steps[e.actor])
                    self.ran.add(key)
                    names = self.ran_paths.setdefault(key, {})
                    name = called(str(e.detail.get("sql") or ""))
                    plain, after = names.get(name, (0, 0))
                    names[name] = (plain, after + 1) if e.actor in failed else (plain + 1, after)
                elif e.kind == "api" and e.detail.get("outcome") == "error":
                    failed.add(e.actor)
                steps[e.actor] += 1

    def learn(self, scenario: Scenario, history: History) -> None:
        """Read which of the scenario's Pause rules stopped, and which ended before their point
        (and, from every run, the steps that ran a statement)."""
        self.learn_steps(history)
        rules = [r for r in scenario.faults.rules if isinstance(r, Pause)]
        if not rules:
            return
        self.runs += 1
        functions: dict[str, str] = {}
        stopped: dict[tuple[str, int], str] = {}  # -> the function its statement called
        unfired: dict[tuple[str, int, int], bool] = {}  # -> the step had a statement
        # The statement an armed step ended with (its event comes just before the unfired one).
        ended_in: dict[tuple[str, int, int], str] = {}
        last_sql: dict[str, str] = {}
        for e in history.events:
            if e.kind == "statement":
                last_sql[e.actor] = str(e.detail.get("sql") or "")
            if e.kind == "invoke":
                functions[e.actor] = (
                    SWEEPER if e.role == "sweeper" else str(e.detail.get("function"))
                )
            function = functions.get(e.actor)
            point = e.detail.get("at_point")
            if function is None:
                continue
            if e.kind == "fault" and e.detail.get("rule") == "Pause" and "steps_taken" in e.detail:
                # Aimed past the handler's last step: that step does not exist.
                step = e.detail.get("at_step")
                if isinstance(step, int):
                    self.no_statement.add((function, step))
                continue
            if not isinstance(point, int):
                continue
            if e.kind == "paused":
                stopped[(function, point)] = called(str(e.detail.get("sql") or ""))
            elif e.kind == "fault" and e.detail.get("fault") == "unfired":
                step = e.detail.get("at_step")
                if isinstance(step, int):
                    reason = str(e.detail.get("reason"))
                    unfired[(function, step, point)] = "no statement" not in reason
                    if e.actor in last_sql:
                        ended_in[(function, step, point)] = called(last_sql[e.actor])
        for r in rules:
            function = r.function or ""
            key = (function, r.at_step)
            had = unfired.get((function, r.at_step, r.at_point))
            if had is True:
                self.ended.setdefault(key, set()).add(r.at_point)
                name = ended_in.get((function, r.at_step, r.at_point))
                if name is not None:
                    self.path_ended.setdefault(key, {}).setdefault(name, set()).add(r.at_point)
            elif had is False:
                self.no_statement.add(key)
            elif (function, r.at_point) in stopped:
                self.reached[key] = max(self.reached.get(key, 0), r.at_point + 1)
                paths = self.paths.setdefault(key, {})
                name = stopped[(function, r.at_point)]
                paths[name] = max(paths.get(name, 0), r.at_point + 1)

    def statements(self, function: str, step: int) -> tuple[str, ...]:
        """The statements this step was seen to run or stop in, by the function each called,
        sorted."""
        key = (function, step)
        return tuple(
            sorted(
                set(self.paths.get(key, {}))
                | set(self.path_ended.get(key, {}))
                | set(self.ran_paths.get(key, {}))
            )
        )

    def after_failure(self, function: str, step: int, name: str | None) -> bool | None:
        """Whether statement `name` runs at this step only after its delivery's API call failed
        (True), only without (False), or either or not known (None)."""
        plain, after = self.ran_paths.get((function, step), {}).get(name or "", (0, 0))
        if plain and not after:
            return False
        if after and not plain:
            return True
        return None

    def path_points(self, function: str, step: int, name: str) -> int:
        """How many points a draw that must stop in statement `name` ranges over: up to a point
        the statement ended before (so has no more than), at most MARGIN past those it was seen
        to stop at; while no such point is known, the step's known() range, or one past the
        points seen if that is wider."""
        key = (function, step)
        seen = self.paths.get(key, {}).get(name, 0)
        ended = self.path_ended.get(key, {}).get(name, set())
        upper = min((p for p in ended if p >= seen), default=None)
        if upper is None:
            # Nothing bounds it yet: as wide as the step's own range (one seen to stop only at
            # its first points must not confine the draw to them, as known() says).
            return max(seen + 1, self.known(function, step))
        return max(1, min(upper, seen + MARGIN))

    @staticmethod
    def paused(name: str, counts: Mapping[str, int]) -> int:
        """How many runs paused statement `name` at any point (coverage.race_features'
        `paused:<name>@<point>`, summed over its points)."""
        prefix = f"paused:{name}@"
        return sum(n for feature, n in counts.items() if feature.startswith(prefix))

    def raced(self, function: str, step: int, point: int, counts: Mapping[str, int]) -> int:
        """How many runs went through a whole race (coverage.race_features' `resumed:`) at this
        point of any statement seen to stop at this step."""
        names = self.paths.get((function, step), {})
        return sum(counts.get(f"resumed:{name}@{point}", 0) for name in names)


__all__ = ["MARGIN", "PRIOR_POINTS", "PausePoints"]
