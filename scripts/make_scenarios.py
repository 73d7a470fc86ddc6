"""Regenerate the saved scenarios under `scenarios/` from the recipes below.

    .venv/bin/python scripts/make_scenarios.py [--max-seeds N] [--only NAME ...]

`scenarios/mutants/<mutant>.json`: for each mutant, schedule seeds 0, 1, ... are tried until the
mutant's run violates the recipe's check; the run is saved with the exact scheduler choices it made
(`Verdict.recorded()`) and `expect = fail/<check>`, after checking that replaying the recorded
scenario gives the same verdict and that the reference pipeline passes the same scenario.

`scenarios/reference/<name>.json`: one scenario per kind of fault, run against the reference and
expected to pass; saved with its exact choices after a replay gives the same verdict.

This script is the generator: it overwrites its own output files (and only those). It prints one
line per file and exits non-zero if a recipe cannot be reproduced or the reference fails anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness.engine.faults import (  # noqa: E402
    SWEEPER,
    ApiFaults,
    CallerTimeout,
    Crash,
    Delay,
    Drop,
    Duplicate,
    Early,
    FaultPlan,
    KillConnection,
    Pause,
    RestartServer,
    SlowSteps,
    Stall,
)
from harness.history import History  # noqa: E402
from harness.mutants import MUTANTS  # noqa: E402
from harness.replay import Verdict, Workbench, run_scenario, workbench  # noqa: E402
from harness.scenario import Dataset, Expect, Scenario, Schedule  # noqa: E402

REFERENCE = "threadsync.reference:pipeline"
P = "sync-threads-page-worker"
T = "sync-threads-processor"
OUT = ROOT / "scenarios"
MUTANT_DATASET = Dataset(seed=1, threads=8, page_size=4)
REFERENCE_DATASET = Dataset(seed=1, threads=8, page_size=4)


def plan(*rules: object) -> FaultPlan:
    return FaultPlan(tuple(rules))  # type: ignore[arg-type]


# --- mutant recipes --------------------------------------------------------------------------


@dataclass(frozen=True)
class MutantRecipe:
    check: str  # the one check the saved scenario expects to fail
    faults: FaultPlan
    bug: str  # what the mutant gets wrong
    how: str  # what the faults do to show it
    settings: Mapping[str, float] = field(default_factory=dict)


MUTANT_RECIPES: dict[str, MutantRecipe] = {
    "nonatomic_claim": MutantRecipe(
        "page-exactly-once",
        plan(
            Duplicate(function=P, occurrence=0),
            Stall(function=P, occurrence=0, at_step=1, seconds=5.0),
        ),
        "The page claim reads then writes (no status guard, no token fence on completion).",
        "The first page webhook is delivered twice and the original delivery stalls 5 s after "
        "its first step, so the duplicate claims the same page too and both process it.",
    ),
    "polling_worker": MutantRecipe(
        "page-exactly-once",
        plan(
            Duplicate(function=P, occurrence=0),
            Stall(function=P, occurrence=0, at_step=1, seconds=5.0),
        ),
        "The page worker ignores the id its webhook names and polls for the oldest pending page "
        "with a non-atomic claim.",
        "The first page webhook is delivered twice and the original delivery stalls 5 s after "
        "its first step, so both deliveries poll the same page and both process it.",
    ),
    "fallback_polling_processor": MutantRecipe(
        "thread-exactly-once",
        plan(
            Duplicate(function=T, occurrence=1),
            Stall(function=T, occurrence=1, at_step=2, seconds=5.0),
        ),
        "A processor whose entry is not claimable falls back to polling for the oldest "
        "unprocessed entry (any state, claimed by id alone).",
        "The second processor webhook is delivered twice and the original stalls 5 s before "
        "step 2; the duplicate finds its entry taken, falls back to an entry another worker "
        "holds, and that thread is processed twice.",
    ),
    "webhook_filter": MutantRecipe(
        "no-stuck-work",
        plan(Drop(function=P, occurrence=0)),
        "The pipeline trusts every Database Webhook to arrive: the sweeper never re-sends one.",
        "The first page webhook is dropped, so the first page stays pending forever (and its "
        "threads never sync).",
    ),
    "no_recovery": MutantRecipe(
        "no-stuck-work",
        plan(Crash(function=P, occurrence=0, at_step=1)),
        "No rescue job at all: the sweeper does nothing.",
        "The first page worker crashes right after its claim (before step 1), so the page "
        "stays processing forever.",
    ),
    "processed_at_first": MutantRecipe(
        "no-lost-work",
        plan(Crash(function=T, occurrence=0, at_step=1)),
        "The processor's claim marks the entry processed before the work, which writes the "
        "thread in a later statement.",
        "The first processor crashes right after its claim, so its entry looks done while its "
        "thread never reaches `threads`.",
    ),
    "no_fencing": MutantRecipe(
        "thread-exactly-once",
        plan(Stall(function=T, occurrence=0, at_step=1, seconds=600.0)),
        "Completions are found by id alone (no lease token, no status check).",
        "The first processor stalls 600 s after its claim, past its 60 s lease; the sweeper "
        "re-sends the entry, a second worker processes it, then the stalled worker commits too.",
    ),
    "job_completion_race": MutantRecipe(
        "job-completes-once",
        FaultPlan(),
        "Job completion counts what is left and then marks the job finished in separate "
        "statements with no status guard.",
        "No fault: two finishers that both count zero open work finish the job twice on the "
        "racy interleaving this schedule makes.",
    ),
    "stage_outside_transaction": MutantRecipe(
        "thread-exactly-once",
        plan(Crash(function=P, occurrence=0, at_step=3)),
        "The page worker stages a page's threads in one transaction and completes the page in a "
        "later one, with non-idempotent staging.",
        "The first page worker crashes before step 3, between staging and completion; the page "
        "is re-fetched after its lease and its threads are staged and processed twice.",
    ),
    "eager_dead_letter": MutantRecipe(
        "no-dead-letter-without-cause",
        plan(ApiFaults(calls=((1, "rate_limit", 30.0),))),
        "The page worker dead-letters a page on its first failed fetch instead of retrying with "
        "backoff until max_attempts.",
        "The second API call (the first fetch of page 2) is rate limited once (429, Retry-After "
        "30 s); the page is dead-lettered without cause and the rest of the job is lost.",
    ),
    "queue_after_complete": MutantRecipe(
        "job-finishes-last",
        FaultPlan(),
        "The page worker completes its page (staging its threads) in one RPC and queues the "
        "staged threads for processing in a second RPC, so the job's open-work counter misses "
        "them when the page completes.",
        "No fault: the last page completes while no earlier entry is open, which finishes the "
        "job before that page's threads are queued; they are processed after the job finished.",
    ),
    "completed_despite_dead_letters": MutantRecipe(
        "job-status",
        plan(
            ApiFaults(
                calls=((1, "server_error", 0.0), (2, "rate_limit", 10.0), (3, "timeout", 0.0))
            )
        ),
        "The job is finished at the right moment but always as completed, even when something "
        "was dead-lettered.",
        "With max_attempts 3, every fetch of page 2 fails (500, 429, timeout): the page is "
        "dead-lettered with an injected cause, yet the job ends completed.",
        settings={"max_attempts": 3},
    ),
    "fixed_batch_fetch": MutantRecipe(
        "pages-match-source",
        FaultPlan(),
        "The page worker ignores the job's page size and fetches 100 threads per call.",
        "No fault: the 8 source threads come back in one page row where the source has two "
        "pages of 4; every thread is still synced exactly once.",
    ),
    "public_rls_off": MutantRecipe(
        "no-public-access",
        plan(),
        "RLS is off and nothing is revoked in public: anon and authenticated can read, write and "
        "call everything.",
        "No fault is needed: the probe run at the end of every scenario, as anon and as "
        "authenticated, gets through.",
    ),
    "rescue_by_id": MutantRecipe(
        "thread-exactly-once",
        plan(SlowSteps(times=2, seconds=120.0)),
        "The sweeper reads the expired leases, then re-queues each by id alone in a later "
        "statement.",
        "No crash or stall: the clock runs on past a processor's lease while it works; the "
        "sweep reads the expired entry, the processor completes it, and the sweep's write sets "
        "it back to pending, so the re-sent webhook processes the thread again.",
    ),
    "unlocked_complete_page": MutantRecipe(
        "page-exactly-once",
        plan(
            Pause(
                function=P,
                occurrence=0,
                at_step=2,
                at_point=1,
                seconds=180.0,
                resume_after_steps=6,
            )
        ),
        "complete_page checks its claim token on a row it read without FOR UPDATE "
        "(`threadsync mutate`'s complete_page:drop-for-update:1).",
        "The first page worker's complete_page pauses at the start of its first write (pause "
        "point 1), after the token check, for 180 s: its lease runs out, the sweeper re-sends "
        "the page, a second worker claims and completes it (6 steps: the sweep's invoke and "
        "statement, the worker's invoke, claim, fetch and completion), and then the paused "
        "completion goes on and completes the page again. With FOR UPDATE the paused worker "
        "holds the page's row, the sweeper skips it, and nothing is re-sent.",
    ),
    "retry_keeps_processing": MutantRecipe(
        "no-unexpected-errors",
        plan(ApiFaults(calls=((0, "rate_limit", 30.0), (1, "rate_limit", 5.0)))),
        "fail_page's retry leaves the page processing (`threadsync mutate`'s "
        "fail_page:drop-set-column:8), which breaks the row's CHECK: fail_page raises.",
        "The first two page fetches are rate limited; recording each retry fails and the page "
        "worker raises instead of replying 503 retry. The sweeper retries the page when its "
        "lease runs out, so every thread is still synced once.",
    ),
    "done_keeps_error": MutantRecipe(
        "finished-rows-consistent",
        plan(
            ApiFaults(
                calls=((0, "server_error", 0.0), (2, "rate_limit", 20.0), (3, "timeout", 0.0)),
                function="fetch_thread",
            )
        ),
        "complete_thread keeps the entry's last error (`threadsync mutate`'s "
        "complete_thread:drop-set-column:14).",
        "Three processors' reads of their thread fail once; the retries succeed, and each of "
        "those entries ends done still carrying the failed attempt's error. Every thread is "
        "synced once.",
    ),
    "inverted_fence": MutantRecipe(
        "attempts-by-holder",
        plan(ApiFaults(calls=((0, "server_error", 0.0),))),
        "fail_page's token fence is inverted (`threadsync mutate`'s fail_page:flip-comparison:3): "
        "it refuses the holder's failures and would record a stale worker's.",
        "The first page fetch fails with 500; the worker holding the page calls fail_page well "
        "within its lease and is refused (lease lost). The page waits for its lease to run out, "
        "the sweeper retries it, and every thread is still synced once.",
    ),
    "early_retry_claim": MutantRecipe(
        "retry-waits-for-its-time",
        plan(
            ApiFaults(calls=((0, "rate_limit", 30.0),)),
            Duplicate(function=P, occurrence=0, copies=2, extra_delays=(0.0, 5.0)),
        ),
        "claim_page ignores the page's retry time (`threadsync mutate`'s "
        "claim_page:drop-conjunct:3).",
        "The first page fetch is rate limited (429, Retry-After 30 s) and the page's webhook is "
        "delivered three times, the last copy 5 s late; a copy claims the page while it waits "
        "out its backoff, before its retry is due. Every thread is still synced once.",
    ),
    "retry_without_backoff": MutantRecipe(
        "failure-backs-off",
        plan(ApiFaults(calls=((0, "server_error", 0.0),))),
        "fail_page leaves the page's retry time where it was (`threadsync mutate`'s "
        "fail_page:drop-set-column:11).",
        "The first page fetch fails with 500; fail_page answers `retry scheduled` with a backoff, "
        "but the committed row is pending and due since before the failed attempt began, so any "
        "webhook would retry it at once. Every thread is still synced once.",
    ),
    "sweep_waits_for_worker": MutantRecipe(
        "sweep-skips-held-work",
        plan(
            Pause(
                function=P,
                occurrence=0,
                at_step=2,
                at_point=1,
                seconds=180.0,
                resume_after_steps=8,
            )
        ),
        "the sweep's rescue of expired page leases locks with FOR UPDATE instead of FOR UPDATE "
        "SKIP LOCKED (`threadsync mutate`'s sweep:drop-skip-locked:1).",
        "The first page worker's complete_page pauses at its first write for 180 s, holding the "
        "page's row; its lease runs out and the next sweep, instead of skipping the locked row, "
        "waits for the paused worker. When the worker goes on and completes the page, the sweep "
        "re-checks the row and leaves it alone: every thread is still synced once.",
    ),
    "double_counted_attempts": MutantRecipe(
        "attempts-count-claims",
        plan(ApiFaults(calls=((0, "server_error", 0.0),))),
        "fail_page adds one to the page's attempts when it schedules the retry, though the claim "
        "already counted the attempt.",
        "The first page fetch fails with 500; fail_page schedules the retry and counts the attempt "
        "a second time, so after one failure the page records 2 attempts for 1 claim. The retry "
        "succeeds and every thread is synced once.",
    ),
    "resend_storm": MutantRecipe(
        "resends-wait-for-grace",
        plan(Drop(function=P, occurrence=0), Drop(function=P, occurrence=1)),
        "the sweep's re-send of a waiting page leaves its emit_after where it was (`threadsync "
        "mutate`'s sweep:drop-set-column:19).",
        "With an emit grace of 150 s, the first page's webhook and its first re-send (at the "
        "180 s tick) are dropped. The reference sends it again at 360 s, a grace later; the "
        "mutant sends it again at the very next tick, 60 s later. Every thread is still synced "
        "once.",
        settings={"emit_grace_seconds": 150},
    ),
    "retry_forgets_error": MutantRecipe(
        "failure-records-its-error",
        plan(ApiFaults(calls=((0, "server_error", 0.0),))),
        "fail_page schedules the retry without writing the failure's error (`threadsync "
        "mutate`'s fail_page:drop-set-column:13).",
        "The first page fetch fails with 500; fail_page answers `retry scheduled` and puts the "
        "page back to pending with no last_error, so nothing says why the attempt failed. The "
        "retry succeeds and every thread is synced once.",
    ),
    "failure_keeps_claim": MutantRecipe(
        "failure-releases-claim",
        plan(ApiFaults(calls=((0, "server_error", 0.0),))),
        "fail_page answers `retry scheduled` without putting the page back (`threadsync "
        "mutate`'s fail_page:drop-statement:10).",
        "The first page fetch fails with 500; the failure is answered as recorded, but the page "
        "stays processing under the failed claim until its lease runs out and the sweeper "
        "re-queues it (`lease expired`), a lease later than the retry the reply gave. Every "
        "thread is still synced once.",
    ),
    "unguarded_claim": MutantRecipe(
        "page-exactly-once",
        plan(Duplicate(function=P, occurrence=0)),
        "The page claim has no status guard: a webhook re-claims a page that is processing or "
        "done, with a fresh token.",
        "The first page's webhook is delivered twice; the copy claims the page again and "
        "processes it a second time.",
    ),
}


# --- reference recipes -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceRecipe:
    faults: FaultPlan
    description: str
    settings: Mapping[str, float] = field(default_factory=dict)
    dataset: Dataset = REFERENCE_DATASET
    # What the description says happens, when the faults alone do not make it happen on every
    # schedule: seeds are tried until the history shows it.
    shows: Callable[[History], bool] | None = None


def _paused_before(paused_role: str, actor: str, sql: str) -> Callable[[History], bool]:
    """A `paused_role` actor paused, and `actor` then ran a statement containing `sql`, before
    the pause was resumed."""

    def shows(history: History) -> bool:
        paused = None
        for e in history.events:
            if e.kind == "paused" and e.role == paused_role:
                paused = e.actor
            elif e.kind == "resumed" and e.actor == paused:
                paused = None
            elif paused and e.actor == actor and sql in str(e.detail.get("sql", "")):
                return True
        return False

    return shows


def _paused_in(function: str) -> Callable[[History], bool]:
    """A statement calling `function` paused (a fault made the handler call it, on this
    schedule, at the step the Pause aims at)."""

    def shows(history: History) -> bool:
        return any(
            e.kind == "paused" and function in str(e.detail.get("sql")) for e in history.events
        )

    return shows


def _refused_not_due(function: str) -> Callable[[History], bool]:
    """Some call of `function` (a claim) was refused because its row's retry was not yet due."""

    def shows(history: History) -> bool:
        for e in history.events:
            rows = e.detail.get("rows") if e.kind == "statement" else None
            if function not in str(e.detail.get("sql", "")) or not isinstance(rows, list):
                continue
            if any(str(r.get("reason", "")).startswith("not due") for r in rows):
                return True
        return False

    return shows


