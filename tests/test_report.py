"""Reports as text and as HTML source: what the transcript keeps, how lanes and the verdict's
story are derived, that a page needs no network, and the exploration page (the rendered pages are
checked in a real browser by test_report_browser.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from reportcases import MUTANTS, lock_wait, replay

from harness.checks import Violation
from harness.cli import main
from harness.explore import ExploreResult, FoundFailure, Size
from harness.history import Event, History
from harness.postgres import Server
from harness.replay import Verdict, Workbench
from harness.report import (
    html_explore,
    html_timeline,
    text_report,
    transcript_text,
    write_explore,
    write_history,
)
from harness.report.lanes import MOST_LANES, lanes
from harness.report.story import sentence, story

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


@pytest.fixture(scope="module")
def no_fencing(bench: Workbench) -> Verdict:
    return replay(bench, "no_fencing")


def test_a_fault_that_fired_is_named_fired_never_unfired(no_fencing: Verdict) -> None:
    history = no_fencing.result.history
    faults = [e.detail["fault"] for e in history.by_kind("fault")]
    assert faults == ["stall"], faults  # the stall fired; no `unfired` event contradicts it
    transcript = history.transcript()
    assert "fault p1: stall FIRED before step 1 (its 2nd): paused 600 s" in transcript
    assert "unfired" not in transcript and "did NOT fire" not in transcript


def test_a_rule_that_never_fired_is_still_reported() -> None:
    event = Event(
        3,
        1.0,
        "p1",
        "processor",
        "fault",
        {"fault": "unfired", "rule": "Crash", "at_step": 9, "steps_taken": 2},
    )
    assert "Crash rule aimed at step 9 did NOT fire" in History.of([event]).transcript()


def test_the_transcript_keeps_deliveries_and_the_sweepers_reply_whole(
    no_fencing: Verdict,
) -> None:
    history = no_fencing.result.history
    lines = history.transcript().splitlines()
    (sweep_reply,) = [e for e in history.by_actor("s2") if e.kind == "reply"]
    body = json.dumps(sweep_reply.detail["body"], sort_keys=True)
    assert any(
        line.startswith(" 120.000 reply s2: ok 200 ") and line.endswith(body) for line in lines
    )
    deliveries = [line for line in lines if " delivery engine: " in line]
    assert len(deliveries) == len(history.by_kind("delivery"))
    assert all(line.rstrip().endswith(f"request={n}") for n, line in enumerate(deliveries))


def test_the_transcript_shows_parameters_with_tokens_shortened(no_fencing: Verdict) -> None:
    transcript = no_fencing.result.history.transcript()
    assert "step p1: claim_thread(entry_id=1) -> " in transcript
    assert "step p1: complete_thread(entry_id=1, result={" in transcript
    p1_token = no_fencing.result.history.by_actor("p1")[1].detail["rows"][0]["claim_token"]
    assert f"token={p1_token[:8]}…)" in transcript
    assert not UUID.search(transcript), "a whole claim token was printed"


def test_a_long_transcript_folds_plain_statements_but_never_a_line_that_matters() -> None:
    events = []
    for n in range(300):
        actor = f"p{n}"
        events += [
            Event(
                len(events),
                0.0,
                "engine",
                "engine",
                "delivery",
                {"function": "sync-threads-processor", "record_id": n, "outcome": "queued"},
            ),
            Event(
                len(events) + 1,
                0.0,
                actor,
                "processor",
                "statement",
                {
                    "sql": "SELECT * FROM public.claim_thread(%(entry_id)s)",
                    "params": {"entry_id": n},
                    "outcome": "ok",
                    "rows": [{"claimed": True}],
                },
            ),
            Event(
                len(events) + 2,
                0.0,
                actor,
                "processor",
                "reply",
                {"outcome": "ok", "status": 200, "body": {"entry_id": n, "outcome": "done"}},
            ),
        ]
    text = transcript_text(History.of(events), limit=100)
    assert text.count(" delivery engine: ") == 300
    assert text.count(" reply p") == 300
    assert "statement lines ..." in text
    assert text.count("step p") < 300  # statements in the middle were folded


def test_text_report_of_a_violation_ends_with_the_whole_transcript(no_fencing: Verdict) -> None:
    report = text_report(no_fencing)
    assert report.startswith("scenario no_fencing on harness.mutants.no_fencing:pipeline")
    # Every violated property, with its summary, rows and steps, comes before the transcript.
    assert [v.check for v in no_fencing.violations] == [
        "thread-exactly-once",
        "job-finishes-last",
        "attempts-by-holder",
    ]
    assert "thread-exactly-once: 1 thread was processed more than once" in report
    assert "job-finishes-last: 1 jobs finished before their work did" in report
    head, _, _ = report.partition("transcript (virtual seconds, actor, step):")
    assert all(v.render() in head for v in no_fencing.violations)
    assert report.endswith(no_fencing.result.history.transcript())


def test_lanes_are_logical_actors(no_fencing: Verdict) -> None:
    history = no_fencing.result.history
    found = {lane.label: lane.actors for lane in lanes(history)}
    sweepers = sorted({e.actor for e in history.by_role("sweeper")}, key=lambda a: int(a[1:]))
    assert len(sweepers) > 2 and found["sweeper"] == sweepers  # every tick in one lane
    assert found["processor #1"] == ["p1"]
    assert found["processor #1 · 2nd delivery"] == ["p9"]
    deliveries = {e.actor for e in history.events if e.role in ("processor", "page_worker")}
    assert len(found) == len(deliveries) + 3  # + webhooks, orchestrator, sweeper
    assert sum(len(actors) for actors in found.values()) == len(history.actors())


def test_the_story_of_no_fencing_cites_the_stall_and_both_completions(
    no_fencing: Verdict,
) -> None:
    history = no_fencing.result.history
    owner = {a: lane for lane in lanes(history) for a in lane.actors}
    by_seq = {e.seq: e for e in history.events}
    # The same race broke both properties: entry 1 completed twice, the second time after its
    # job had finished. Each story tells the stall and both completions, oldest first.
    for check in ("thread-exactly-once", "job-finishes-last"):
        (violation,) = [v for v in no_fencing.violations if v.check == check]
        steps = story(history, violation, owner)
        assert 3 <= len(steps) <= 6
        cited = [(by_seq[s.seq].actor, by_seq[s.seq].kind, s.sentence) for s in steps]
        assert any(kind == "fault" and "stall" in text for _, kind, text in cited), cited
        completions = [a for a, _, text in cited if "complete_thread(entry_id=1" in text]
        assert sorted(completions) == ["p1", "p9"], cited
        assert not any(kind == "api" for _, kind, _ in cited), cited  # fetch_thread: no cause
        assert [s.seq for s in steps] == sorted(s.seq for s in steps)
        late = by_seq[steps[-1].seq]
        assert (late.actor, late.time) == ("p1", 600.0), cited  # the late, unfenced completion


def test_a_clock_skip_under_a_worker_is_part_of_its_story() -> None:
    def ev(seq: int, time: float, actor: str, role: str, kind: str, **detail: object) -> Event:
        return Event(seq, time, actor, role, kind, detail)

    claim = {"claimed": True, "reason": "claimed", "entry_id": 3, "claim_token": "x"}
    events = [
        ev(0, 0.0, "p3", "processor", "invoke", function="sync-threads-processor", record_id=3),
        ev(1, 0.0, "p3", "processor", "statement", outcome="ok", params={"entry_id": 3},
           sql="SELECT * FROM public.claim_thread(%(entry_id)s)", rows=[claim]),
        ev(2, 0.0, "engine", "engine", "fault", fault="clock_skip", live=["p3"], to=120.0,
           **{"from": 0.0}),
        ev(3, 120.0, "p3", "processor", "api", call="fetch_thread('thr_00002')",
           outcome="error", error="rate limited (injected fault)"),
        ev(4, 120.0, "p3", "processor", "reply", outcome="ok", status=200, body={}),
    ]  # fmt: skip
    history = History.of(events)
    violation = Violation("thread-exactly-once", "1 thread", ("entry 3 was completed twice",))
    owner = {a: lane for lane in lanes(history) for a in lane.actors}
    told = {s.seq: s.sentence for s in story(history, violation, owner)}
    assert told[2].startswith("t=0s: the clock jumped from t=0s to t=120s under processor #3")
    transcript = history.transcript()
    assert "clock_skip FIRED: the clock jumped from t=0s to t=120s under p3 mid-step" in transcript
    api = sentence(events[3], owner)
    assert api.endswith("called fetch_thread('thr_00002') → failed: rate limited (injected fault).")


def test_a_refused_delivery_is_told_as_refused() -> None:
    for outcome, words in (("unauthorized", "401"), ("connection_error", "connection error")):
        hook = {"function": "sync-threads-processor", "record_id": 2, "outcome": outcome}
        event = Event(0, 0.0, "engine", "engine", "delivery", hook)
        said = sentence(event, {})
        assert said.startswith("t=0s: the webhook sync-threads-processor #2 ") and words in said
        page = html_timeline(History.of([event]), "t")
        assert 'class="ev k-delivery bad"' in page


def test_the_page_is_self_contained(no_fencing: Verdict, bench: Workbench) -> None:
    verdicts = [no_fencing, replay(bench, "nonatomic_claim")]
    for verdict in verdicts:
        page = html_timeline(verdict.result.history, "t", verdict.violations)
        for remote in ("http://", "https://", "<script", "<link", "@import", "url(", "<img"):
            assert remote not in page, f"{verdict.scenario.name}: page has {remote!r}"


def test_write_history_writes_json_and_the_report(no_fencing: Verdict, tmp_path: Path) -> None:
    hist, page = write_history(no_fencing, tmp_path)
    data = json.loads(hist.read_text())
    assert data["verdict"] == "fail: thread-exactly-once, job-finishes-last, attempts-by-holder"
    assert [v["check"] for v in data["violations"]] == [
        "thread-exactly-once",
        "job-finishes-last",
        "attempts-by-holder",
    ]
    html = page.read_text(encoding="utf-8")
    assert page.name == "no_fencing.timeline.html" and "How it happened" in html
    # Both broken properties are named; the second, told by the same steps, points back at them
    # under the numbers they already have instead of numbering them again.
    assert "<b>thread-exactly-once</b> broke" in html and "<b>job-finishes-last</b> broke" in html
    assert html.count("<li value=") == 6 and "the same steps as above (" in html
    assert set(re.findall(r'<li value="(\d+)">', html)) == {str(n) for n in range(1, 7)}


def test_replay_with_history_writes_the_report(tmp_path: Path) -> None:
    code = main(["replay", str(MUTANTS / "nonatomic_claim.json"), "--history", str(tmp_path)])
    assert code == 0
    html = (tmp_path / "nonatomic_claim.timeline.html").read_text(encoding="utf-8")
    assert "page-exactly-once</b> broke" in html and "page-worker #1 · duplicate" in html


def test_a_lock_wait_names_its_blocker_in_the_page(ref_dsn: str) -> None:
    page = html_timeline(lock_wait(ref_dsn), "lock wait")
    assert 'class="blocker" data-blocker="a"' in page
    assert 'title="b waits for a lock held by a"' in page


def test_the_exploration_page_shows_coverage_and_links_findings(
    no_fencing: Verdict, tmp_path: Path
) -> None:
    result = ExploreResult(
        impl="harness.mutants.no_fencing:pipeline",
        seed=3,
        profile="ci",
        budget_s=10,
        runs=40,
        search_runs=30,
        wall_s=8.0,
    )
    result.found.append(
        FoundFailure(
            scenario=no_fencing.scenario,
            verdict=no_fencing,
            check="thread-exactly-once",
            shrink_runs=9,
            shrink_s=1.5,
            shrink_complete=True,
            time_to_first_failure_s=2.0,
            first_violated=["thread-exactly-once"],
            size=Size(14, 40, 1, 25, 8),
        )
    )
    # The explore engineer's ExploreResult.coverage; set by hand so this passes before and after.
    result.coverage = {"lease-expired-mid-work": 12, "fence-refused": 0}
    paths = write_explore(result, tmp_path, ["no_fencing-found"])
    page = paths[-1].read_text(encoding="utf-8")
    assert paths[-1].name == "explore.html"
    assert '<a href="no_fencing-found.timeline.html">' in page
    assert (tmp_path / "no_fencing-found.timeline.html").exists()
    assert 'data-situation="fence-refused"><td><code>' in page
    assert re.search(r'class="never" data-situation="fence-refused"', page)
    assert ">12</td>" in page and "never reached" in page
    # The shrunk run broke more than the property it was shrunk for: the page says so.
    assert (
        "thread-exactly-once<br><small>also broke: job-finishes-last, attempts-by-holder</small>"
        in page
    )


def test_the_exploration_page_says_when_nothing_was_found() -> None:
    result = ExploreResult(impl="x", seed=0, profile="ci", budget_s=1, runs=2, wall_s=1.0)
    page = html_explore(result)
    assert "no violation found" in page and "No violation found in this budget" in page


def test_explore_with_history_writes_its_page(tmp_path: Path) -> None:
    pages, found = tmp_path / "pages", tmp_path / "found"
    argv = ["explore", "--budget", "2", "--profile", "ci", "--save", str(found)]
    assert main([*argv, "--history", str(pages)]) == 0  # the reference: nothing to find
    page = (pages / "explore.html").read_text(encoding="utf-8")
    assert "exploration of threadsync.reference:pipeline: no violation found" in page
    assert not found.exists()


def test_past_the_lane_limit_uninvolved_deliveries_share_a_lane_per_function() -> None:
    events = [
        Event(n, 0.0, f"p{n}", "processor", "invoke",
              {"function": "sync-threads-processor", "record_id": n, "copy": 0, "request": n})
        for n in range(MOST_LANES + 5)
    ]  # fmt: skip
    found = lanes(History.of(events), keep={"p3"})
    labels = [lane.label for lane in found]
    assert labels == ["processor · 44 deliveries", "processor #3"]
    merged = found[0]
    assert merged.name("p7") == "processor #7" and "p3" not in merged.actors
    assert sorted(a for lane in found for a in lane.actors) == sorted(e.actor for e in events)
    assert len(lanes(History.of(events[:MOST_LANES]))) == MOST_LANES  # under it: one each
