"""The `threadsync` command line: exit 0 when all holds, 1 when a property fails, 2 for set-up."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Hypothesis runs every installed plugin when imported: here trio's, which imports pytest (0.3 s
# of CPU of `explore`'s start, measured). The harness draws from its own strategies and needs
# none; set HYPOTHESIS_NO_PLUGINS to an empty value to load them anyway.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")

# What every command needs. What only some need (the HTML reports, the in-order runner, JUnit,
# free mode, the package metadata behind --version) is imported where it is used: a command pays
# for its own imports only (see docs/cost.md).
from harness import cli_checks, coverage
from harness.cli_checks import UsageError
from harness.impl import DEFAULT_IMPL, ImplError, load_pipeline
from harness.mutate import command as mutate_command
from harness.postgres import EnvironmentProblem, TemplateDatabases, start_server
from harness.postgres.lifecycle import Terminated, install_signal_handlers
from harness.profiles import PROFILES, fault_plan
from harness.replay import run_scenario, workbench
from harness.report import text_report
from harness.scenario import Dataset, Expect, Scenario, ScenarioError, Schedule, discover, load
from harness.scenario_check import MAX_RUN_THREADS, MAX_SCENARIO_THREADS
from harness.supabase import migrations

if TYPE_CHECKING:
    from harness import junit
    from harness.replay import Verdict

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2
MAX_WORKERS = 64


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
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="sync a generated dataset end to end and verify the result",
        description="Start a sync, deliver every queued webhook in order until none is left, "
        "run the sweeper, then verify: every source thread in `threads` exactly once with its "
        "content, every page and entry done, the job completed.",
    )
    run.add_argument(
        "--threads",
        type=int,
        default=500,
        help=f"threads in the dataset (500); at most {MAX_RUN_THREADS:,}, or "
        f"{MAX_SCENARIO_THREADS:,} with --faults",
    )
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
    run.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run with real concurrency on N threads (free mode: not replayable), with the "
        "same checks; 0 (default) runs in order, or deterministically with --faults",
    )
    run.add_argument(
        "--history",
        type=Path,
        help="write the run's history here: with --faults the engine's history and timeline, "
        "without it every delivery and sweep in order",
    )
    _functions_option(run)
    _server_options(run)

    replay = sub.add_parser(
        "replay",
        help="replay saved scenarios and compare each verdict with the one it expects",
        description="Replay scenario files (or every *.json under a folder). Exit 0 when every "
        "verdict is the expected one, 1 when one is not. With --impl naming another pipeline "
        "than a scenario's own, that pipeline is judged instead: every check must hold. A "
        "scenario the chosen server cannot run is reported as skipped, with the reason.",
    )
    replay.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    replay.add_argument(
        "--impl",
        help="judge this pipeline on every scenario (every check must hold) instead of "
        "comparing each scenario's own pipeline with its expected verdict",
    )
    replay.add_argument(
        "--history", type=Path, help="write each run's history JSON and HTML report here"
    )
    replay.add_argument("--quiet", action="store_true", help="no report for unexpected verdicts")
    replay.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    _functions_option(replay)
    _server_options(replay)

    explore = sub.add_parser(
        "explore",
        help="search fault plans and schedules for a violation; shrink, confirm and save it",
        description="Explore with Hypothesis until the budget runs out. Exit 0 when nothing was "
        "found, 1 when a violation was found (it is shrunk, replayed and saved).",
    )
    explore.add_argument("--impl", default=DEFAULT_IMPL, help=f"pipeline ({DEFAULT_IMPL})")
    explore.add_argument(
        "--budget", type=float, default=120.0, help="seconds to search, finite and > 0 (120)"
    )
    explore.add_argument("--seed", type=int, default=0, help="search seed (0)")
    explore.add_argument("--profile", choices=("ci", "dev", "deep"), default="dev")
    explore.add_argument(
        "--faults",
        choices=("supabase", "all"),
        default="supabase",
        help="fault set: 'supabase' (default) is what pg_net and the Edge runtime can do; 'all' "
        "also delivers webhooks early, before their transaction commits (a synchronous trigger)",
    )
    explore.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    explore.add_argument(
        "--workers", type=int, default=0, help="search processes, disjoint seeds (0: the cores)"
    )
    explore.add_argument("--shard", default="1/1", help="K/N: this CI job's share of the search")
    explore.add_argument(
        "--save", type=Path, default=Path("scenarios/found"), help="where found scenarios go"
    )
    explore.add_argument(
        "--history",
        type=Path,
        help="write explore.html and each finding's history and HTML report here",
    )
    _functions_option(explore)
    _server_options(explore)

    clean = sub.add_parser(
        "clean",
        help="remove what dead runs left behind: servers, scratch folders, DSN databases",
        description="Stop the embedded servers of runs whose process is gone and remove their "
        "scratch folders; with --dsn (or THREADSYNC_DSN) also drop the databases of dead runs on "
        "that server. Live runs are never touched. Prints what it removed.",
    )
    clean.add_argument("--dsn", help="also drop dead runs' databases here (THREADSYNC_DSN)")

    merge = sub.add_parser(
        "merge",
        help="combine sharded CI jobs' JUnit reports and saved scenarios",
        description="Merge the outputs of `explore --shard K/N` jobs (or of any threadsync "
        "commands): every JUnit report (*.xml) under PATHS into one (--junit), every scenario "
        "(*.json) into one folder (--save); the same scenario twice is kept once, a different "
        "one under a name already taken gets a suffix. Exit 0 when no merged report has a "
        "failure or error, 1 when one has, 2 when an input is unreadable or corrupt (then "
        "nothing is written).",
    )
    merge.add_argument("paths", nargs="+", type=Path, help="report files, scenario files, folders")
    merge.add_argument("--junit", type=Path, help="write the merged JUnit report here")
    merge.add_argument("--save", type=Path, help="copy every scenario into this folder")
    mutate_command.add_parser(sub, _server_options)
    return parser


def _functions_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--functions",
        type=Path,
        metavar="DIR",
        help="run a Supabase project's own migrations and TypeScript Edge Functions (the folder "
        "holding migrations/ and functions/, or its parent) under Deno instead of --impl",
    )


def _use_functions(args: argparse.Namespace) -> None:
    """`--functions DIR` is an impl like any other: `functions:<DIR>`, passed on as one."""
    folder = getattr(args, "functions", None)
    if folder is None:
        return
    if args.impl not in (None, DEFAULT_IMPL):
        raise UsageError("--functions and --impl name two pipelines; give one of them")
    from harness.functions.project import spec_for

    args.impl = spec_for(folder)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    install_signal_handlers()  # SIGTERM unwinds (and cleans up) like Ctrl-C
    try:
        _use_functions(args)
        if args.command == "clean":
            from harness.clean import clean

            return clean(args.dsn, _say)
        if args.command == "run":
            return _run(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "explore":
            return _explore(args)
        if args.command == "merge":
            return _merge(args)
        if args.command == "mutate":
            return mutate_command.run(args, _server_kind(args), _say)
    except (EnvironmentProblem, ImplError, ScenarioError, UsageError) as exc:
        print(f"threadsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            print("threadsync: terminated", file=sys.stderr)
            return 143
        print("threadsync: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")


def _version() -> str:
    from importlib import metadata  # tens of ms, for --version only

    try:
        return metadata.version("threadsync")
    except metadata.PackageNotFoundError:
        return "(not installed)"


class _Version(argparse.Action):
    """argparse's "version" action, with the version looked up only when it is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"threadsync {_version()}")  # on stdout, as argparse's own version action does
        parser.exit()


