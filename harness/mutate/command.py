"""The `threadsync mutate` subcommand: its arguments, and the run from generation to score."""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.impl import DEFAULT_IMPL, load_pipeline
from harness.mutate import equivalent
from harness.scenario import ScenarioError, discover, load

if TYPE_CHECKING:
    from harness.mutate.generate import Generated, Mutant
    from harness.mutate.kill import Outcome

# pglast, Hypothesis and the explorer are imported only when `mutate` runs: every other
# command builds this subcommand's parser too, and must not pay for them.

EXIT_OK, EXIT_LOW_SCORE, EXIT_USAGE = 0, 1, 2
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "threadsync-mutate"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    server_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser(
        "mutate",
        help="mutation score: mutate the pipeline's SQL, kill each mutant by replay then explore",
        description="Generate mutants of the pipeline's SQL functions (PostgreSQL's parser, "
        "one edit of one function each), replay every saved scenario against each, explore "
        "the survivors for --budget seconds, and print the table and the score "
        "killed / (killed + survived). Exit 0, or 1 when the score is below --min-score.",
    )
    p.add_argument("--impl", default=DEFAULT_IMPL, help=f"pipeline to mutate ({DEFAULT_IMPL})")
    p.add_argument("--budget", type=float, default=60.0, help="explore seconds per survivor (60)")
    p.add_argument(
        "--max-runs",
        type=int,
        default=None,
        help="also end each survivor's exploration after this many runs (a budget that does not "
        "depend on the machine's load)",
    )
    p.add_argument("--seed", type=int, default=0, help="exploration seed (0)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, one server each (2)")
    p.add_argument("--only", nargs="+", metavar="ID", help="mutant ids, or function names")
    p.add_argument("--sample", type=int, help="a stable sample of this many mutants")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results here as JSON")
    p.add_argument(
        "--scenarios", nargs="+", type=Path, default=[Path("scenarios")], help="(scenarios/)"
    )
    p.add_argument(
        "--equivalent",
        type=Path,
        default=equivalent.DEFAULT_FILE,
        help="written equivalence reasons (harness/mutate/equivalent.toml)",
    )
    p.add_argument(
        "--gaps",
        type=Path,
        default=equivalent.GAPS_FILE,
        help="written notes on what would catch each survivor (harness/mutate/gaps.toml)",
    )
    p.add_argument(
        "--save",
        type=Path,
        default=Path("reports/mutate-found"),
        help="where scenarios found by exploration go (reports/mutate-found)",
    )
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="override migrations")
    p.add_argument(
        "--no-skip",
        action="store_true",
        help="replay every scenario against every mutant, even those whose reference run "
        "never enters the mutated function",
    )
    p.add_argument("--min-score", type=float, default=0.0, help="exit 1 below this (0..1)")
    server_options(p)


def select(mutants: list[Mutant], only: list[str] | None, sample: int | None) -> list[Mutant]:
    """The mutants `--only` names (ids, or `function` / `function:operator` prefixes), then
    a sample stable across runs (by a hash of the id). Raises ValueError for an unknown name."""
    chosen = mutants
    if only:
        for name in only:
            if not any(m.id == name or m.id.startswith(name + ":") for m in mutants):
                raise ValueError(f"--only {name!r} names no mutant; see threadsync mutate --list")
        chosen = [m for m in mutants if any(m.id == n or m.id.startswith(n + ":") for n in only)]
    if sample is not None:
        keep = sorted(chosen, key=lambda m: hashlib.sha1(m.id.encode()).hexdigest())[:sample]
        chosen = [m for m in chosen if m in keep]
    return chosen


def split_equivalent(
    mutants: list[Mutant], equivalences: dict[str, equivalent.Equivalence]
) -> tuple[dict[str, Outcome], list[Mutant], list[str]]:
    """Outcomes of the mutants written down as equivalent, the mutants left to run, and a line
    for each written reason that no longer matches its mutant's change (that mutant is run)."""
    from harness.mutate.kill import Outcome

    outcomes: dict[str, Outcome] = {}
    todo: list[Mutant] = []
    stale: list[str] = []
    for m in mutants:
        eq = equivalences.get(m.id)
        if eq is not None and eq.summary == m.summary:
            outcomes[m.id] = Outcome(m.id, "equivalent", reason=eq.reason)
            continue
        if eq is not None:
            stale.append(
                f"stale equivalence for {m.id}: written for {eq.summary!r}, now {m.summary!r}; "
                "running it"
            )
        todo.append(m)
    return outcomes, todo, stale


