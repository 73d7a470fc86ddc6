"""The timing checks retry-waits-for-its-time, failure-backs-off and failure-releases-claim (their
teeth are in tests/test_checks_contract.py): their violations say when and why, and each judges
hand-made row logs and histories as the contract says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checks_failure_error import forgotten_errors
from harness.checks_retry import early_claims, unreleased_failures, unscheduled_retries
from harness.history import Event, History
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import load
from harness.state import FinalState

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "threadsync.reference:pipeline"
PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def test_the_violations_say_when_and_why(bench: Workbench) -> None:
    def rendered(mutant: str) -> str:
        scenario = load(ROOT / "scenarios" / "mutants" / f"{mutant}.json")
        (violation,) = run_scenario(bench, scenario).violations
        return violation.render()

    early = rendered("early_retry_claim")
    assert "page row 1 was claimed for attempt 2 at t=0s, before its retry was due at t=30s" in (
        early
    )
    assert "rate limited" in early
    backoff = rendered("retry_without_backoff")
    assert "page row 1 went back to pending after attempt 1 (begun at t=0s)" in backoff
    assert "with its retry due at t=0s" in backoff
    kept = rendered("failure_keeps_claim")
    assert "w1's failure on page row 1 at t=0s was answered as recorded" in kept
    assert "its next version retries at t=180s (lease expired on attempt 1 of 5)" in kept


# --- hand-made row logs -------------------------------------------------------------------------

T0 = "2026-01-01 00:00:00+00:00"
TOKEN = "c65d84d9-3728-e0b0-8ff9-3ccf3922241a"


def _at(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"2026-01-01 00:{int(minutes):02d}:{rest:06.3f}+00:00"


def _version(op: str = "UPDATE", **over: Any) -> dict[str, Any]:
    row = {
        "id": 1,
        "op": op,
        "status": "pending",
        "attempts": 0,
        "next_retry_at": T0,
        "started_at": None,
        "locked_until": None,
        "claim_token": None,
        "last_error": None,
    }
    return {**row, **over}


def _state(*versions: dict[str, Any], final: dict[str, Any] | None = None) -> FinalState:
    effects = tuple(
        {"id": i, "kind": "page_row", "key": str(v["id"]), "txid": i, "commit_seq": i, "detail": v}
        for i, v in enumerate(versions, start=1)
    )
    return FinalState(pages=(final,) if final else (), effects=effects)


def _held(started: float, attempts: int = 1, token: str = TOKEN) -> dict[str, Any]:
    return _version(
        status="processing",
        attempts=attempts,
        started_at=_at(started),
        locked_until=_at(started + 120),
        claim_token=token,
    )


def _clock_at_zero() -> Event:
    return Event(0, 0.0, "engine", "engine", "clock", {"now": T0})


NO_HISTORY = History((_clock_at_zero(),))


def test_a_claim_waits_for_the_retry_time_of_the_version_it_claims() -> None:
    inserted = _version("INSERT")
    failed = _version(attempts=1, next_retry_at=_at(30), last_error="attempt 1 of 5 failed: x")
    assert early_claims(_state(inserted, _held(0), failed, _held(30, 2)), NO_HISTORY) == []
    ((item, text),) = early_claims(_state(inserted, _held(0), failed, _held(5, 2)), NO_HISTORY)
    assert item == (PAGE, 1)
    assert text == (
        "page row 1 was claimed for attempt 2 at t=5s, before its retry was due at t=30s "
        "(after: attempt 1 of 5 failed: x)"
    )
    # A row whose versions lack the columns is not judged; nor is a lineage a restart began again.
    bare = {k: v for k, v in _held(5, 2).items() if k != "started_at"}
    assert early_claims(_state(inserted, _held(0), failed, bare), NO_HISTORY) == []
    again = _state(inserted, _held(0), failed, _version("INSERT"), _held(5, 1))
    assert early_claims(again, NO_HISTORY) == []


def test_a_row_put_back_to_pending_is_due_only_after_its_attempt_began() -> None:
    inserted = _version("INSERT")
    backed_off = _version(attempts=1, next_retry_at=_at(11.5), last_error="attempt 1 of 5 failed")
    assert unscheduled_retries(_state(inserted, _held(0), backed_off), NO_HISTORY) == []
    # The sweeper's re-queue after the lease ran out is due at its sweep: later than the attempt.
    swept = _version(attempts=1, next_retry_at=_at(180), last_error="lease expired")
    assert unscheduled_retries(_state(inserted, _held(0), swept), NO_HISTORY) == []
    unmoved = _version(attempts=2, next_retry_at=_at(30), last_error="attempt 2 of 5 failed")
    ((_, text),) = unscheduled_retries(_state(inserted, _held(30, 2), unmoved), NO_HISTORY)
    assert text.startswith("page row 1 went back to pending after attempt 2 (begun at t=30s)")


def _invoke(seq: int, actor: str) -> Event:
    detail = {"function": "sync-threads-page-worker", "record_id": 1}
    return Event(seq, float(seq), actor, "page_worker", "invoke", detail)


def _fail(seq: int, actor: str, reply: dict[str, Any], retry_after: float | None = None) -> Event:
    params = {
        "page_id": 1,
        "token": TOKEN,
        "error": "threads API: boom",
        "retry_after": retry_after,
    }
    detail = {
        "sql": "SELECT * FROM public.fail_page(%(page_id)s, %(token)s, %(error)s, %(retry_after)s)",
        "params": params,
        "outcome": "ok",
        "rows": [{"recorded": True, **reply}],
    }
    return Event(seq, 0.0, actor, "page_worker", "statement", detail)


def _history(*events: Event) -> History:
    return History((_clock_at_zero(), _invoke(1, "w1"), *events))


def test_a_failure_with_retry_after_is_not_due_sooner() -> None:
    inserted = _version("INSERT")
    soon = _version(attempts=1, next_retry_at=_at(12), last_error="attempt 1 of 5 failed: boom")
    late = _version(attempts=1, next_retry_at=_at(30), last_error="attempt 1 of 5 failed: boom")
    reply = {"status": "pending", "next_retry_at": _at(12)}
    waited = _history(_fail(2, "w1", reply, retry_after=30.0))
    assert unscheduled_retries(_state(inserted, _held(0), late), waited) == []
    ((_, text),) = unscheduled_retries(_state(inserted, _held(0), soon), waited)
    assert text == (
        "w1's failure on page row 1 at t=0s carried the API's Retry-After of 30s, but the retry "
        "was scheduled at t=12s, before t=30s"
    )
    # The API's answer counts even when the handler did not pass its Retry-After on.
    asked = Event(2, 0.0, "w1", "page_worker", "api", {"outcome": "error", "retry_after": 30.0})
    dropped = _history(asked, _fail(3, "w1", reply))
    ((_, text),) = unscheduled_retries(_state(inserted, _held(0), soon), dropped)
    assert "carried the API's Retry-After of 30s" in text
    # Without a Retry-After, the backoff alone is enough.
    assert (
        unscheduled_retries(_state(inserted, _held(0), soon), _history(_fail(2, "w1", reply))) == []
    )


def test_a_recorded_failure_is_the_rows_next_version() -> None:
    inserted = _version("INSERT")
    reply = {"status": "pending", "next_retry_at": _at(11.5)}
    history = _history(_fail(2, "w1", reply))
    written = _version(
        attempts=1, next_retry_at=_at(11.5), last_error="attempt 1: threads API: boom"
    )
    assert unreleased_failures(_state(inserted, _held(0), written), history) == []
    # A version carrying the failure's own error is the failure's, whatever retry time it has.
    own = _version(attempts=1, next_retry_at=T0, last_error="attempt 1: threads API: boom")
    assert unreleased_failures(_state(inserted, _held(0), own), history) == []
    swept = _version(attempts=1, next_retry_at=_at(180), last_error="lease expired on attempt 1")
    ((_, text),) = unreleased_failures(_state(inserted, _held(0), swept), history)
    assert text == (
        "w1's failure on page row 1 at t=0s was answered as recorded with its retry at t=11.5s, "
        "but the row stayed under that claim: its next version retries at t=180s "
        "(lease expired on attempt 1)"
    )
    ((_, held),) = unreleased_failures(_state(inserted, _held(0), final=_held(0)), history)
    assert held.endswith("but the row is still processing under it")
    dead = _history(_fail(2, "w1", {"status": "failed", "next_retry_at": None}))
    ((_, text),) = unreleased_failures(_state(inserted, _held(0), swept), dead)
    assert "answered as recorded (failed), but the row's next version is pending" in text
    # A failure whose claim the log never saw is not judged.
    other = _held(0, token="00000000-0000-0000-0000-000000000000")
    assert unreleased_failures(_state(inserted, other, swept), history) == []


def test_a_recorded_failure_writes_its_own_error() -> None:
    inserted = _version("INSERT")
    reply = {"status": "pending", "next_retry_at": _at(11.5)}
    history = _history(_fail(2, "w1", reply))
    written = _version(
        attempts=1, next_retry_at=_at(11.5), last_error="attempt 1 of 5 failed: threads API: boom"
    )
    assert forgotten_errors(_state(inserted, _held(0), written), history) == []
    blank = _version(attempts=1, next_retry_at=_at(11.5))
    ((item, text),) = forgotten_errors(_state(inserted, _held(0), blank), history)
    assert item == (PAGE, 1)
    assert text == (
        "w1's failure on page row 1 at t=0s ('threads API: boom') was recorded as pending, but "
        "the row it wrote has no last_error"
    )
    # An earlier attempt's error is not this failure's.
    stale = _version(attempts=1, next_retry_at=_at(11.5), last_error="attempt 0: timeout")
    ((_, text),) = forgotten_errors(_state(inserted, _held(0), stale), history)
    assert text.endswith("has last_error 'attempt 0: timeout'")
    # A next version that is not the failure's own write (the sweeper's, say) is
    # failure-releases-claim's business, not this check's.
    swept = _version(attempts=1, next_retry_at=_at(180), last_error="lease expired on attempt 1")
    assert forgotten_errors(_state(inserted, _held(0), swept), history) == []
    dead = _history(_fail(2, "w1", {"status": "failed", "next_retry_at": None}))
    lettered = _version(status="failed", attempts=1, last_error=None)
    ((_, text),) = forgotten_errors(_state(inserted, _held(0), lettered), dead)
    assert "was recorded as failed, but the row it wrote has no last_error" in text
