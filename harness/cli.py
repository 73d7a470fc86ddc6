"""The `threadsync` command line: exit 0 when all holds, 1 when a property fails, 2 for set-up."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from harness.impl import DEFAULT_IMPL, ImplError, load_pipeline
from harness.postgres import EnvironmentProblem, TemplateDatabases, start_server
from harness.quickrun import quick_run
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
    _server_options(run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
    except (EnvironmentProblem, ImplError) as exc:
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


def _ms(since: float) -> str:
    return f"{(time.perf_counter() - since) * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
