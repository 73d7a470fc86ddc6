"""The HTML reports as a person sees them: rendered by a real headless chromium on a laptop-sized
screen, asserting on the rendered page, not on its source.

Skipped, with the reason shown, where Debian's chromium and chromedriver are not installed
(`apt-get install -y chromium chromium-driver`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import LAPTOP, chrome, missing, open_file
from reportcases import SHOWN, lock_wait, replay

from harness.explore import ExploreResult, FoundFailure, Size
from harness.postgres import Server
from harness.replay import Verdict, Workbench
from harness.report import html_timeline, write_explore, write_history

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"no browser: {missing()}")

HIGHLIGHT = "rgb(255, 241, 168)"  # tr.cited td in timeline.STYLE
NEVER, NEVER_RGBA = "rgb(255, 243, 196)", "rgba(255, 243, 196, 1)"  # tr.never td, explore page


@pytest.fixture(scope="module")
def verdicts(pg_server: Server) -> Iterator[dict[str, Verdict]]:
    bench = Workbench(pg_server)
    try:
        yield {name: replay(bench, name) for name in SHOWN}
    finally:
        bench.close()


@pytest.fixture(scope="module")
def pages(
    verdicts: dict[str, Verdict], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reports")
    return {name: write_history(v, folder)[1] for name, v in verdicts.items()}


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with chrome(LAPTOP) as d:
        yield d


def _rect(driver: Any, element: Any) -> dict[str, float]:
    return dict(
        driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", element)
    )


@pytest.mark.parametrize("name", SHOWN)
def test_the_verdict_sentences_are_visible_above_the_fold(
    driver: Any, pages: dict[str, Path], verdicts: dict[str, Verdict], name: str
) -> None:
    open_file(driver, pages[name])
    height = driver.execute_script("return window.innerHeight")
    violations = verdicts[name].violations
    # The race broke its property and job-finishes-last (no_fencing: attempts-by-holder too).
    assert len(violations) >= 2
    says = driver.find_elements("css selector", ".violation .says")
    assert len(says) == len(violations)
    for sentence, violation in zip(says, violations, strict=True):
        assert sentence.text.startswith(f"{violation.check} broke: {violation.summary}")
    # The first violation's story is told in full; the second broke by the same steps.
    steps = driver.find_elements("css selector", ".violation:first-of-type ol.story li")
    assert 3 <= len(steps) <= 6
    same = driver.find_element("css selector", ".violation:nth-of-type(2) .same")
    assert same.text.startswith("How it happened: the same steps as above (1, 2, 3")
    for item in [*says, *steps, same]:
        box = _rect(driver, item)
        assert item.is_displayed() and item.text.strip()
        assert box["top"] >= 0 and box["bottom"] <= height, f"{item.text!r} is below the fold"


@pytest.mark.parametrize("name", SHOWN)
def test_the_page_fits_a_laptop_screen_without_horizontal_scrolling(
    driver: Any, pages: dict[str, Path], name: str
) -> None:
    open_file(driver, pages[name])
    scroll, client = driver.execute_script(
        "const d = document.documentElement; return [d.scrollWidth, d.clientWidth]"
    )
    assert client == LAPTOP[0] and scroll <= client


@pytest.mark.parametrize("name", SHOWN)
def test_each_actor_has_one_lane(
    driver: Any, pages: dict[str, Path], verdicts: dict[str, Verdict], name: str
) -> None:
    open_file(driver, pages[name])
    history = verdicts[name].result.history
    heads = driver.find_elements("css selector", "th.lh")
    keys = [h.get_attribute("data-lane") for h in heads]
    labels = [h.text for h in heads]
    assert len(set(keys)) == len(keys) and len(set(labels)) == len(labels) and all(labels)
    deliveries = {e.actor for e in history.events if e.role in ("processor", "page_worker")}
    shared = {e.role for e in history.events if e.role in ("engine", "orchestrator", "sweeper")}
    assert len(heads) == len(deliveries) + len(shared)  # every sweeper tick shares one lane
    assert labels.count("sweeper") == ("sweeper" in shared)
    # Every rendered step sits in its actor's one lane: the same lane for every step of an
    # actor, and the step's marker drawn in that lane's column and no other.
    lane_of: dict[str, str] = {}
    rows = driver.execute_script(
        """return [...document.querySelectorAll('tr.ev')].map(tr => [
             tr.dataset.actor, tr.dataset.lane,
             [...tr.querySelectorAll('td.l')].map((td, i) => td.querySelector('b.m') ? i : -1)
               .filter(i => i >= 0)])"""
    )
    assert rows
    for actor, lane, marked in rows:
        assert lane_of.setdefault(actor, lane) == lane, f"{actor} drawn in two lanes"
        assert marked == [keys.index(lane)], f"{actor}'s step is marked in columns {marked}"
    sweepers = {a for a in lane_of if history.by_actor(a)[0].role == "sweeper"}
    assert {lane_of[a] for a in sweepers} == ({"sweeper"} if sweepers else set())


@pytest.mark.parametrize("name", SHOWN)
def test_the_cited_steps_are_highlighted_and_linked(
    driver: Any, pages: dict[str, Path], name: str
) -> None:
    open_file(driver, pages[name])
    driver.execute_script(
        "document.querySelectorAll('.violation details').forEach(d => d.open = true)"
    )
    # Every link of every story, and the number it is shown under: its list item's, or its own
    # text where a later violation points back at steps already told.
    links = driver.find_elements("css selector", ".violation a[data-seq]")
    numbers = driver.execute_script(
        "return arguments[0].map(a => a.closest('li') ? a.closest('li').value : +a.textContent)",
        links,
    )
    assert len(links) > 6  # the first story's steps, and the second violation's links to them
    targets = sorted({link.get_attribute("href").rsplit("#", 1)[1] for link in links})
    for link, n in zip(links, numbers, strict=True):
        target = link.get_attribute("href").rsplit("#", 1)[1]
        driver.execute_script("window.scrollTo(0, 0)")
        link.click()
        row = driver.find_element("id", target)
        assert "cited" in row.get_attribute("class").split()
        what = row.find_element("css selector", "td.what")
        assert what.value_of_css_property("background-color") in (
            HIGHLIGHT,
            "rgba(255, 241, 168, 1)",
        )
        assert row.find_element("css selector", ".badge").text == str(n)
        box = _rect(driver, row)
        height = driver.execute_script("return window.innerHeight")
        assert 0 <= box["top"] < height, f"the link to {target} did not bring it into view"
    highlighted = driver.find_elements("css selector", "tr.cited")
    assert len(highlighted) == len(targets)


def test_a_blocked_statement_shows_its_blocker(driver: Any, ref_dsn: str, tmp_path: Path) -> None:
    page = tmp_path / "lock.html"
    page.write_text(html_timeline(lock_wait(ref_dsn), "lock wait"), encoding="utf-8")
    open_file(driver, page)
    (blocked,) = driver.find_elements("css selector", "tr.blocked")
    assert blocked.get_attribute("data-actor") == "b"
    assert blocked.is_displayed()
    assert "UPDATE t SET v = v + 10 WHERE id = %(id)s RETURNING v [id=1]" in blocked.text
    assert blocked.text.endswith("<waiting …> for a lock held by a")
    blocker = blocked.find_element("css selector", ".blocker")
    assert blocker.text == "a" and blocker.value_of_css_property("font-weight") == "700"
    # The wait is a span in b's lane, each cell naming the blocker; a's transaction a span too.
    keys = [h.get_attribute("data-lane") for h in driver.find_elements("css selector", "th.lh")]
    waits = driver.execute_script(
        """return [...document.querySelectorAll('td.l.wait')].map(td =>
             [td.cellIndex - 1, td.title])"""
    )
    assert waits and all(col == keys.index("b") for col, _ in waits)
    assert {title for _, title in waits} == {"b waits for a lock held by a"}
    in_txn = driver.execute_script(
        "return [...document.querySelectorAll('td.l.txn')].map(td => td.cellIndex - 1)"
    )
    assert len(in_txn) >= 3 and set(in_txn) == {keys.index("a")}


def test_the_exploration_page_shows_coverage_and_opens_each_finding(
    driver: Any, verdicts: dict[str, Verdict], tmp_path: Path
) -> None:
    verdict = verdicts["no_fencing"]
    result = ExploreResult(
        impl=verdict.scenario.impl, seed=1, profile="ci", budget_s=5, runs=7, wall_s=5.0
    )
    result.found.append(
        FoundFailure(
            scenario=verdict.scenario,
            verdict=verdict,
            check="thread-exactly-once",
            shrink_runs=3,
            shrink_s=1.0,
            shrink_complete=True,
            time_to_first_failure_s=1.0,
            first_violated=["thread-exactly-once"],
            size=Size(14, 40, 1, 25, 8),
        )
    )
    result.coverage = {"lease-expired-mid-work": 4, "fence-refused": 0}
    open_file(driver, write_explore(result, tmp_path, ["found-0"])[-1])
    never = driver.find_element("css selector", 'tr[data-situation="fence-refused"]')
    assert never.is_displayed() and never.text.endswith("never")
    cell = never.find_element("css selector", "td")
    assert cell.value_of_css_property("background-color") in (NEVER, NEVER_RGBA)
    reached = driver.find_element("css selector", 'tr[data-situation="lease-expired-mid-work"]')
    assert reached.text.endswith("4")
    driver.find_element("link text", "timeline").click()
    assert driver.title == (
        "found-0: fail: thread-exactly-once, job-finishes-last, attempts-by-holder"
    )
    says = driver.find_elements("css selector", ".violation .says")
    assert [s.text.split(" broke:")[0] for s in says] == [v.check for v in verdict.violations]
    assert all(s.is_displayed() for s in says)