REFERENCE_RECIPES: dict[str, ReferenceRecipe] = {
    "duplicate-processor-during-backoff": ReferenceRecipe(
        plan(
            ApiFaults(calls=((0, "rate_limit", 20.0),), function="fetch_thread"),
            Duplicate(function=T, occurrence=0, copies=2, extra_delays=(0.0, 5.0)),
        ),
        "The first processor's read of its thread is rate limited (429, Retry-After 20 s) and "
        "its webhook is delivered three times, the last copy 5 s late: a copy arrives while the "
        "entry waits out its backoff and its claim is refused (not due); the retry comes when due.",
        shows=_refused_not_due("claim_thread"),
    ),
    "drop-page-webhook": ReferenceRecipe(
        plan(Drop(function=P, occurrence=0)),
        "The first page webhook is never delivered; the sweeper re-sends it after the emit "
        "grace and the sync completes.",
    ),
    "drop-processor-webhooks": ReferenceRecipe(
        plan(Drop(function=T, occurrence=0), Drop(function=T, occurrence=3)),
        "Two processor webhooks are never delivered; the sweeper re-sends them.",
    ),
    "duplicate-page-webhook": ReferenceRecipe(
        plan(Duplicate(function=P, occurrence=0, copies=2, extra_delays=(0.0, 5.0))),
        "The first page webhook is delivered three times (at once and 5 s later); the atomic "
        "claim lets exactly one delivery process the page.",
    ),
    "duplicate-processor-webhooks": ReferenceRecipe(
        plan(Duplicate(function=T, copies=1)),
        "Every processor webhook is delivered twice; each thread is processed exactly once.",
    ),
    "delay-webhooks": ReferenceRecipe(
        plan(Delay(function=P, occurrence=1, seconds=90.0), Delay(function=T, seconds=45.0)),
        "The second page webhook arrives 90 s late and every processor webhook 45 s late; the "
        "sweeper may re-send, and the late deliveries find nothing left to do.",
    ),
    "early-webhooks": ReferenceRecipe(
        plan(Early()),
        "Every webhook also arrives while its inserting transaction is still open (a "
        "synchronous trigger); those early deliveries find no committed row and do nothing.",
    ),
    "crash-page-step-0": ReferenceRecipe(
        plan(Crash(function=P, occurrence=1, at_step=0)),
        "The second page worker dies before its claim (step 0); the page stays pending and the "
        "sweeper re-sends its webhook after the emit grace.",
    ),
    "crash-page-step-1": ReferenceRecipe(
        plan(Crash(function=P, occurrence=0, at_step=1)),
        "The first page worker dies right after its claim, before the fetch (step 1); the "
        "sweeper reclaims the page after its lease.",
    ),
    "crash-page-step-2": ReferenceRecipe(
        plan(Crash(function=P, occurrence=0, at_step=2)),
        "The first page worker dies after fetching its page, before the completing transaction "
        "(step 2); nothing is staged and the page is fetched again after its lease.",
    ),
    "crash-thread-step-0": ReferenceRecipe(
        plan(Crash(function=T, occurrence=2, at_step=0)),
        "The third processor dies before its claim (step 0); the entry stays pending and the "
        "sweeper re-sends its webhook after the emit grace.",
    ),
    "crash-thread-step-1": ReferenceRecipe(
        plan(
            Crash(function=T, occurrence=0, at_step=1), Crash(function=T, occurrence=5, at_step=1)
        ),
        "Two processors die right after their claims, before reading their thread from the API "
        "(step 1); the entries are reclaimed after their leases.",
    ),
    "caller-timeout": ReferenceRecipe(
        plan(
            CallerTimeout(function=P, occurrence=0, after_steps=1),
            CallerTimeout(function=T, occurrence=1, after_steps=1),
        ),
        "The caller gives up on a page worker and a processor mid-run (reply unknown); the "
        "handlers run on and finish their work exactly once.",
    ),
    "stall-page-past-lease": ReferenceRecipe(
        plan(Stall(function=P, occurrence=0, at_step=1, seconds=600.0)),
        "The first page worker stalls 600 s after its claim, past its 120 s lease; the page is "
        "reclaimed and the stalled worker's late completion is fenced off.",
    ),
    "stall-thread-past-lease": ReferenceRecipe(
        plan(Stall(function=T, occurrence=0, at_step=1, seconds=600.0)),
        "The first processor stalls 600 s after its claim, past its 60 s lease; the entry is "
        "reclaimed and the stalled worker's late write is fenced off.",
    ),
    "kill-connection": ReferenceRecipe(
        plan(
            KillConnection(function=P, occurrence=0, at_step=2),
            KillConnection(function=T, occurrence=1, at_step=1),
        ),
        "The backends of a page worker and a processor are terminated mid-run; their next "
        "statements fail and the work is retried.",
    ),
    "api-rate-limit": ReferenceRecipe(
        plan(ApiFaults(calls=((0, "rate_limit", 30.0), (1, "rate_limit", 5.0)))),
        "The first two API calls are rate limited (429 with Retry-After); the pages are retried "
        "after the server's delay.",
    ),
    "api-server-error": ReferenceRecipe(
        plan(ApiFaults(calls=((0, "server_error", 0.0), (2, "server_error", 0.0)))),
        "Two API calls fail with 500; the pages are retried with backoff.",
    ),
    "api-timeout": ReferenceRecipe(
        plan(ApiFaults(calls=((1, "timeout", 0.0),))),
        "An API call times out; the page is retried with backoff.",
    ),
    "api-exhausts-attempts": ReferenceRecipe(
        plan(
            ApiFaults(
                calls=((1, "server_error", 0.0), (2, "rate_limit", 10.0), (3, "timeout", 0.0))
            )
        ),
        "With max_attempts 3, every fetch of page 2 fails (500, 429, timeout): the page is "
        "dead-lettered with an injected cause, the job fails, and no check is violated.",
        settings={"max_attempts": 3},
    ),
    "resend-waits-for-grace": ReferenceRecipe(
        plan(Drop(function=T, occurrence=0), Drop(function=T, occurrence=1)),
        "With an emit grace of 150 s, the only thread entry's webhook and its first re-send are "
        "dropped: the sweeper re-sends it once the grace has passed (180 s) and again only a grace "
        "after that (360 s), when it is delivered and the sync completes.",
        settings={"emit_grace_seconds": 150},
        dataset=Dataset(seed=1, threads=1, page_size=4),
    ),
    "stall-exhausts-attempts": ReferenceRecipe(
        plan(
            Stall(function=P, occurrence=0, at_step=1, seconds=600.0),
            Stall(function=P, occurrence=1, at_step=1, seconds=600.0),
        ),
        "With max_attempts 2, the first page's worker and the worker of its re-sent webhook both "
        "stall past their 120 s lease: the sweeper re-queues the page after the first lease and "
        "dead-letters it after the second (an injected cause), the job fails, and the stalled "
        "workers' late completions are fenced off.",
        settings={"max_attempts": 2},
    ),
    "stall-thread-exhausts-attempts": ReferenceRecipe(
        plan(
            Stall(function=T, occurrence=0, at_step=1, seconds=600.0),
            Stall(function=T, occurrence=1, at_step=1, seconds=600.0),
        ),
        "With max_attempts 2, the only thread's processor and the processor of its re-sent "
        "webhook both stall past their 60 s lease: the sweeper re-queues the entry after the "
        "first lease and dead-letters it after the second (an injected cause), the job fails, "
        "and the stalled processors' late writes are fenced off.",
        settings={"max_attempts": 2},
        dataset=Dataset(seed=1, threads=1, page_size=4),
    ),
    "stale-fail-page-after-takeover": ReferenceRecipe(
        plan(
            Stall(function=P, occurrence=0, at_step=1, seconds=200.0),
            Stall(function=P, occurrence=1, at_step=1, seconds=60.0),
            ApiFaults(calls=((0, "server_error", 0.0),)),
        ),
        "The first page worker stalls 200 s after its claim, past its 120 s lease; the sweeper "
        "re-sends the page and a second worker claims it, then stalls 60 s before its fetch. "
        "The first wakes, its fetch fails, and its fail_page is refused (lease lost): only the "
        "holder records an attempt. The second completes the page.",
    ),
    "stale-fail-thread-after-takeover": ReferenceRecipe(
        plan(
            Stall(function=T, occurrence=0, at_step=1, seconds=130.0),
            Stall(function=T, occurrence=1, at_step=1, seconds=30.0),
            ApiFaults(calls=((0, "server_error", 0.0),), function="fetch_thread"),
        ),
        "The only thread's processor stalls 130 s after its claim, past its 60 s lease; the "
        "sweeper re-sends the entry at t=120 s and a second processor claims it, then stalls "
        "30 s before its read. The first wakes, its read fails, and its fail_thread is refused "
        "(lease lost): only the holder records an attempt. The second processes the thread.",
        dataset=Dataset(seed=1, threads=1, page_size=4),
    ),
    "api-thread-faults": ReferenceRecipe(
        plan(
            ApiFaults(
                calls=((0, "server_error", 0.0), (2, "rate_limit", 20.0), (3, "timeout", 0.0)),
                function="fetch_thread",
            )
        ),
        "Three processors' reads of their thread fail (500, 429 with Retry-After, timeout); "
        "fail_thread schedules the retries and every thread is processed once.",
    ),
    "api-thread-exhausts-attempts": ReferenceRecipe(
        plan(
            ApiFaults(
                calls=((0, "server_error", 0.0), (1, "rate_limit", 10.0), (2, "timeout", 0.0)),
                function="fetch_thread",
            )
        ),
        "With max_attempts 3 and one thread, every read of it fails (500, 429, timeout): the "
        "entry is dead-lettered with an injected cause and the job fails, as it should.",
        settings={"max_attempts": 3},
        dataset=Dataset(seed=1, threads=1, page_size=4),
    ),
    "slow-steps": ReferenceRecipe(
        plan(SlowSteps(times=2, seconds=120.0)),
        "Twice the clock runs on by at least 120 s while workers are mid-step, past every "
        "lease: sweeper ticks fall between their steps, rescue their items and re-send the "
        "webhooks; the fenced completions let each item commit once.",
    ),
    "server-restart": ReferenceRecipe(
        plan(RestartServer(after_delivery=3)),
        "PostgreSQL restarts (crash-like) once 3 deliveries have started; queued pg_net "
        "requests are lost and open transactions roll back; the sweeper recovers everything.",
    ),
    "server-restart-loses-webhooks": ReferenceRecipe(
        plan(RestartServer(queued=2)),
        "PostgreSQL restarts (crash-like) as soon as two webhooks wait in the pg_net queue; "
        "they are lost, and the sweeper re-sends them after the emit grace.",
    ),
    "mixed": ReferenceRecipe(
        plan(
            Duplicate(function=P, occurrence=0),
            Stall(function=P, occurrence=0, at_step=1, seconds=5.0),
            Drop(function=T, occurrence=1),
            Crash(function=T, occurrence=2, at_step=1),
            Stall(function=T, occurrence=3, at_step=1, seconds=600.0),
            ApiFaults(calls=((1, "rate_limit", 20.0),)),
            Delay(function=T, occurrence=5, seconds=30.0),
        ),
        "Many faults at once: a duplicated and stalled page webhook, a dropped processor "
        "webhook, a crashed processor, a processor stalled past its lease, a rate-limited fetch "
        "and a late processor webhook.",
        dataset=Dataset(seed=1, threads=12, page_size=4),
    ),
    "pause-page-past-lease": ReferenceRecipe(
        plan(
            Pause(
                function=P,
                occurrence=0,
                at_step=2,
                at_point=1,
                seconds=180.0,
                resume_after_steps=6,
            )
        ),
        "The first page worker's complete_page pauses inside the function, after reading its "
        "page FOR UPDATE, for 180 s (past its 120 s lease) while sweeper ticks run: they skip "
        "the locked row, so nothing is re-sent and the page completes once.",
    ),
    "pause-sweeper-mid-sweep": ReferenceRecipe(
        plan(
            Stall(function=P, occurrence=0, at_step=2, seconds=180.0),
            Pause(function=SWEEPER, occurrence=2, at_step=0, at_point=1, resume_after_steps=1),
        ),
        "The first page worker stalls past its lease; the third sweep pauses at the start of "
        "its first UPDATE (its snapshot still shows the page expired) while the stalled worker "
        "completes the page; the sweep's FOR UPDATE SKIP LOCKED then re-checks the row and "
        "leaves the done page alone.",
        shows=_paused_before("sweeper", "w1", "complete_page"),
    ),
    "pause-fail-page-past-lease": ReferenceRecipe(
        plan(
            ApiFaults(calls=((0, "server_error", 0.0),)),
            Pause(
                function=P,
                occurrence=0,
                at_step=2,
                at_point=1,
                seconds=180.0,
                resume_after_steps=6,
            ),
        ),
        "The first page's fetch fails and its worker's fail_page pauses at the start of its "
        "UPDATE, after reading the page FOR UPDATE, for 180 s (past the lease): the sweeper "
        "skips the locked row, then the retry is recorded and the page completes once.",
        shows=_paused_in("fail_page"),
    ),
    "pause-thread-past-lease": ReferenceRecipe(
        plan(
            Pause(
                function=T,
                occurrence=0,
                at_step=2,
                at_point=1,
                seconds=120.0,
                resume_after_steps=6,
            ),
            ApiFaults(calls=((7, "rate_limit", 200.0),), function="fetch_thread"),
        ),
        "The first processor's complete_thread pauses at the start of its write to `threads`, "
        "after reading its entry FOR UPDATE, for 120 s (past its 60 s lease), while a "
        "rate-limited thread keeps the job open: the sweeper skips the locked entry and the "
        "thread is processed once.",
        shows=_paused_in("complete_thread"),
    ),
    "pause-fail-thread-past-lease": ReferenceRecipe(
        plan(
            ApiFaults(
                calls=((0, "server_error", 0.0), (7, "rate_limit", 200.0)), function="fetch_thread"
            ),
            Pause(
                function=T,
                occurrence=0,
                at_step=2,
                at_point=1,
                seconds=120.0,
                resume_after_steps=6,
            ),
        ),
        "The first processor's read of its thread fails and its fail_thread pauses at the start "
        "of its UPDATE for 120 s (past its lease), while a rate-limited thread keeps the job "
        "open: the sweeper skips the locked entry, the retry is recorded, the thread is "
        "processed once.",
        shows=_paused_in("fail_thread"),
    ),
    "pause-sweeper-mid-thread-sweep": ReferenceRecipe(
        plan(
            Stall(function=T, occurrence=0, at_step=2, seconds=120.0),
            Pause(function=SWEEPER, occurrence=1, at_step=0, at_point=3, resume_after_steps=1),
        ),
        "The first processor stalls past its lease; the second sweep pauses at the start of "
        "its UPDATE of expired entries while the stalled processor completes; FOR UPDATE SKIP "
        "LOCKED re-checks the entry and the sweep leaves it done.",
        shows=_paused_before("sweeper", "p1", "complete_thread"),
    ),
    "pause-page-alone": ReferenceRecipe(
        plan(Pause(function=P, occurrence=0, at_step=2, at_point=1)),
        "The first page worker's complete_page pauses inside the function while no other actor "
        "can run; the engine lets it go on at once, so a pause never hangs a run.",
    ),
}