def _server_kind(args: argparse.Namespace) -> str:
    if args.pg:
        return str(args.pg)
    if args.dsn:
        return "dsn"
    # An explicit --pg-bin asks for the embedded server: it wins over THREADSYNC_DSN.
    return "dsn" if os.environ.get("THREADSYNC_DSN") and not args.pg_bin else "embedded"


def _say(message: str) -> None:
    print(message, flush=True)


def _run(args: argparse.Namespace) -> int:
    cli_checks.threads(args.threads, chaos=args.faults != "none")
    if not 1 <= args.page_size <= 1000:
        print(f"threadsync: --page-size must be 1..1000, got {args.page_size}", file=sys.stderr)
        return EXIT_USAGE
    if args.history:
        cli_checks.writable_dir(args.history, "--history")
    if not 0 <= args.workers <= MAX_WORKERS:
        print(
            f"threadsync: --workers must be 0..{MAX_WORKERS}, got {args.workers}", file=sys.stderr
        )
        return EXIT_USAGE
    pipeline = load_pipeline(args.impl)
    if args.workers:
        return _run_free(args)
    if args.faults != "none":
        return _run_chaos(args)
    from harness import quickrun

    kind = _server_kind(args)
    t0 = time.perf_counter()
    with start_server(kind, pg_bin=args.pg_bin, dsn=args.dsn) as server:
        _say(f"{kind} PostgreSQL ready on port {server.port} ({_ms(t0)})")
        t1 = time.perf_counter()
        with TemplateDatabases(server, migrations(pipeline), name_hint=pipeline.name) as tpl:
            db = tpl.fresh("run")
            _say(f"migrated {pipeline.name!r} into a template and cloned {db} ({_ms(t1)})")
            t2 = time.perf_counter()
            result = quickrun.quick_run(
                pipeline,
                server.dsn(db),
                threads=args.threads,
                page_size=args.page_size,
                seed=args.seed,
                progress=_say,
                record=args.history is not None,
            )
    if args.history:
        about = {k: getattr(args, k) for k in ("impl", "threads", "page_size", "seed")}
        name = f"run-none-{args.seed}"
        path = quickrun.write_history(result, args.history, name=name, about=about)
        _say(f"wrote {path}")
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
    reason = cli_checks.unsupported(scenario, _server_kind(args))
    if reason:
        raise UsageError(f"--faults {args.faults} cannot run here: {reason}")
    from harness.explore.progress import Ticker, heartbeat

    ticker = Ticker()
    beat = heartbeat(ticker, lambda s: f"run: {s:.0f} s, {len(faults.rules)} fault rules")
    with workbench(_server_kind(args), prepare=[args.impl], **_server_args(args)) as bench, beat:
        verdict = run_scenario(bench, scenario)
    _say(text_report(verdict, transcript=bool(verdict.violations)))
    _say(coverage.table_of_run(verdict.result.history, verdict.state))
    if args.history:
        from harness.report import write_history

        for path in write_history(verdict, args.history):
            _say(f"wrote {path}")
    return EXIT_OK if not verdict.violations else EXIT_VIOLATION


