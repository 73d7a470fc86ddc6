"""The `threadsync` command line: exit 0 when all holds, 1 when a property fails, 2 for set-up."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import junit
from harness.impl import DEFAULT_IMPL, ImplError, load_pipeline
from harness.postgres import EnvironmentProblem, TemplateDatabases, start_server
from harness.profiles import PROFILES, fault_plan
from harness.quickrun import quick_run
from harness.replay import Verdict, run_scenario, workbench
from harness.report import text_report, write_explore, write_history
from harness.scenario import Dataset, Scenario, ScenarioError, Schedule, discover, load
from harness.supabase import migrations

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2


def _server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("PostgreSQL server")
    group.add_argument(
        "--pg",
        choices=("embedded", "docker", "dsn"),
        default=None,
        help="which server to run against (default: dsn when --dsn/THREADSYNC_DSN is set, "
        "else embedded)",
    )
    group.add_argument("--dsn", help="an existing server (also THREADSYNC_DSN); implies --pg dsn")
    group.add_argument("--pg-bin", help="directory holding initdb and postgres (THREADSYNC_PG_BIN)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadsync",
        description="Run and verify the threadsync webhook pipeline against a real PostgreSQL.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="sync a generated dataset end to end and verify the result",
        description="Start a sync, deliver every queued webhook in order until none is left, "
        "run the sweeper, then verify: every source thread in `threads` exactly once with its "
        "content, every page and entry done, the job completed.",
    )
    run.add_argument("--threads", type=int, default=500, help="threads in the dataset (500)")
    run.add_argument("--page-size", type=int, default=50, help="threads per API page (50)")
    run.add_argument("--seed", type=int, default=0, help="dataset seed (0)")
    run.add_argument("--impl", default=DEFAULT_IMPL, help=f"pipeline to run ({DEFAULT_IMPL})")
    run.add_argument(
        "--faults",
        choices=sorted(PROFILES),
        default="none",
        help="fault profile: 'none' delivers every webhook once, in order; any other runs the "
        "deterministic chaos engine with that profile's faults drawn from --seed",
    )
    run.add_argument("--history", type=Path, help="write the run's history and timeline here")
    _server_options(run)

    replay = sub.add_parser(
        "replay",
        help="replay saved scenarios and compare each verdict with the one it expects",
        description="Replay scenario files (or every *.json under a folder). Exit 0 when every "
        "verdict is the expected one, 1 when one is not.",
    )
    replay.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    replay.add_argument("--impl", help="run every scenario against this pipeline instead")
    replay.add_argument(
        "--history", type=Path, help="write each run's history JSON and HTML report here"
    )
    replay.add_argument("--quiet", action="store_true", help="no report for unexpected verdicts")
    replay.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    _server_options(replay)

    explore = sub.add_parser(
        "explore",
        help="search fault plans and schedules for a violation; shrink, confirm and save it",
        description="Explore with Hypothesis until the budget runs out. Exit 0 when nothing was "
        "found, 1 when a violation was found (it is shrunk, replayed and saved).",
    )
    explore.add_argument("--impl", default=DEFAULT_IMPL, help=f"pipeline ({DEFAULT_IMPL})")
    explore.add_argument("--budget", type=float, default=120.0, help="seconds to search (120)")
    explore.add_argument("--seed", type=int, default=0, help="search seed (0)")
    explore.add_argument("--profile", choices=("ci", "dev", "deep"), default="dev")
    explore.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    explore.add_argument(
        "--save", type=Path, default=Path("scenarios/found"), help="where found scenarios go"
    )
    explore.add_argument(
        "--history",
        type=Path,
        help="write explore.html and each finding's history and HTML report here",
    )
    _server_options(explore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "explore":
            return _explore(args)
    except (EnvironmentProblem, ImplError, ScenarioError) as exc:
        print(f"threadsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("threadsync: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")


def _server_kind(args: argparse.Namespace) -> str:
    if args.pg:
        return str(args.pg)
    return "dsn" if (args.dsn or os.environ.get("THREADSYNC_DSN")) else "embedded"


def _say(message: str) -> None:
    print(message, flush=True)


def _run(args: argparse.Namespace) -> int:
    if args.threads < 0:
        print(f"threadsync: --threads must be >= 0, got {args.threads}", file=sys.stderr)
        return EXIT_USAGE
    if not 1 <= args.page_size <= 1000:
        print(f"threadsync: --page-size must be 1..1000, got {args.page_size}", file=sys.stderr)
        return EXIT_USAGE
    pipeline = load_pipeline(args.impl)
    if args.faults != "none":
        return _run_chaos(args)
    kind = _server_kind(args)
    t0 = time.perf_counter()
    with start_server(kind, pg_bin=args.pg_bin, dsn=args.dsn) as server:
        _say(f"{kind} PostgreSQL ready on port {server.port} ({_ms(t0)})")
        t1 = time.perf_counter()
        with TemplateDatabases(server, migrations(pipeline), name_hint=pipeline.name) as tpl:
            db = tpl.fresh("run")
            _say(f"migrated {pipeline.name!r} into a template and cloned {db} ({_ms(t1)})")
            t2 = time.perf_counter()
            result = quick_run(
                pipeline,
                server.dsn(db),
                threads=args.threads,
                page_size=args.page_size,
                seed=args.seed,
                progress=_say,
            )
    outcome = result.outcome
    assert outcome is not None
    replies = ", ".join(f"{n}×{status}" for status, n in sorted(result.replies.items()))
    _say(
        f"job {result.job_id}: {result.deliveries} webhooks delivered ({replies}), "
        f"{result.sweeps} sweeps, {_ms(t2)}"
    )
    if outcome.ok:
        job = outcome.job
        _say(
            f"OK: {job.get('threads_done')} threads synced exactly once from "
            f"{job.get('pages_done')} pages; every page and entry done; job completed"
        )
        return EXIT_OK
    for problem in outcome.problems:
        _say(f"FAIL: {problem}")
    return EXIT_VIOLATION


def _server_args(args: argparse.Namespace) -> dict[str, str | None]:
    return {"pg_bin": args.pg_bin, "dsn": args.dsn}


def _run_chaos(args: argparse.Namespace) -> int:
    faults = fault_plan(args.faults, seed=args.seed, threads=args.threads, page_size=args.page_size)
    scenario = Scenario(
        name=f"run-{args.faults}-{args.seed}",
        impl=args.impl,
        dataset=Dataset(seed=args.seed, threads=args.threads, page_size=args.page_size),
        faults=faults,
        schedule=Schedule(strategy="random", seed=args.seed),
    )
    _say(f"{len(faults.rules)} fault rules from profile {args.faults!r} (seed {args.seed})")
    with workbench(_server_kind(args), **_server_args(args)) as bench:
        verdict = run_scenario(bench, scenario)
    _say(text_report(verdict, transcript=bool(verdict.violations)))
    if args.history:
        for path in write_history(verdict, args.history):
            _say(f"wrote {path}")
    return EXIT_OK if not verdict.violations else EXIT_VIOLATION


def _scenario_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = discover(path)
            if not found:
                raise ScenarioError(f"{path}: no scenario files (*.json) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or folder")
    return files


def _replay(args: argparse.Namespace) -> int:
    # Every file is loaded and validated before anything runs: a bad file fails fast.
    scenarios = [(path, load(path)) for path in _scenario_files(args.paths)]
    unexpected: list[Verdict] = []
    cases: list[junit.Case] = []
    t0 = time.perf_counter()
    with workbench(_server_kind(args), **_server_args(args)) as bench:
        for n, (path, scenario) in enumerate(scenarios, 1):
            verdict = run_scenario(bench, scenario, impl=args.impl)
            mark = "ok " if verdict.as_expected else "BAD"
            _say(
                f"[{n}/{len(scenarios)}] {mark} {path}: {verdict.label} "
                f"(expected {scenario.expect.verdict}"
                + (f" {scenario.expect.check}" if scenario.expect.check else "")
                + f") {verdict.result.wall_s * 1000:.0f} ms"
            )
            if args.history:
                write_history(verdict, args.history)
            failure = None if verdict.as_expected else text_report(verdict)
            cases.append(junit.Case(str(path), verdict.result.wall_s, failure))
            if not verdict.as_expected:
                unexpected.append(verdict)
    if args.junit:
        junit.write(args.junit, "threadsync.replay", cases)
    for verdict in unexpected:
        if not args.quiet:
            _say("")
            _say(text_report(verdict))
    _say(
        f"{len(scenarios) - len(unexpected)} of {len(scenarios)} scenarios gave their expected "
        f"verdict ({_ms(t0)})"
    )
    return EXIT_OK if not unexpected else EXIT_VIOLATION


def _explore(args: argparse.Namespace) -> int:
    from harness.explore import explore, save_found

    load_pipeline(args.impl)
    with workbench(_server_kind(args), **_server_args(args)) as bench:
        result = explore(
            bench,
            args.impl,
            budget_s=args.budget,
            seed=args.seed,
            profile=args.profile,
            progress=_say,
        )
    _say(
        f"explored {result.runs} scenarios in {result.wall_s:.1f} s "
        f"({result.runs / max(result.wall_s, 1e-9):.1f}/s)"
    )
    for flaky in result.flaky:
        _say(f"FLAKY: {flaky}")
    for error in result.errors:
        _say(f"engine error (run not judged): {error}")
    if args.junit:
        failure = "\n\n".join(text_report(f.verdict) for f in result.found) or None
        if result.flaky:
            failure = (failure or "") + "\n".join(f"FLAKY: {f}" for f in result.flaky)
        junit.write(
            args.junit,
            "threadsync.explore",
            [junit.Case(f"explore {args.impl}", result.wall_s, failure)],
        )
    saved = save_found(result, args.save) if result.found else []
    if args.history:
        page = write_explore(result, args.history, [p.stem for p in saved])[-1]
        _say(f"wrote {page}")
    if not result.found:
        _say(f"no violation found in {args.impl}")
        return EXIT_VIOLATION if result.flaky else EXIT_OK
    for path, found in zip(saved, result.found, strict=True):
        _say("")
        _say(text_report(found.verdict))
        _say(f"saved {path}; replay it with: threadsync replay {path}")
    return EXIT_VIOLATION


def _ms(since: float) -> str:
    return f"{(time.perf_counter() - since) * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