def run(args: argparse.Namespace, server_kind: str, say: Callable[[str], None]) -> int:
    from harness.mutate.generate import generate
    from harness.mutate.kill import Plan, WorkerFailed, kill_all
    from harness.mutate.report import progress_line, score, summary, to_json, write_json
    from harness.mutate.source import SourceError

    bad_budget = not math.isfinite(args.budget) or args.budget < 0
    bad_runs = args.max_runs is not None and args.max_runs < 1
    if bad_budget or bad_runs or args.workers < 1 or (args.sample is not None and args.sample < 1):
        print(
            "threadsync: --budget must be a finite number >= 0 (0: replay only), "
            "--workers, --sample and --max-runs >= 1",
            file=sys.stderr,
        )
        return EXIT_USAGE
    pipeline = load_pipeline(args.impl)
    try:
        generated = generate(pipeline)
        equivalences = equivalent.load(args.equivalent, pipeline.name)
        gaps = equivalent.load(args.gaps, pipeline.name, "gap")
        mutants = select(generated.mutants, args.only, args.sample)
    except (SourceError, equivalent.EquivalenceError, ValueError) as exc:
        print(f"threadsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _describe(generated, say)
    if args.list:
        for m in mutants:
            mark = " [equivalent]" if m.id in equivalences else ""
            say(f"{m.id}{mark}: {m.summary}")
        return EXIT_OK
    scenarios = _scenario_files(args.scenarios)
    outcomes, todo, stale = split_equivalent(mutants, equivalences)
    for line in stale:
        say(line)
    plan = Plan(
        impl=args.impl,
        scenarios=tuple(scenarios),
        budget_s=args.budget,
        cache=args.cache / pipeline.name,
        save=args.save,
        seed=args.seed,
        max_runs=args.max_runs,
        server_kind=server_kind,
        server_args=(("pg_bin", args.pg_bin), ("dsn", args.dsn)),
        skip=not args.no_skip,
    )
    say(
        f"mutate {args.impl}: {len(todo)} mutants to run ({len(outcomes)} equivalent), "
        f"{len(scenarios)} scenarios each, then explore {args.budget:g} s; "
        f"{args.workers} workers"
    )
    if plan.skip:
        say(
            "each worker first replays every scenario against the reference to learn which "
            "functions it enters; a mutant skips the scenarios that never enter its function"
        )
    t0 = time.monotonic()
    try:
        ran = kill_all(
            todo,
            plan,
            workers=args.workers,
            progress=lambda m, o, n: say(progress_line(m, o, n, len(todo))),
        )
    except WorkerFailed as exc:
        print(f"threadsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    outcomes.update((o.id, o) for o in ran)
    by_id = {m.id: m for m in mutants}
    for o in ran:
        note = gaps.get(o.id)
        if o.status == "survived" and note is not None and note.summary == by_id[o.id].summary:
            o.gap = note.reason
    ordered = [outcomes[m.id] for m in mutants]
    say("")
    say(summary(mutants, ordered))
    say(
        f"({time.monotonic() - t0:.0f} s, budget {args.budget:g} s per survivor, "
        f"{args.workers} workers)"
    )
    if args.json:
        meta = {
            "impl": args.impl,
            "pipeline": pipeline.name,
            "budget_s": args.budget,
            "max_runs": args.max_runs,
            "seed": args.seed,
            "scenarios": [str(p) for p in scenarios],
        }
        write_json(args.json, to_json(mutants, ordered, meta))
        say(f"wrote {args.json}")
    ratio = score(ordered)[2]
    return EXIT_LOW_SCORE if ratio is not None and ratio < args.min_score else EXIT_OK


def _describe(generated: Generated, say: Callable[[str], None]) -> None:
    say(
        f"generated {len(generated.mutants)} mutants ({generated.duplicates} duplicate and "
        f"{generated.unchanged} unchanged edits dropped)"
    )
    for problem in generated.problems:
        say(f"not mutated: {problem}")


def _scenario_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += discover(path)
        elif path.is_file():
            files.append(path)
        else:
            raise ScenarioError(f"{path}: no such scenario file or folder")
    for path in files:
        load(path)  # a bad file fails here, before any mutant runs
    return files