def _run_free(args: argparse.Namespace) -> int:
    from harness.engine.faults import FaultPlan
    from harness.engine.free import playable
    from harness.replay import run_scenario_free

    faults = FaultPlan()
    if args.faults != "none":
        drawn = fault_plan(
            args.faults, seed=args.seed, threads=args.threads, page_size=args.page_size
        )
        faults, left_out = playable(drawn)
        _say(
            f"{len(faults.rules)} fault rules from profile {args.faults!r} (seed {args.seed})"
            + (f"; left out {', '.join(left_out)} (free mode cannot play them)" if left_out else "")
        )
    scenario = Scenario(
        name=f"run-free-{args.faults}-{args.seed}",
        impl=args.impl,
        dataset=Dataset(seed=args.seed, threads=args.threads, page_size=args.page_size),
        faults=faults,
        schedule=Schedule(strategy="random", seed=args.seed),
    )
    with workbench(_server_kind(args), prepare=[args.impl], **_server_args(args)) as bench:
        verdict = run_scenario_free(bench, scenario, args.workers)
    wall = verdict.result.wall_s
    _say(
        f"{args.workers} workers: {args.threads} threads in {wall * 1000:.0f} ms "
        f"({args.threads / max(wall, 1e-9):.0f} items/s)"
    )
    _say(text_report(verdict, transcript=False))
    if args.history:
        from harness.report import write_history

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
    # Every file is loaded and validated, every output path and pipeline checked, before anything
    # runs: a bad input fails fast.
    scenarios = [(path, load(path)) for path in _scenario_files(args.paths)]
    if args.history:
        cli_checks.writable_dir(args.history, "--history")
    if args.junit:
        cli_checks.writable_file(args.junit, "--junit")
    impls = sorted({args.impl} if args.impl else {sc.impl for _, sc in scenarios})
    for impl in impls:
        load_pipeline(impl)
    from harness import junit

    kind = _server_kind(args)
    unexpected: list[Verdict] = []
    cases: list[junit.Case] = []
    skipped = judged = 0
    tally = coverage.Tally()
    t0 = time.perf_counter()
    with workbench(kind, prepare=impls, **_server_args(args)) as bench:
        for n, (path, scenario) in enumerate(scenarios, 1):
            where = f"[{n}/{len(scenarios)}]"
            reason = cli_checks.unsupported(scenario, kind)
            if reason:
                skipped += 1
                _say(f"{where} SKIP {path}: {reason}")
                cases.append(junit.Case(str(path), 0.0, skipped=reason))
                continue
            verdict = run_scenario(bench, scenario, impl=args.impl)
            own = args.impl is None or args.impl == scenario.impl
            if own:
                wanted = scenario.expect.verdict + (
                    f" {scenario.expect.check}" if scenario.expect.check else ""
                )
                how = f"expected {wanted}"
            else:
                # Another pipeline than the scenario's own: judge it. Every check must hold.
                judged += 1
                verdict = replace(verdict, scenario=verdict.scenario.with_expect(Expect("pass")))
                how = f"judged {args.impl}: every check must hold"
            mark = "ok " if verdict.as_expected else "BAD"
            _say(
                f"{where} {mark} {path}: {verdict.label} ({how}) "
                f"{verdict.result.wall_s * 1000:.0f} ms"
            )
            if args.history:
                from harness.report import write_history

                write_history(verdict, args.history)
            tally.add(coverage.reached(verdict.result.history, verdict.state))
            failure = None if verdict.as_expected else text_report(verdict)
            cases.append(junit.Case(str(path), verdict.result.wall_s, failure))
            if not verdict.as_expected:
                unexpected.append(verdict)
    if args.junit:
        junit.write(
            args.junit, "threadsync.replay", cases, coverage.properties(tally.counts, tally.runs)
        )
    for verdict in unexpected:
        if not args.quiet:
            _say("")
            _say(text_report(verdict))
    _say(coverage.table(tally.counts, tally.runs))
    ran = len(scenarios) - skipped
    parts = [f"{ran - len(unexpected)} of {ran} scenarios run were ok"]
    if judged:
        parts.append(f"{judged} judged {args.impl} (every check must hold)")
    if ran - judged:
        parts.append(f"{ran - judged} compared with their expected verdict")
    parts.append(f"{skipped} skipped")
    _say("; ".join(parts) + f" ({_ms(t0)})")
    return EXIT_OK if not unexpected else EXIT_VIOLATION


