"""Presents a mutation run: progress lines, the markdown table with the score, and the JSON."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

from harness.mutate.generate import NOT_APPLIED, Mutant
from harness.mutate.kill import Outcome

SCORED = ("killed", "survived")


def _replays(mutant: Mutant, outcome: Outcome) -> str:
    return (
        f"{outcome.replayed} scenarios replayed, {outcome.skipped} skipped as never reaching "
        f"{mutant.function.split('.')[-1]}"
    )


def progress_line(mutant: Mutant, outcome: Outcome, n: int, total: int) -> str:
    head = f"[{n}/{total}] {mutant.id}: {outcome.status}"
    if outcome.kill is not None:
        k = outcome.kill
        return f"{head} by {k.check} ({k.by}, {k.seconds:.1f} s; {_replays(mutant, outcome)})"
    if outcome.reason:
        return f"{head} ({outcome.reason})"
    return (
        f"{head} after {outcome.runs} runs ({_replays(mutant, outcome)}"
        f"{_explored(mutant, outcome)}), {outcome.seconds:.0f} s"
    )


def _explored(mutant: Mutant, outcome: Outcome) -> str:
    """Whether exploration entered the function at all: "no violation" means little if not."""
    explored = outcome.runs - outcome.replayed
    if explored <= 0:
        return ""
    name = mutant.function.split(".")[-1]
    if outcome.explore_reached is None:
        return f"; {explored} explored"
    if outcome.explore_reached:
        return f"; {explored} explored, exploration reached {name}"
    return f"; {explored} explored, exploration NEVER reached {name}"


def score(outcomes: list[Outcome]) -> tuple[int, int, float | None]:
    """Killed, survived, and killed / (killed + survived) (None when nothing was scored)."""
    counts = Counter(o.status for o in outcomes)
    killed, survived = counts["killed"], counts["survived"]
    total = killed + survived
    return killed, survived, (killed / total if total else None)


def score_line(outcomes: list[Outcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    killed, survived, ratio = score(outcomes)
    shown = "n/a" if ratio is None else f"{100 * ratio:.1f}%"
    return (
        f"mutation score {shown}: {killed} killed / ({killed} killed + {survived} survived); "
        f"{counts['equivalent']} equivalent and {counts['stillborn']} stillborn not scored"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(mutants: list[Mutant], outcomes: list[Outcome]) -> str:
    """A markdown table of every scored or equivalent mutant, survivors first."""
    order = {"survived": 0, "equivalent": 1, "killed": 2, "stillborn": 3}
    rows = sorted(zip(mutants, outcomes, strict=True), key=lambda mo: order[mo[1].status])
    lines = ["| mutant | change | status | by / reason |", "| --- | --- | --- | --- |"]
    for mutant, outcome in rows:
        if outcome.status == "stillborn":
            continue
        if outcome.kill is not None:
            k = outcome.kill
            detail = f"{k.check} ({k.by}, {k.seconds:.1f} s{', flaky' if k.flaky else ''})"
        elif outcome.status == "equivalent":
            detail = outcome.reason or ""
        elif outcome.gap:
            detail = f"gap: {outcome.gap}"
        else:
            detail = f"{outcome.runs} runs, {outcome.seconds:.0f} s; no note in gaps.toml"
        lines.append(
            f"| `{mutant.id}` | {_cell(mutant.summary)} | {outcome.status} | {_cell(detail)} |"
        )
    return "\n".join(lines)


def summary(mutants: list[Mutant], outcomes: list[Outcome]) -> str:
    """The table, the stillborn mutants, the operators not applied, and the score."""
    parts = [table(mutants, outcomes), ""]
    for mutant, outcome in zip(mutants, outcomes, strict=True):
        if outcome.status == "stillborn":
            parts.append(f"stillborn {mutant.id}: {outcome.reason}")
    for name, why in NOT_APPLIED.items():
        parts.append(f"operator {name} not applied: {why}")
    parts.append(score_line(outcomes))
    return "\n".join(parts)


def to_json(mutants: list[Mutant], outcomes: list[Outcome], meta: dict[str, Any]) -> dict[str, Any]:
    """The run as one JSON object: `mutants` (scored and equivalent), `stillborn`, the score."""
    killed, survived, ratio = score(outcomes)
    entries: list[dict[str, Any]] = []
    stillborn: list[dict[str, Any]] = []
    for mutant, outcome in zip(mutants, outcomes, strict=True):
        entry = {
            "id": mutant.id,
            "function": mutant.function,
            "operator": mutant.operator,
            "summary": mutant.summary,
            "migration": mutant.migration,
            "diff": mutant.diff,
            "status": outcome.status,
            "reason": outcome.reason,
            "gap": outcome.gap,
            "kill": dataclasses.asdict(outcome.kill) if outcome.kill else None,
            "seconds": round(outcome.seconds, 3),
            "runs": outcome.runs,
            "replayed": outcome.replayed,
            "skipped": outcome.skipped,
            "explore_reached": outcome.explore_reached,
            "errors": outcome.errors,
        }
        (stillborn if outcome.status == "stillborn" else entries).append(entry)
    return {
        **meta,
        "score": ratio,
        "killed": killed,
        "survived": survived,
        "equivalent": sum(1 for o in outcomes if o.status == "equivalent"),
        "not_applied": NOT_APPLIED,
        "mutants": entries,
        "stillborn": stillborn,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
