"""Scheduling strategies, and the one Chooser every engine decision is drawn from."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol


class Chooser:
    """Every choice of a run: drawn from a seeded Random, or replayed from a list; all recorded.

    A choice among one option is no choice: it returns 0 without drawing or recording, so a
    recorded list holds only real decisions (which is what Hypothesis should shrink).
    """

    def __init__(self, seed: int | None = 0, choices: Sequence[int] | None = None) -> None:
        self.seed = seed
        self._rng = random.Random(seed or 0)
        self._given = None if choices is None else list(choices)
        self._pos = 0
        self.made: list[int] = []
        self.labels: list[str] = []

    def choose(self, n_options: int, label: str) -> int:
        if n_options < 1:
            raise ValueError(f"choose({n_options}, {label!r}): need at least one option")
        if n_options == 1:
            return 0
        if self._given is not None and self._pos < len(self._given):
            value = self._given[self._pos] % n_options
            self._pos += 1
        elif self._given is not None and self.seed is None:
            # Past the end of a list with no seed every choice is the simplest one, as in
            # Hypothesis, so a shorter list is a simpler schedule.
            value = 0
        else:
            value = self._rng.randrange(n_options)
        self.made.append(value)
        self.labels.append(label)
        return value


class ChoiceList(Chooser):
    """A Chooser that replays an explicit list of choices, then draws from `seed` (or gives 0
    when `seed` is None) once the list runs out."""

    def __init__(self, choices: Sequence[int], seed: int | None = None) -> None:
        super().__init__(seed=seed, choices=choices)


class Strategy(Protocol):
    """Picks which runnable actor steps next; `runnable` is in actor-creation order."""

    def pick(self, runnable: Sequence[str], last: str | None, chooser: Chooser) -> int: ...


class RandomStrategy:
    """Uniformly random among runnable actors, with an optional bound on preemptions."""

    def __init__(self, preemption_bound: int | None = None) -> None:
        self.preemption_bound = preemption_bound
        self.preemptions = 0

    def pick(self, runnable: Sequence[str], last: str | None, chooser: Chooser) -> int:
        bound = self.preemption_bound
        if last in runnable and bound is not None and self.preemptions >= bound:
            return runnable.index(last)
        i = chooser.choose(len(runnable), "schedule")
        if last in runnable and runnable[i] != last:
            self.preemptions += 1
        return i


class PCTStrategy:
    """Probabilistic concurrency testing (Burckhardt et al. 2010): random priorities, d-1 drops.

    The highest-priority runnable actor runs; at each of d-1 change points drawn in [0, max_steps)
    the actor that runs gets a priority below every initial one.
    """

    def __init__(self, depth: int = 2, max_steps: int = 200) -> None:
        if depth < 1 or max_steps < 1:
            raise ValueError(f"PCT needs depth >= 1 and max_steps >= 1, got {depth}, {max_steps}")
        self.depth = depth
        self.max_steps = max_steps
        self.priorities: dict[str, int] = {}
        self.change_points: list[int] | None = None
        self.step = 0

    def pick(self, runnable: Sequence[str], last: str | None, chooser: Chooser) -> int:
        if self.change_points is None:
            self.change_points = [
                chooser.choose(self.max_steps, "pct.change_point") for _ in range(self.depth - 1)
            ]
        for actor in runnable:
            if actor not in self.priorities:
                self.priorities[actor] = self.depth + chooser.choose(1 << 20, "pct.priority")
        best = max(range(len(runnable)), key=lambda i: (self.priorities[runnable[i]], -i))
        for n, point in enumerate(self.change_points):
            if point == self.step:
                self.priorities[runnable[best]] = n
        self.step += 1
        return best


__all__ = ["ChoiceList", "Chooser", "PCTStrategy", "RandomStrategy", "Strategy"]