def _explore(args: argparse.Namespace) -> int:
    from harness import junit
    from harness.explore import save_found, summary
    from harness.explore.parallel import UsageError, explore_command
    from harness.explore.progress import Ticker

    cli_checks.budget(args.budget)
    if args.junit:
        cli_checks.writable_file(args.junit, "--junit")
    cli_checks.writable_dir(args.save, "--save")
    if args.history:
        cli_checks.writable_dir(args.history, "--history")
    load_pipeline(args.impl)
    ticker = Ticker()
    try:
        result = explore_command(
            args.impl,
            budget_s=args.budget,
            seed=args.seed,
            profile=args.profile,
            workers=args.workers,
            shard=args.shard,
            faults=args.faults,
            server_kind=_server_kind(args),
            server_args=_server_args(args),
            progress=ticker.say,
            status=ticker.status,
        )
    except UsageError as exc:
        print(f"threadsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ticker.close()
    _say(summary(result))
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
            coverage.properties(result.coverage, result.coverage_runs, result.impossible),
        )
    saved = save_found(result, args.save) if result.found else []
    if args.history:
        from harness.report import write_explore

        page = write_explore(result, args.history, [p.stem for p in saved])[-1]
        _say(f"wrote {page}")
    if not result.found:
        return EXIT_VIOLATION if result.flaky else EXIT_OK
    for path, found in zip(saved, result.found, strict=True):
        _say("")
        _say(text_report(found.verdict))
        _say(f"saved {path}; replay it with: threadsync replay {path}")
    return EXIT_VIOLATION


def _merge(args: argparse.Namespace) -> int:
    from harness import merge

    if args.junit is None and args.save is None:
        raise UsageError("merge needs --junit OUT.xml, --save DIR, or both: where to merge to")
    if args.junit:
        cli_checks.writable_file(args.junit, "--junit")
    if args.save:
        cli_checks.writable_dir(args.save, "--save")
    try:
        found = merge.collect(args.paths)
        if args.junit and not found.reports:
            raise merge.MergeError("no JUnit reports (*.xml) under the paths given to merge")
        if found.scenarios and not args.save:
            raise merge.MergeError(
                f"{len(found.scenarios)} scenario files (*.json) found but no --save DIR to "
                "copy them into; give --save DIR"
            )
        if found.reports and not args.junit:
            raise merge.MergeError(
                f"{len(found.reports)} JUnit reports (*.xml) found but no --junit OUT.xml to "
                "merge them into; give --junit OUT.xml"
            )
        # Read and check everything before writing anything.
        suites, totals = merge.read_reports(found.reports)
        placed = merge.plan_scenarios(found.scenarios, args.save) if args.save else []
    except merge.MergeError as exc:
        raise UsageError(str(exc)) from None
    if args.junit:
        merge.write_report(args.junit, suites, totals)
        _say(
            f"merged {totals.reports} JUnit reports ({totals.suites} suites, {totals.tests} "
            f"tests, {totals.failures} failures, {totals.errors} errors, {totals.skipped} "
            f"skipped) into {args.junit}"
        )
    if args.save:
        merge.copy_scenarios(placed)
        for p in placed:
            how = {"copied": "copied", "renamed": "copied, name taken:", "duplicate": "same as"}
            _say(f"  {p.source}: {how[p.action]} {p.target}")
        copies = sum(1 for p in placed if p.action != "duplicate")
        _say(
            f"{copies} scenarios copied into {args.save}, "
            f"{len(placed) - copies} left out as duplicates"
        )
    if found.ignored:
        _say(f"ignored {len(found.ignored)} files that are neither *.xml nor *.json")
    return EXIT_VIOLATION if totals.failed else EXIT_OK


def _ms(since: float) -> str:
    return f"{(time.perf_counter() - since) * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