# --- generation ------------------------------------------------------------------------------


def write(scenario: Scenario, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(scenario.to_json(), encoding="utf-8")
    tmp.replace(path)


def unfired(faults: FaultPlan, history: History) -> list[str]:
    """The rules of `faults` that had no visible effect in `history` (a vacuous scenario)."""
    request: dict[int, tuple[str, int]] = {}  # request index -> (function, occurrence)
    normal: dict[str, int] = {}  # actor -> request index of its normal (copy 0) delivery
    for e in history.events:
        d = e.detail
        if e.kind == "delivery" and "request" in d:
            request[int(d["request"])] = (str(d["function"]), int(d["occurrence"]))
        elif e.kind == "invoke" and d.get("copy") == 0 and "request" in d:
            normal[e.actor] = int(d["request"])

    def matches(rule: Any, index: int | None) -> bool:
        if index is None or index not in request:
            return False
        return bool(rule.matches(index, *request[index]))

    def actor_fault(rule: Any, kind: str) -> bool:
        return any(
            e.kind == "fault"
            and e.detail.get("fault") == kind
            and matches(rule, normal.get(e.actor))
            for e in history.events
        )

    missing = []
    for rule in faults:
        if isinstance(rule, Drop):
            ok = any(
                e.kind == "delivery"
                and e.detail.get("outcome") == "dropped"
                and matches(rule, e.detail.get("request"))
                for e in history.events
            )
        elif isinstance(rule, Duplicate):
            ok = any(
                e.kind == "invoke"
                and isinstance(e.detail.get("copy"), int)
                and e.detail["copy"] >= 1
                and matches(rule, e.detail.get("request"))
                for e in history.events
            )
        elif isinstance(rule, Delay):
            ok = any(
                e.kind == "delivery"
                and e.detail.get("delay") == rule.seconds
                and matches(rule, e.detail.get("request"))
                for e in history.events
            )
        elif isinstance(rule, Early):
            ok = any(
                e.kind == "fault"
                and e.detail.get("fault") == "early"
                and matches(rule, e.detail.get("request"))
                for e in history.events
            )
        elif isinstance(rule, Crash):
            ok = actor_fault(rule, "crash")
        elif isinstance(rule, Stall):
            ok = actor_fault(rule, "stall")
        elif isinstance(rule, KillConnection):
            ok = actor_fault(rule, "kill_connection")
        elif isinstance(rule, CallerTimeout):
            ok = any(
                e.kind == "reply"
                and e.detail.get("error") == "caller timed out"
                and matches(rule, normal.get(e.actor))
                for e in history.events
            )
        elif isinstance(rule, ApiFaults):
            injected = sum(
                1
                for e in history.events
                if e.kind == "api"
                and str(e.detail.get("call", "")).startswith(f"{rule.function}(")
                and "injected fault" in str(e.detail.get("error", ""))
            )
            ok = injected >= len(rule.calls)
        elif isinstance(rule, SlowSteps):
            ok = any(
                e.kind == "fault" and e.detail.get("fault") == "clock_skip" for e in history.events
            )
        elif isinstance(rule, Pause):
            ok = any(
                e.kind == "paused"
                and (
                    e.role == "sweeper"
                    if rule.function == SWEEPER
                    else matches(rule, normal.get(e.actor))
                )
                for e in history.events
            )
        elif isinstance(rule, RestartServer):
            ok = any(
                e.kind == "fault" and e.detail.get("fault") == "restart_server"
                for e in history.events
            )
        else:
            ok = False
        if not ok:
            missing.append(repr(rule))
    return missing


def rendered(verdict: Verdict) -> str:
    return "\n".join(v.render() for v in verdict.violations) or "(no violations)"


def make_mutant(bench: Workbench, name: str, recipe: MutantRecipe, max_seeds: int) -> bool:
    base = Scenario(
        name=name,
        impl=MUTANTS[name],
        dataset=MUTANT_DATASET,
        faults=recipe.faults,
        settings=dict(recipe.settings),
        expect=Expect("fail", recipe.check),
        description=f"Bug: {recipe.bug} Faults: {recipe.how} Violates {recipe.check}.",
    )
    seen: list[str] = []
    for seed in range(max_seeds):
        verdict = run_scenario(bench, replace(base, schedule=Schedule(seed=seed)))
        if recipe.check not in verdict.violated:
            seen.append(f"{seed}:{verdict.label}")
            continue
        recorded = verdict.recorded()
        again = run_scenario(bench, recorded)
        if again.violated != verdict.violated:
            print(
                f"  {name}: seed {seed} replayed as '{again.label}', ran as '{verdict.label}'",
                file=sys.stderr,
            )
            seen.append(f"{seed}:unstable")
            continue
        ref = run_scenario(bench, recorded, impl=REFERENCE)
        if ref.violations:
            print(
                f"REFERENCE FAILURE on {name} seed {seed}: {ref.label}\n{rendered(ref)}",
                file=sys.stderr,
            )
            return False
        path = OUT / "mutants" / f"{name}.json"
        write(recorded, path)
        print(
            f"{path.relative_to(ROOT)}: {verdict.label} (expect fail/{recipe.check}; "
            f"seeds tried: {seed + 1}; reference: {ref.label})"
        )
        return True
    print(
        f"{name}: no seed in 0..{max_seeds - 1} violated {recipe.check} ({', '.join(seen)})",
        file=sys.stderr,
    )
    return False


def make_reference(
    bench: Workbench, name: str, recipe: ReferenceRecipe, first_seed: int, max_seeds: int
) -> bool:
    """Find a schedule seed on which every rule takes effect; the reference must pass it."""
    base = Scenario(
        name=name,
        impl=REFERENCE,
        dataset=recipe.dataset,
        faults=recipe.faults,
        settings=dict(recipe.settings),
        expect=Expect("pass"),
        description=recipe.description,
    )
    seen: list[str] = []
    for tried, seed in enumerate(range(first_seed, first_seed + max_seeds), start=1):
        verdict = run_scenario(bench, replace(base, schedule=Schedule(seed=seed)))
        if verdict.violations:
            print(
                f"REFERENCE FAILURE on reference/{name} seed {seed}: {verdict.label}\n"
                f"{rendered(verdict)}",
                file=sys.stderr,
            )
            return False
        missing = unfired(recipe.faults, verdict.result.history)
        if missing:
            seen.append(f"{seed}: {'; '.join(missing)}")
            continue
        if recipe.shows is not None and not recipe.shows(verdict.result.history):
            seen.append(f"{seed}: the history does not show what the description says")
            continue
        recorded = verdict.recorded()
        again = run_scenario(bench, recorded)
        if again.violated != verdict.violated or unfired(recipe.faults, again.result.history):
            print(f"  {name}: seed {seed} did not replay the same", file=sys.stderr)
            seen.append(f"{seed}:unstable")
            continue
        path = OUT / "reference" / f"{name}.json"
        write(recorded, path)
        print(f"{path.relative_to(ROOT)}: {verdict.label} (expect pass; seeds tried: {tried})")
        return True
    print(
        f"reference/{name}: some rule never took effect:\n  " + "\n  ".join(seen), file=sys.stderr
    )
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-seeds", type=int, default=40, help="schedule seeds to try per mutant"
    )
    parser.add_argument("--only", nargs="*", default=None, help="mutant or reference names")
    args = parser.parse_args(argv)
    wanted = set(args.only) if args.only else None
    ok = True
    start = time.perf_counter()
    with workbench() as bench:
        for name, mutant in MUTANT_RECIPES.items():
            if wanted is None or name in wanted:
                ok &= make_mutant(bench, name, mutant, args.max_seeds)
        for i, (name, ref) in enumerate(REFERENCE_RECIPES.items()):
            if wanted is None or name in wanted:
                ok &= make_reference(bench, name, ref, i, args.max_seeds)
    uncovered = sorted(set(MUTANTS) - set(MUTANT_RECIPES))
    if uncovered:
        print(f"note: mutants without a recipe: {', '.join(uncovered)}", file=sys.stderr)
    print(f"{'ok' if ok else 'FAILED'} in {time.perf_counter() - start:.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
