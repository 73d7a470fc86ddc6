"""The contract checks no-unexpected-errors, finished-rows-consistent and attempts-by-holder: each
fails its generated mutant on the mutant's saved scenario, deterministically, while the reference
passes the same scenario; and each judges hand-made histories and rows as the contract says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checks import CHECKS, CheckInput, run_checks
from harness.checks_errors import unexpected_ending, unexpected_errors
from harness.checks_holder import stale_records
from harness.checks_rows import row_problems
from harness.fakeapi import generate_dataset
from harness.history import Event, History
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import load
from harness.state import FinalState

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "threadsync.reference:pipeline"
PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"

# Each new check, the generated mutant that only it catches, and that mutant's saved scenario.
TEETH = [
    ("no-unexpected-errors", "retry_keeps_processing"),
    ("finished-rows-consistent", "done_keeps_error"),
    ("attempts-by-holder", "inverted_fence"),
    ("webhook-on-create", "no_database_webhook"),
    ("resends-only-due-work", "resend_finished"),
    ("retry-waits-for-its-time", "early_retry_claim"),
    ("failure-backs-off", "retry_without_backoff"),
    ("failure-releases-claim", "failure_keeps_claim"),
    ("sweep-skips-held-work", "sweep_waits_for_worker"),
    ("attempts-count-claims", "double_counted_attempts"),
    ("failure-records-its-error", "retry_forgets_error"),
    ("resends-wait-for-grace", "resend_storm"),
]


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


@pytest.mark.parametrize(("check", "mutant"), TEETH)
def test_the_check_fails_its_mutant_replayably_and_the_reference_passes(
    bench: Workbench, check: str, mutant: str
) -> None:
    scenario = load(ROOT / "scenarios" / "mutants" / f"{mutant}.json")
    assert scenario.impl == f"harness.mutants.{mutant}:pipeline"
    assert scenario.expect.check == check
    first = run_scenario(bench, scenario)
    second = run_scenario(bench, scenario)
    # Only this check sees the bug: every other property of the run holds.
    assert first.violated == [check], [v.render() for v in first.violations]
    assert first.violated == second.violated
    assert first.result.history.comparable() == second.result.history.comparable()
    (violation,) = first.violations
    assert violation.rows and violation.steps, violation.render()
    reference = run_scenario(bench, scenario, impl=REFERENCE)
    assert not reference.violations, [v.render() for v in reference.violations]


def test_the_violations_name_the_actor_the_row_and_what_went_wrong(bench: Workbench) -> None:
    def rendered(mutant: str) -> str:
        scenario = load(ROOT / "scenarios" / "mutants" / f"{mutant}.json")
        (violation,) = run_scenario(bench, scenario).violations
        return violation.render()

    errors = rendered("retry_keeps_processing")
    assert "(sync-threads-page-worker #1," in errors
    assert "after fail_page [23514] failed: CheckViolation" in errors
    rows = rendered("done_keeps_error")
    assert "still carries the error of an earlier attempt: attempt 1 of 5 failed" in rows
    holder = rendered("inverted_fence")
    assert "w1's fail_page on page row 1 at t=0s was refused (lease lost)" in holder
    assert "held the row until t=120s and no one had claimed it since" in holder


# --- no-unexpected-errors on hand-made histories ------------------------------------------------


def _ev(seq: int, actor: str, kind: str, role: str = "page_worker", **detail: Any) -> Event:
    return Event(seq, float(seq), actor, role, kind, detail)


def _invoke(seq: int, actor: str, record: int = 1) -> Event:
    return _ev(seq, actor, "invoke", function="sync-threads-page-worker", record_id=record)


RAISED: dict[str, Any] = {"outcome": "fail", "error": "ValueError: not enough values to unpack"}


def test_a_reply_the_handler_chose_is_expected_and_an_error_is_not() -> None:
    assert unexpected_ending({"outcome": "ok", "status": 200, "body": {"outcome": "done"}}) is None
    retry = {"outcome": "fail", "status": 503, "body": {"outcome": "retry"}}
    assert unexpected_ending(retry) is None
    processing_failed = {"outcome": "fail", "status": 500, "body": {"outcome": "dead-letter"}}
    assert unexpected_ending(processing_failed) is None
    assert unexpected_ending({"outcome": "info", "error": "instance crashed"}) is None
    assert unexpected_ending(RAISED) == "ValueError: not enough values to unpack"
    port = {"outcome": "fail", "status": 500, "body": {"outcome": "error", "error": "boom"}}
    assert unexpected_ending(port) == "HTTP 500: boom"
    assert unexpected_ending({"outcome": "fail", "status": 502, "body": "Bad Gateway"}) == (
        "HTTP 502: Bad Gateway"
    )


def test_an_error_is_excused_only_by_a_fault_that_explains_it() -> None:
    def found(*events: Event) -> list[str]:
        return [a for a, _ in unexpected_errors(History.of(events))]

    failed = _ev(2, "w1", "statement", sql="SELECT * FROM public.fail_page(1)", outcome="error")
    assert found(_invoke(1, "w1"), failed, _ev(3, "w1", "reply", **RAISED)) == ["w1"]
    # Its own connection killed, or the server restarted under it: excused.
    killed = _ev(2, "w1", "fault", fault="kill_connection", at_step=1)
    assert found(_invoke(1, "w1"), killed, _ev(3, "w1", "reply", **RAISED)) == []
    restart = _ev(2, "engine", "fault", role="engine", fault="restart_server")
    assert found(_invoke(1, "w1"), restart, _ev(3, "w1", "reply", **RAISED)) == []
    # An idle connection the restart broke, handed to a later actor: excused; a CHECK
    # violation after a restart is not.
    before = _ev(0, "engine", "fault", role="engine", fault="restart_server")
    lost = _ev(3, "w1", "statement", outcome="error", error="server closed the connection")
    assert found(before, _invoke(2, "w1"), lost, _ev(4, "w1", "reply", **RAISED)) == []
    check = _ev(3, "w1", "statement", outcome="error", sqlstate="23514", error="check")
    assert found(before, _invoke(2, "w1"), check, _ev(4, "w1", "reply", **RAISED)) == ["w1"]
    # A stall or an API fault on the same actor does not excuse an error they do not explain.
    stall = _ev(2, "w1", "fault", fault="stall", at_step=1)
    assert found(_invoke(1, "w1"), stall, _ev(3, "w1", "reply", **RAISED)) == ["w1"]
    api = _ev(2, "w1", "api", outcome="error", error="timed out (injected fault)")
    assert found(_invoke(1, "w1"), api, _ev(3, "w1", "reply", **RAISED)) == ["w1"]
    escaped = {"outcome": "fail", "error": "ProviderError: timed out (injected fault)"}
    assert found(_invoke(1, "w1"), api, _ev(3, "w1", "reply", **escaped)) == []
    # A server error that quotes the API error it was recording (a CHECK violation's failing row
    # carries last_error) is the server's error, not the API's: not excused.
    quoted = (
        "CheckViolation: failing row contains (attempt 3 of 3 failed: timed out (injected fault))"
    )
    refused = _ev(3, "w1", "statement", outcome="error", sqlstate="23514", error=quoted)
    raised = {"outcome": "fail", "error": quoted}
    assert found(_invoke(1, "w1"), api, refused, _ev(4, "w1", "reply", **raised)) == ["w1"]
    # A statement timeout while it waited on a paused actor's lock: excused.
    waited = _ev(2, "w1", "blocked", blocked_by=["w2"])
    timeout = _ev(3, "w1", "statement", outcome="error", sqlstate="57014", error="timeout")
    assert found(_invoke(1, "w1"), waited, timeout, _ev(4, "w1", "reply", **RAISED)) == []
    # A caller that gave up may cut its function short.
    gone = _ev(2, "w1", "reply", **RAISED, caller_gone=True)
    assert found(_invoke(1, "w1"), gone) == []


# --- finished-rows-consistent on hand-made rows -------------------------------------------------


def _page(**over: Any) -> dict[str, Any]:
    row = {
        "id": 1,
        "job_id": 1,
        "page_number": 1,
        "status": "done",
        "attempts": 1,
        "max_attempts": 5,
        "last_error": None,
        "finished_at": "2026-01-01 00:00:00+00",
    }
    return {**row, **over}


def test_finished_rows_must_record_their_ending_consistently() -> None:
    assert row_problems(PAGE, _page()) == []
    failed = _page(status="failed", attempts=5, last_error="attempt 5 of 5 failed: x")
    assert row_problems(PAGE, failed) == []
    assert row_problems(PAGE, _page(status="pending", finished_at=None, attempts=0)) == []
    (no_time,) = row_problems(PAGE, _page(finished_at=None))
    assert no_time == "page 1:1 (id 1), done, has no finished_at"
    (stale,) = row_problems(PAGE, _page(last_error="attempt 1 of 5 failed: x"))
    assert "still carries the error of an earlier attempt" in stale
    (silent,) = row_problems(PAGE, _page(status="failed", attempts=5))
    assert "dead-lettered without its error" in silent
    (too_many,) = row_problems(PAGE, _page(status="processing", attempts=6))
    assert too_many == "page 1:1 (id 1), processing, made 6 attempts of at most 5"
    # A row captured without finished_at is judged on the rest only.
    assert row_problems(PAGE, {k: v for k, v in _page().items() if k != "finished_at"}) == []


def test_a_finished_job_without_its_finish_time_is_reported() -> None:
    state = FinalState(
        jobs=({"id": 1, "status": "completed", "page_size": 4, "finished_at": None},)
    )
    inp = CheckInput(History(()), state, generate_dataset(1, 0), 4)
    (violation,) = run_checks(inp, ["finished-rows-consistent"])
    assert violation.rows == ("job 1, completed, has no finished_at",)


# --- attempts-by-holder on hand-made histories --------------------------------------------------


def _claim(seq: int, actor: str, token: str, until: str | None = None) -> Event:
    rows = [{"claimed": True, "claim_token": token, "reason": "claimed", "locked_until": until}]
    return _ev(seq, actor, "statement", sql="SELECT * FROM public.claim_page(1)", outcome="ok",
               rows=rows)  # fmt: skip


def _fail(seq: int, actor: str, token: str, recorded: bool) -> Event:
    rows = [{"recorded": recorded, "reason": "retry" if recorded else "lease lost"}]
    sql = "SELECT * FROM public.fail_page(1)"
    return _ev(seq, actor, "statement", sql=sql, params={"token": token}, outcome="ok", rows=rows)


def test_only_the_current_holder_may_record_an_attempt() -> None:
    base = [_invoke(1, "w1"), _claim(2, "w1", "t1"), _invoke(3, "w2"), _claim(4, "w2", "t2")]
    refused = History.of([*base, _fail(5, "w1", "t1", recorded=False)])
    assert stale_records(refused) == []
    by_holder = History.of([*base, _fail(5, "w2", "t2", recorded=True)])
    assert stale_records(by_holder) == []
    ((item, text),) = stale_records(History.of([*base, _fail(5, "w1", "t1", recorded=True)]))
    assert item == (PAGE, 1)
    assert text.startswith("w1 recorded fail_page on page row 1 at t=5s with token t1")
    # A recording before anyone else claimed is its holder's own.
    alone = History.of([_invoke(1, "w1"), _claim(2, "w1", "t1"), _fail(3, "w1", "t1", True)])
    assert stale_records(alone) == []


def test_the_holder_s_own_attempt_is_recorded_while_its_lease_runs() -> None:
    clock = _ev(0, "engine", "clock", role="engine", now="2026-01-01T00:00:00+00:00")
    claimed = [clock, _invoke(1, "w1"), _claim(2, "w1", "t1", until="2026-01-01T00:02:00+00:00")]
    # Refused at t=5 s, its lease running until t=120 s and no one else claiming: a bug.
    ((_, text),) = stale_records(History.of([*claimed, _fail(5, "w1", "t1", recorded=False)]))
    assert text == (
        "w1's fail_page on page row 1 at t=5s was refused (lease lost), though its claim from "
        "t=2s held the row until t=120s and no one had claimed it since"
    )
    # Refused after its lease ran out (the sweeper may have taken the row back): fine.
    late = _ev(130, "w1", "statement", **_fail(0, "w1", "t1", recorded=False).detail)
    assert stale_records(History.of([*claimed, late])) == []
    # Paused inside its statement, its call may have read a later clock: not judged.
    paused = _ev(4, "w1", "paused")
    assert stale_records(History.of([*claimed, paused, _fail(5, "w1", "t1", False)])) == []


def test_the_new_checks_are_registered() -> None:
    assert {"no-unexpected-errors", "finished-rows-consistent", "attempts-by-holder"} <= set(CHECKS)
