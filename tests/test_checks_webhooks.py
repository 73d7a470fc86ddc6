"""The webhook checks webhook-on-create, resends-only-due-work and resends-wait-for-grace: each
fails its generated mutant on the mutant's saved scenario, deterministically, while the reference
passes the same scenario; and each judges hand-made effect logs as the contract says."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checks_webhooks import hasty_resends, requests, unannounced, undue_resends
from harness.mutate.generate import generate, mutant_pipeline
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import load
from harness.state import FinalState
from threadsync.reference import pipeline as reference

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "threadsync.reference:pipeline"
PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"

# The generated mutants whose saved scenarios give each check its teeth
# (tests/test_checks_contract.py replays them).
SAVED = ["no_database_webhook", "resend_finished", "resend_storm"]


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


@pytest.mark.parametrize("mutant", SAVED)
def test_the_reference_announces_every_row_on_the_saved_scenarios(
    bench: Workbench, mutant: str
) -> None:
    scenario = load(ROOT / "scenarios" / "mutants" / f"{mutant}.json")
    reference = run_scenario(bench, scenario, impl=REFERENCE)
    assert not reference.violations, [v.render() for v in reference.violations]
    # The reference announces every row it creates, and its sweeper re-sends some webhook here.
    assert requests(reference.state)
    assert not unannounced(reference.state) and not undue_resends(reference.state)
    assert not hasty_resends(reference.state)


# Generated mutants that exploration rarely or never reaches within 60 s, the reference scenario
# that kills each by replay, and what the violation says.
CLAIMED = "committed with the row processing"
REFERENCE_TEETH = [
    # Re-sent before the retry is due: needs a backoff that outlasts a sweep (four failed fetches).
    ("fail_page:drop-set-column:12", "api-backoff-past-a-sweep", "before its retry was due"),
    ("sweep:drop-conjunct:9", "api-backoff-past-a-sweep", "before its retry was due"),
    # The sweep pauses inside its unlocked re-send while a late delivery claims the item.
    ("sweep:drop-for-update:3", "pause-sweeper-mid-resend", CLAIMED),
    ("sweep:drop-for-update:4", "pause-sweeper-mid-thread-resend", CLAIMED),
]


@pytest.mark.parametrize(("mutant_id", "saved", "says"), REFERENCE_TEETH)
def test_a_reference_scenario_catches_a_resend_exploration_rarely_reaches(
    bench: Workbench, mutant_id: str, saved: str, says: str
) -> None:
    scenario = load(ROOT / "scenarios" / "reference" / f"{saved}.json")
    assert scenario.expect.verdict == "pass"
    (mutant,) = [m for m in generate(reference).mutants if m.id == mutant_id]
    impl = f"mutant:{mutant_id}"
    bench.pipelines[impl] = mutant_pipeline(reference, mutant, Path(tempfile.mkdtemp()))
    verdict = run_scenario(bench, scenario, impl=impl)
    assert verdict.violated == ["resends-only-due-work"], verdict.label
    (violation,) = verdict.violations
    assert says in violation.rows[0], violation.render()
    assert not run_scenario(bench, scenario).violations


# --- hand-made effect logs ------------------------------------------------------------------------


def _row(key: int, txid: int, op: str = "UPDATE", table: str = PAGE, **cols: Any) -> dict[str, Any]:
    kind = "page_row" if table == PAGE else "entry_row"
    detail = {"op": op, "id": key, **cols}
    return {"kind": kind, "key": str(key), "txid": txid, "commit_seq": txid, "detail": detail}


def _sent(
    key: int, txid: int, table: str = PAGE, now: str | None = None, **body: Any
) -> dict[str, Any]:
    function = "sync-threads-page-worker" if table == PAGE else "sync-threads-processor"
    detail: dict[str, Any] = {
        "url": f"http://edge/functions/v1/{function}",
        "body": {"type": "INSERT", "table": table, "record": {"id": key}, **body},
    }
    if now is not None:
        detail["now"] = now
    return {"kind": "request_queued", "key": f"r{txid}.{key}", "txid": txid, "commit_seq": txid,
            "detail": detail}  # fmt: skip


def _state(*effects: dict[str, Any], grace: float | None = None) -> FinalState:
    numbered = [{**e, "id": n} for n, e in enumerate(effects, 1)]
    return FinalState(
        pages=(), entries=(), threads=(), jobs=(), effects=tuple(numbered),
        extra={"emit_grace": grace},
    )  # fmt: skip


T0, T1, T2 = "2026-01-01T00:00:00+00:00", "2026-01-01T00:01:00+00:00", "2026-01-01T00:02:00+00:00"


def test_a_row_announced_by_its_creating_transaction_passes() -> None:
    st = _state(
        _row(1, 10, "INSERT", status="pending"),
        _sent(1, 10),
        _row(1, 10, "INSERT", ENTRY, status="pending"),
        _sent(1, 10, ENTRY),
    )
    assert unannounced(st) == []


def test_a_row_first_announced_by_another_transaction_is_unannounced() -> None:
    st = _state(
        _row(1, 10, "INSERT", status="pending"),
        _row(2, 10, "INSERT", ENTRY, status="pending"),
        _sent(2, 10, ENTRY),
        _sent(1, 11, now=T1),  # the sweeper's re-send, a grace period later
    )
    ((table, row, text),) = unannounced(st)
    assert (table, row) == (PAGE, 1)
    assert "page row 1 was created by transaction 10, which queued no webhook" in text
    assert "(1 sent later by other transactions)" in text


def test_a_webhook_for_another_row_or_table_does_not_announce_a_row() -> None:
    st = _state(
        _row(1, 10, "INSERT", status="pending"),
        _sent(2, 10),  # names page row 2
        _sent(1, 10, ENTRY),  # names entry 1, not page row 1
    )
    assert [(t, i) for t, i, _ in unannounced(st)] == [(PAGE, 1)]


def test_a_run_that_queued_no_request_at_all_is_not_judged() -> None:
    # A pipeline without pg_net (nothing is logged as queued) says nothing about webhooks.
    assert unannounced(_state(_row(1, 10, "INSERT", status="pending"))) == []


def test_a_resend_for_pending_due_work_passes() -> None:
    st = _state(
        _row(1, 10, "INSERT", status="pending", next_retry_at=T0),
        _sent(1, 10, now=T0),
        _row(1, 12, status="pending", next_retry_at=T1),  # a failed attempt, retry at T1
        _sent(1, 13, now=T1),  # due exactly now
        _row(1, 13, status="pending", next_retry_at=T1),
    )
    assert undue_resends(st) == []


def test_a_resend_for_finished_or_claimed_work_is_undue() -> None:
    st = _state(
        _row(1, 10, "INSERT", status="pending", next_retry_at=T0),
        _sent(1, 10, now=T0),
        _row(2, 10, "INSERT", ENTRY, status="pending", next_retry_at=T0),
        _sent(2, 10, ENTRY, now=T0),
        _row(1, 11, status="done", next_retry_at=T0),
        _row(2, 11, table=ENTRY, status="processing", next_retry_at=T0),
        _sent(1, 12, now=T1),
        _sent(2, 12, ENTRY, now=T1),
        _row(2, 12, table=ENTRY, status="processing", next_retry_at=T0),  # its own write
    )
    texts = [text for _, _, text in undue_resends(st)]
    assert texts == [
        "page row 1's webhook was re-sent by transaction 12, which committed with the row done",
        "entry 2's webhook was re-sent by transaction 12, which committed with the row processing",
    ]


def test_a_row_is_judged_as_the_sender_committed_not_as_it_ended() -> None:
    # Pending when the re-send committed, done only afterwards: the re-send was due.
    st = _state(
        _row(1, 10, "INSERT", status="pending", next_retry_at=T0),
        _sent(1, 10, now=T0),
        _sent(1, 11, now=T1),
        _row(1, 12, status="done", next_retry_at=T0),
    )
    assert undue_resends(st) == []


# The clock as the harness sets it, and one written without an offset (read as UTC).
@pytest.mark.parametrize("now", [T1, "2026-01-01 00:01:00"])
def test_a_resend_before_the_retry_is_due_is_undue(now: str) -> None:
    st = _state(
        _row(1, 10, "INSERT", status="pending", next_retry_at=T0),
        _sent(1, 10, now=T0),
        _row(1, 11, status="pending", next_retry_at=T2),  # backoff until T2
        _sent(1, 12, now=now),
    )
    ((table, row, text),) = undue_resends(st)
    assert (table, row) == (PAGE, 1)
    assert "re-sent by transaction 12 at 00:01:00, 60.0s before its retry was due" in text


def test_without_the_columns_or_the_clock_a_resend_is_not_judged() -> None:
    st = _state(
        _row(1, 10, "INSERT", status="pending", next_retry_at=T0),
        _sent(1, 10),
        _row(1, 11, next_retry_at=T2),  # a port whose rows carry no status
        _sent(1, 12, now=T1),
        _row(2, 10, "INSERT", status="pending", next_retry_at=T0),
        _sent(2, 10),
        _row(2, 11, status="pending", next_retry_at=T2),
        _sent(2, 12),  # no clock recorded for the sender
    )
    assert undue_resends(st) == []


def test_a_request_that_names_no_queue_row_is_not_judged() -> None:
    other = {"kind": "request_queued", "key": "9", "txid": 12, "commit_seq": 12,
             "detail": {"url": "http://elsewhere/hook", "body": {"hello": 1}}}  # fmt: skip
    st = _state(_row(1, 10, "INSERT", status="pending"), _sent(1, 10), other)
    assert [r.id for r in requests(st)] == ["r10.1"]
    assert unannounced(st) == [] and undue_resends(st) == []


def test_the_entry_resend_storm_is_caught_by_a_reference_scenario(bench: Workbench) -> None:
    # The thread-entry twin of resend_storm (its page variant has the mutant scenario).
    scenario = load(ROOT / "scenarios" / "reference" / "resend-waits-for-grace.json")
    assert scenario.expect.verdict == "pass" and not run_scenario(bench, scenario).violations
    (mutant,) = [m for m in generate(reference).mutants if m.id == "sweep:drop-set-column:21"]
    impl = f"mutant:{mutant.id}"
    bench.pipelines[impl] = mutant_pipeline(reference, mutant, Path(tempfile.mkdtemp()))
    verdict = run_scenario(bench, scenario, impl=impl)
    assert verdict.violated == ["resends-wait-for-grace"], verdict.label
    (violation,) = verdict.violations
    assert "entry 1's webhook was sent again by transaction" in violation.rows[0]
    assert "60.0s after transaction" in violation.rows[0], violation.render()


def test_resends_a_grace_apart_pass_and_sooner_ones_are_hasty() -> None:
    sends = (
        _row(1, 10, "INSERT", status="pending"),
        _sent(1, 10, now=T0),
        _sent(1, 11, now=T1),  # 60 s later, the row unchanged
        _row(1, 11, status="pending", emits=1),  # the sender's own write
        _sent(1, 12, now=T2),  # 60 s later again
        _row(1, 12, status="pending", emits=2),
    )
    assert hasty_resends(_state(*sends, grace=60)) == []
    texts = [text for _, _, text in hasty_resends(_state(*sends, grace=90))]
    assert texts == [
        "page row 1's webhook was sent again by transaction 11 at 00:01:00, 60.0s after "
        "transaction 10 sent it at 00:00:00, with the row unchanged in between (emit grace 90s)",
        "page row 1's webhook was sent again by transaction 12 at 00:02:00, 60.0s after "
        "transaction 11 sent it at 00:01:00, with the row unchanged in between (emit grace 90s)",
    ]


def test_a_row_changed_between_two_sends_is_not_judged_on_their_spacing() -> None:
    st = _state(
        _row(1, 10, "INSERT", ENTRY, status="pending"),
        _sent(1, 10, ENTRY, now=T0),
        _row(1, 11, table=ENTRY, status="processing"),  # claimed, then its lease was rescued
        _sent(1, 12, ENTRY, now=T1),
        _row(1, 12, table=ENTRY, status="pending"),
        _sent(1, 12, ENTRY, now=T1),  # one transaction's two sends count as one
        grace=90,
    )
    assert hasty_resends(st) == []


def test_without_an_emit_grace_setting_spacing_is_not_judged() -> None:
    st = _state(_row(1, 10, "INSERT", status="pending"), _sent(1, 10, now=T0), _sent(1, 11, now=T0))
    assert hasty_resends(st) == []
    assert hasty_resends(_state(*st.effects, grace=30)) != []
