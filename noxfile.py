"""Sessions: `run` (a verified sync), `tests`, `lint`. Each installs what it needs itself.

Every session runs on the interpreter that runs nox (`python=None`), so `python3.12 -m nox` and
`python3.13 -m nox` work where no 3.11 is installed. Each interpreter gets its own virtualenvs
(`.nox/py3.12/...`), so two runs under two versions never share or clobber one. A session that
cannot find its interpreter fails rather than being skipped: a CI job that ran nothing is red.
"""

from __future__ import annotations

import os
import sys

import nox

OLDEST = (3, 11)
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHON = None  # the interpreter running nox

# TypeScript Edge Functions, each folder with the deno.json that the lint session checks it by.
FUNCTION_TREES = ("supabase/functions", "examples/incident/supabase/functions")

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.envdir = f".nox/py{VERSION}"


def _install(session: nox.Session) -> None:
    if sys.version_info < OLDEST:
        session.error(f"threadsync needs Python 3.11 or newer; nox runs on Python {VERSION}")
    session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def run(session: nox.Session) -> None:
    """Sync 500 generated threads through the reference pipeline on an embedded PostgreSQL."""
    _install(session)
    args = session.posargs or ["--threads", "500", "--page-size", "50"]
    session.run("threadsync", "run", *args)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite, against real PostgreSQL servers (one embedded server per xdist worker)."""
    _install(session)
    junit = f"--junitxml=reports/junit-tests-py{VERSION}.xml"
    session.run("pytest", "-n", "auto", junit, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check), mypy --strict, and Deno's format check, lint and type check
    on the Edge Functions (Deno comes with the project, from the `deno` wheel)."""
    _install(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    for tree in FUNCTION_TREES:
        for command in (("fmt", "--check"), ("lint",), ("check",)):
            deno = ("python", "-m", "harness.functions.deno", *command)
            session.run(*deno, "--config", f"{tree}/deno.json", tree)
    # The harness's own host for Edge Functions (no project config: it imports none).
    for command in (("fmt", "--check"), ("lint",), ("check",)):
        session.run("python", "-m", "harness.functions.deno", *command, "harness/functions/host.ts")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (prints medians and ratios): issue 11's table (frontrun's race beside the time
    to find nonatomic_claim), server start, template clone, a full run, cost vs queue size."""
    _install(session)
    # The peer row's tool, pinned to the version the issue measured; without it (no PyPI) the row
    # says it was not measured, and the rest of the bench runs.
    session.run(
        "python", "-m", "pip", "install", "--quiet", "frontrun[sql]==0.7.0", success_codes=[0, 1]
    )
    session.run("python", "benchmarks/bench_pipeline.py", *session.posargs)
    session.run("python", "benchmarks/bench_functions.py")


@nox.session(python=PYTHON)
def chaos(session: nox.Session) -> None:
    """Replay every saved scenario, the reference's on the TypeScript port too, then explore the
    reference for a budget (`-- --budget N`)."""
    _install(session)
    budget = os.environ.get("THREADSYNC_CHAOS_BUDGET", "120")
    args = list(session.posargs)
    if "--budget" in args:
        i = args.index("--budget")
        budget = args[i + 1]
        del args[i : i + 2]
    session.run("threadsync", "replay", "scenarios", "--junit", "reports/junit-replay.xml", *args)
    # The TypeScript port, judged on the reference's scenarios: every check must hold.
    session.run(
        "threadsync",
        "replay",
        "scenarios/reference",
        "--functions",
        "supabase",
        "--junit",
        "reports/junit-replay-functions.xml",
        *args,
    )
    session.run(
        "threadsync",
        "explore",
        "--budget",
        budget,
        "--profile",
        "ci",
        "--save",
        "reports/found",
        "--junit",
        "reports/junit-explore.xml",
        *args,
    )


@nox.session(python=PYTHON)
def mutation(session: nox.Session) -> None:
    """Explore every mutant from scratch with 10 seeds (60 s budget each); print the table."""
    _install(session)
    session.run("python", "benchmarks/mutation.py", *session.posargs)


@nox.session(python=PYTHON)
def incident(session: nox.Session) -> None:
    """Explore each of the incident's bugs (examples/incident/bugs, each a patch on supabase/)
    and the incident's whole project from scratch, 10 seeds of 60 s each; print the table."""
    _install(session)
    session.run("python", "benchmarks/incident.py", *session.posargs)


@nox.session(python=PYTHON)
def mutate(session: nox.Session) -> None:
    """`threadsync mutate` on the reference: generated SQL mutants, killed by replay then explore
    (`-- --budget S --workers N --sample N` to change the defaults); prints the table and score."""
    _install(session)
    args = session.posargs or ["--budget", "60", "--workers", "2"]
    session.run("threadsync", "mutate", "--json", "reports/mutate.json", *args)
