"""Properties of a finished run, read from its history and final database state, explained in words.

Each check is a plain function `(CheckInput) -> Violation | None`. `CHECKS` declares them once, in
the order a report lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.access import no_public_access
from harness.attribution import events_for, targets
from harness.checks_attempts import attempts_count_claims
from harness.checks_errors import no_unexpected_errors
from harness.checks_failure_error import failure_records_its_error
from harness.checks_holder import attempts_by_holder
from harness.checks_locks import sweep_skips_held_work
from harness.checks_resync import job_versions, newest_version_problems
from harness.checks_retry import (
    failure_backs_off,
    failure_releases_claim,
    retry_waits_for_its_time,
)
from harness.checks_rows import finished_rows_consistent
from harness.checks_webhooks import (
    resends_only_due_work,
    resends_wait_for_grace,
    webhook_on_create,
)
from harness.fakeapi import Dataset
from harness.history import Event, History
from harness.state import FinalState, Row
from threadsync.processor import content_hash

SHOWN = 8  # rows named per violation; the summary says how many there are in all
PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"


@dataclass(frozen=True)
class Violation:
    """A property that failed: which, one sentence, the rows involved, the steps that led there."""

    check: str
    summary: str
    rows: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [f"{self.check}: {self.summary}"]
        lines += [f"  row: {r}" for r in self.rows]
        lines += [f"  step: {s}" for s in self.steps]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "summary": self.summary,
            "rows": list(self.rows),
            "steps": list(self.steps),
        }


@dataclass(frozen=True)
class CheckInput:
    """What every check reads.

    `injected` counts, per (table, row id), the attempts that an injected fault made fail (an API
    fault, a crash, a killed connection, a stall past the lease): the only excuse for lost or
    dead-lettered work.
    """

    history: History
    state: FinalState
    dataset: Dataset
    page_size: int
    injected: Mapping[tuple[str, int], int] = field(default_factory=dict)
    # With further syncs (harness.resync): the source as each sync found it, `dataset` being the
    # last, and per sync the last commit (harness.commit_seq) before it started.
    sources: tuple[Dataset, ...] = ()
    sync_seqs: tuple[int, ...] = ()
    # The last syncs that never started a job, because an injected fault broke their start
    # (checks_resync.judged_syncs): no job was there to list the source versions they found.
    unstarted: int = 0

    @property
    def versions(self) -> tuple[Dataset, ...]:
        return self.sources or (self.dataset,)


Check = Callable[[CheckInput], "Violation | None"]


def _few(items: list[str]) -> tuple[str, ...]:
    shown = items[:SHOWN]
    if len(items) > SHOWN:
        shown.append(f"... and {len(items) - SHOWN} more")
    return tuple(shown)


def _txids(effects: Iterable[Row]) -> list[int]:
    return sorted({int(e["txid"]) for e in effects})


def related_steps(
    history: History, table: str, ids: Iterable[int], limit: int = 12
) -> tuple[str, ...]:
    """The deliveries, replies and faults that concerned these rows, as transcript lines."""
    owner = targets(history)
    lines = []
    for e in events_for(history, table, ids)[-limit:]:
        line = describe(e)
        if e.actor in owner and e.detail.get("record_id") is None:
            line += f" #{owner[e.actor][1]}"
        lines.append(line)
    return tuple(lines)


def describe(event: Event) -> str:
    """One event in words: time, actor, what happened."""
    d = event.detail
    parts = [f"t={event.time:g}s", event.actor, event.kind]
    if d.get("function"):
        parts.append(str(d["function"]))
    if d.get("record_id") is not None:
        parts.append(f"#{d['record_id']}")
    for key in ("copy", "outcome", "fault", "at_step", "delay"):
        if d.get(key) not in (None, "", 0):
            parts.append(f"{key}={d[key]}")
    body = d.get("body")
    if isinstance(body, dict) and body.get("reason"):
        parts.append(f"({body['reason']})")
    return " ".join(parts)


def page_exactly_once(inp: CheckInput) -> Violation | None:
    """Each page's effects (its staged threads, its next page, its completion): one transaction."""
    st = inp.state
    problems: list[str] = []
    ids: set[int] = set()
    page_by_id = {int(p["id"]): p for p in st.pages}
    for key, done in st.effects_of("page_done").items():
        txids = _txids(done)
        if len(txids) > 1:
            page_id = int(done[0]["detail"]["page_id"])
            ids.add(page_id)
            problems.append(f"page {key} (id {page_id}) was completed by {len(txids)} transactions")
    for key, queued in st.effects_of("page_queued").items():
        if len(queued) > 1:
            page_ids = [int(q["detail"]["page_id"]) for q in queued]
            ids.update(page_ids)
            problems.append(f"page {key} was queued {len(queued)} times (rows {page_ids})")
    staged_by_page: dict[int, list[Row]] = {}
    for key, staged in st.effects_of("thread_staged").items():
        for s in staged:
            staged_by_page.setdefault(int(s["detail"]["page_id"]), []).append(s)
        if len(staged) > 1:
            pages = sorted({int(s["detail"]["page_id"]) for s in staged})
            ids.update(pages)
            problems.append(f"thread {key} was staged {len(staged)} times (by page rows {pages})")
    done_tx = {
        int(e["detail"]["page_id"]): int(e["txid"])
        for effects in st.effects_of("page_done").values()
        for e in effects
    }
    for page_id, staged in sorted(staged_by_page.items()):
        outside = sorted({int(s["txid"]) for s in staged} - {done_tx.get(page_id, -1)})
        if outside and page_id in page_by_id:
            ids.add(page_id)
            page = page_by_id[page_id]
            problems.append(
                f"page {page['job_id']}:{page['page_number']} (id {page_id}, now {page['status']}) "
                f"staged threads in {len(outside)} transaction(s) other than the one completing it"
            )
    if not problems:
        return None
    return Violation(
        "page-exactly-once",
        f"{len(problems)} page effects were not committed exactly once, together",
        _few(problems),
        related_steps(inp.history, PAGE, ids),
    )


def thread_exactly_once(inp: CheckInput) -> Violation | None:
    """Each source thread's processing (its write to `threads`) committed exactly once."""
    problems = []
    several = len(inp.state.jobs) > 1
    for key, writes in sorted(inp.state.effects_of("thread_written").items()):
        # Each job processes a thread once: a later sync writing it again is not a repeat.
        by_job: dict[object, list[Row]] = {}
        for w in writes:
            by_job.setdefault(w["detail"].get("job_id") if several else None, []).append(w)
        for job, own in sorted(by_job.items(), key=lambda item: str(item[0])):
            txids = _txids(own)
            if len(txids) > 1:
                problems.append(
                    f"thread {key} was written to `threads` by {len(txids)} transactions"
                    + (f" of job {job}" if several else "")
                )
    entry_ids = []
    for key, done in sorted(inp.state.effects_of("entry_done").items()):
        if len(_txids(done)) > 1:
            entry_ids.append(int(key))
            problems.append(f"entry {key} was completed by {len(_txids(done))} transactions")
    if not problems:
        return None
    by_thread = {str(e["external_id"]): int(e["id"]) for e in inp.state.entries}
    thread_of = {str(e["id"]): str(e["external_id"]) for e in inp.state.entries}
    named: set[str] = set()  # a thread and its own queue entry are one thread, counted once
    for p in problems:
        kind, name = p.split()[:2]
        named.add(name if kind == "thread" else thread_of.get(name, f"entry {name}"))
        if name in by_thread:
            entry_ids.append(by_thread[name])
    count = len(named)
    return Violation(
        "thread-exactly-once",
        f"{count} thread{'s were' if count != 1 else ' was'} processed more than once",
        _few(problems),
        related_steps(inp.history, ENTRY, entry_ids),
    )


def _excused_failures(inp: CheckInput) -> tuple[dict[int, int], set[int]]:
    """Per job, the first page number dead-lettered for an injected cause; excused entry ids."""
    first_excused_page: dict[int, int] = {}
    for p in inp.state.pages:
        if p["status"] == "failed" and _caused(inp, PAGE, p):
            job = int(p["job_id"])
            first_excused_page[job] = min(
                first_excused_page.get(job, 1 << 30), int(p["page_number"])
            )
    entries = {
        int(e["id"])
        for e in inp.state.entries
        if e["status"] == "failed" and _caused(inp, ENTRY, e)
    }
    return first_excused_page, entries


def _caused(inp: CheckInput, table: str, row: Row) -> bool:
    """Injected faults broke enough attempts to exhaust them: the only excuse for a dead letter."""
    return inp.injected.get((table, int(row["id"])), 0) >= int(row["max_attempts"])


def no_lost_work(inp: CheckInput) -> Violation | None:
    """Every source thread reaches `threads` with its latest content, unless an injected cause
    dead-lettered its page (or an earlier page of its job) or its entry."""
    synced = {str(t["external_id"]): t["content_hash"] for t in inp.state.threads}
    first_failed, failed_entries = _excused_failures(inp)
    excused_threads = {
        str(e["external_id"]) for e in inp.state.entries if int(e["id"]) in failed_entries
    }
    # The source as the last sync that started a job listed it. A fetch by id serves the
    # source as it is now, so a thread may rightly hold a version found after that sync.
    last = len(inp.versions) - 1 - inp.unstarted
    source = inp.versions[last] if last >= 0 else Dataset(inp.dataset.seed, ())
    newer = inp.versions[max(last, 0) :]
    if len(inp.versions) > 1:
        # Only a job that listed that version excuses its later pages.
        listed = job_versions(inp.state, inp.versions)
        first_failed = {j: n for j, n in first_failed.items() if last in listed.get(j, [last])}
    cutoff = min(first_failed.values(), default=None)
    problems = []
    lost_entries = []
    entry_of = {str(e["external_id"]): e for e in inp.state.entries}
    staged_of = _staged_by_thread(inp.state)
    queued_of = {
        int(q["detail"]["stage_id"]): int(key)
        for key, rows in inp.state.effects_of("entry_queued").items()
        for q in rows
    }
    for index, thread in enumerate(source.threads):
        tid = str(thread["id"])
        page_number = index // inp.page_size + 1
        if tid in excused_threads or (cutoff is not None and page_number >= cutoff):
            continue
        if tid not in synced:
            if any(tid not in v.by_id for v in newer[1:]):
                # An unstarted sync's version removed it: the API had moved on to that version
                # before a started job's first fetch, so that job may rightly not list it.
                continue
            entry = entry_of.get(tid)
            if entry:
                lost_entries.append(int(entry["id"]))
            where = _where_lost(tid, page_number, entry, staged_of.get(tid, []), queued_of)
            problems.append(f"thread {tid} never reached `threads`: {where}")
        elif synced[tid] not in {content_hash(v.by_id[tid]) for v in newer if tid in v.by_id}:
            problems.append(f"thread {tid} in `threads` differs from the source's latest content")
    if not problems:
        return None
    return Violation(
        "no-lost-work",
        f"{len(problems)} of {len(source.threads)} source threads are missing or stale",
        _few(problems),
        related_steps(inp.history, ENTRY, lost_entries),
    )


def _staged_by_thread(state: FinalState) -> dict[str, list[Row]]:
    """Committed stagings per external thread id, in log order."""
    out: dict[str, list[Row]] = {}
    for rows in state.effects_of("thread_staged").values():
        for r in rows:
            out.setdefault(str(r["detail"]["external_id"]), []).append(r)
    return out


def _where_lost(
    tid: str, page_number: int, entry: Row | None, staged: list[Row], queued_of: dict[int, int]
) -> str:
    """What became of a thread that never reached `threads`, as far as the log tells."""
    if entry:
        return f"its entry {entry['id']} is {entry['status']}"
    if not staged:
        return f"it was never staged (page {page_number})"
    stage_ids = [int(r["detail"]["stage_id"]) for r in staged if "stage_id" in r["detail"]]
    queued = [queued_of[s] for s in stage_ids if s in queued_of]
    page_rows = sorted({int(r["detail"]["page_id"]) for r in staged})
    if queued:
        return (
            f"it was staged by page row {page_rows[0]} and queued as entry {queued[0]}, "
            "but that queue row is gone (wiped, e.g. an unlogged table lost in a restart)"
        )
    return f"it was staged by page row {page_rows[0]} but never queued for processing"


def no_stuck_work(inp: CheckInput) -> Violation | None:
    """Once faults stopped, deliveries drained and the sweeper ran past every lease and backoff,
    every queue row is terminal and every job finished."""
    problems = []
    pages, entries = [], []
    for p in inp.state.pages:
        if p["status"] in ("pending", "processing"):
            pages.append(int(p["id"]))
            problems.append(
                f"page {p['job_id']}:{p['page_number']} (id {p['id']}) stuck {p['status']}, "
                f"attempt {p['attempts']} of {p['max_attempts']}"
                + (f", lease until {p['locked_until']}" if p["locked_until"] else "")
                + (f", last error: {p['last_error']}" if p["last_error"] else "")
            )
    for e in inp.state.entries:
        if e["status"] in ("pending", "processing"):
            entries.append(int(e["id"]))
            problems.append(
                f"entry {e['id']} ({e['external_id']}) stuck {e['status']}, "
                f"attempt {e['attempts']} of {e['max_attempts']}"
                + (f", last error: {e['last_error']}" if e["last_error"] else "")
            )
    for j in inp.state.jobs:
        if j["status"] == "running":
            problems.append(f"job {j['id']} is still running")
    if not problems:
        return None
    return Violation(
        "no-stuck-work",
        f"{len(problems)} rows never reached a terminal state after the run quiesced",
        _few(problems),
        related_steps(inp.history, PAGE, pages) + related_steps(inp.history, ENTRY, entries),
    )


def job_completes_once(inp: CheckInput) -> Violation | None:
    """Each job is finished exactly once, by a transaction that saw none of its work still open."""
    problems = []
    for key, finishes in sorted(inp.state.effects_of("job_finished").items()):
        txids = _txids(finishes)
        if len(txids) > 1:
            problems.append(f"job {key} was finished by {len(txids)} transactions")
        for f in finishes:
            d = f["detail"]
            if int(d.get("open_pages", 0)) or int(d.get("open_entries", 0)):
                problems.append(
                    f"job {key} was marked {d.get('status')} while {d.get('open_pages')} pages "
                    f"and {d.get('open_entries')} entries were still open"
                )
    if not problems:
        return None
    return Violation(
        "job-completes-once", f"{len(problems)} job completions went wrong", _few(problems)
    )


# Effects of a job's work, and where each keeps its job id.
_WORK_EFFECTS = (
    "page_queued",
    "page_done",
    "page_failed",
    "thread_staged",
    "entry_queued",
    "entry_done",
    "entry_failed",
    "thread_written",
)


def _job_of(effect: Row) -> int | None:
    job = effect["detail"].get("job_id")
    if job is None and ":" in str(effect["key"]):
        job = str(effect["key"]).split(":", 1)[0]
    return None if job is None else int(job)


def _seq(effect: Row) -> int | None:
    value = effect.get("commit_seq")
    return None if value is None else int(value)


def job_finishes_last(inp: CheckInput) -> Violation | None:
    """In commit order, a job finishes only when all of its work is terminal, and nothing happens
    to its work after it finished (no page queued or completed, no thread staged, queued,
    processed or dead-lettered)."""
    st = inp.state
    finished_at: dict[int, int] = {}
    for key, finishes in st.effects_of("job_finished").items():
        seqs = [q for q in (_seq(f) for f in finishes) if q is not None]
        if seqs:
            finished_at[int(key)] = min(seqs)
    if not finished_at:
        return None
    problems: list[str] = []
    page_ids: set[int] = set()
    entry_ids: set[int] = set()
    late: dict[int, list[str]] = {}
    # Per work item: when it was queued and when it became terminal, in commit order.
    opened: dict[tuple[str, int], tuple[int, int]] = {}  # (table, id) -> (job, seq)
    closed: dict[tuple[str, int], int] = {}
    for e in st.effects:
        kind = str(e["kind"])
        if kind not in _WORK_EFFECTS:
            continue
        job, seq = _job_of(e), _seq(e)
        if job is None or seq is None or job not in finished_at:
            continue
        item = _item_of(e)
        if seq > finished_at[job]:
            late.setdefault(job, []).append(f"{kind} {e['key']}")
            if item is not None:
                (page_ids if item[0] == PAGE else entry_ids).add(item[1])
        if item is None:
            continue
        if kind in ("page_queued", "entry_queued"):
            opened.setdefault(item, (job, seq))
        elif kind in ("page_done", "page_failed", "entry_done", "entry_failed"):
            closed[item] = min(closed.get(item, seq), seq)
    for job, what in sorted(late.items()):
        problems.append(
            f"job {job} had finished when {len(what)} effects of its work committed: "
            + ", ".join(what[:4])
            + (" ..." if len(what) > 4 else "")
        )
    still_open: dict[int, list[str]] = {}
    for (table, ident), (job, seq) in sorted(opened.items()):
        if seq <= finished_at[job] and closed.get((table, ident), 1 << 62) > finished_at[job]:
            name = "page row" if table == PAGE else "entry"
            still_open.setdefault(job, []).append(f"{name} {ident}")
            (page_ids if table == PAGE else entry_ids).add(ident)
    for job, items in sorted(still_open.items()):
        problems.append(
            f"job {job} finished while {len(items)} of its work items were not terminal: "
            + ", ".join(items[:4])
            + (" ..." if len(items) > 4 else "")
        )
    if not problems:
        return None
    return Violation(
        "job-finishes-last",
        f"{len(problems)} jobs finished before their work did",
        _few(problems),
        related_steps(inp.history, PAGE, page_ids) + related_steps(inp.history, ENTRY, entry_ids),
    )


def _item_of(effect: Row) -> tuple[str, int] | None:
    """The queue row an effect is about, if it names one."""
    kind, d = str(effect["kind"]), effect["detail"]
    if kind.startswith("page_"):
        return (PAGE, int(d["page_id"]))
    if kind.startswith("entry_"):
        return (ENTRY, int(effect["key"]))
    return None


def job_status(inp: CheckInput) -> Violation | None:
    """A finished job is `failed` exactly when some page or entry of it was dead-lettered, and
    `completed` otherwise."""
    problems = []
    failed: dict[int, list[str]] = {}
    for table, rows in ((PAGE, inp.state.pages), (ENTRY, inp.state.entries)):
        for r in rows:
            if r["status"] == "failed":
                failed.setdefault(int(r["job_id"]), []).append(f"{table} row {r['id']}")
    for j in inp.state.jobs:
        status, job = str(j["status"]), int(j["id"])
        if status == "running":
            continue  # no-stuck-work's business
        dead = failed.get(job, [])
        want = "failed" if dead else "completed"
        if status != want:
            why = (
                f"{len(dead)} of its items were dead-lettered ({', '.join(dead[:3])})"
                if dead
                else "nothing of it was dead-lettered"
            )
            problems.append(f"job {job} is {status}, but {why}: it should be {want}")
    if not problems:
        return None
    return Violation(
        "job-status", f"{len(problems)} jobs finished with the wrong status", _few(problems)
    )


def pages_match_source(inp: CheckInput) -> Violation | None:
    """The pages queued for a job are the pages of the source version it listed, none missing and
    none extra (up to the first dead-lettered page, after which none may exist), each holding that
    page's threads."""
    problems: list[str] = []
    ids: set[int] = set()
    staged: dict[int, set[str]] = {}
    for rows in inp.state.effects_of("thread_staged").values():
        for r in rows:
            staged.setdefault(int(r["detail"]["page_id"]), set()).add(
                str(r["detail"]["external_id"])
            )
    listed = job_versions(inp.state, inp.versions) if len(inp.versions) > 1 else {}
    for j in inp.state.jobs:
        job = int(j["id"])
        size = int(j.get("page_size") or inp.page_size)
        pages = [p for p in inp.state.pages if int(p["job_id"]) == job]
        candidates = listed.get(job, [0])
        if len(inp.versions) > 1 and not _single_version(pages, candidates):
            ids.update(int(p["id"]) for p in pages)
            problems.append(f"job {job}: its pages' cursors name source versions {candidates}")
            continue
        # A job that named no version may have listed any: it passes if one of them fits.
        found: list[str] = []
        for version in candidates:
            found, found_ids = _page_problems(
                job, size, pages, inp.versions[version].pages(size), staged
            )
            if not found:
                break
        if found:
            problems += found
            ids.update(found_ids)
    if not problems:
        return None
    return Violation(
        "pages-match-source",
        f"{len(problems)} differences between the queued pages and the source's pages",
        _few(problems),
        related_steps(inp.history, PAGE, ids),
    )


def _single_version(pages: list[Row], candidates: list[int]) -> bool:
    named = any(p.get("cursor") is not None and int(p["page_number"]) >= 2 for p in pages)
    return len(candidates) == 1 or not named


def _page_problems(
    job: int,
    size: int,
    pages: list[Row],
    source: list[list[dict[str, Any]]],
    staged: Mapping[int, set[str]],
) -> tuple[list[str], set[int]]:
    """How one job's pages differ from one source version's pages."""
    problems: list[str] = []
    ids: set[int] = set()
    failed = [int(p["page_number"]) for p in pages if p["status"] == "failed"]
    last = min([len(source), *failed])
    numbers = sorted(int(p["page_number"]) for p in pages)
    missing = sorted(set(range(1, last + 1)) - set(numbers))
    extra = sorted({n for n in numbers if not 1 <= n <= last})
    if missing:
        problems.append(
            f"job {job}: the source has {len(source)} pages of {size}, pages {missing} "
            "were never queued"
        )
    if extra:
        ids.update(int(p["id"]) for p in pages if int(p["page_number"]) in extra)
        problems.append(
            f"job {job}: pages {extra} were queued, but the source has {len(source)} pages "
            f"of {size}" + (f" and page {min(failed)} was dead-lettered" if failed else "")
        )
    # A thread the listing repeats is one thread: staged by the first page that lists it.
    earlier: list[set[str]] = [set()]
    for listed in source:
        earlier.append(earlier[-1] | {str(t["id"]) for t in listed})
    for p in pages:
        number = int(p["page_number"])
        if p["status"] != "done" or not 1 <= number <= len(source):
            continue
        want = {str(t["id"]) for t in source[number - 1]} - earlier[number - 1]
        got = staged.get(int(p["id"]), set())
        if got != want:
            ids.add(int(p["id"]))
            problems.append(
                f"page {job}:{number} (id {p['id']}) staged {len(got)} threads, the source's "
                f"page {number} has {len(want)}"
                + (f"; not in it: {sorted(got - want)[:3]}" if got - want else "")
                + (f"; missing: {sorted(want - got)[:3]}" if want - got else "")
            )
    return problems, ids


def newest_version(inp: CheckInput) -> Violation | None:
    """Every row of `threads` holds one version of its thread (no column left from another),
    never replaced by an older version, and at least as new as what its completed entries read."""
    problems, entry_ids = newest_version_problems(inp.state, inp.versions, inp.sync_seqs)
    if not problems:
        return None
    return Violation(
        "newest-version",
        f"{len(problems)} threads do not hold the newest version synced",
        _few(problems),
        related_steps(inp.history, ENTRY, entry_ids),
    )


def no_dead_letter_without_cause(inp: CheckInput) -> Violation | None:
    """Nothing is dead-lettered unless injected faults failed every one of its attempts."""
    problems = []
    page_ids: list[int] = []
    entry_ids: list[int] = []
    for table, rows, ids in (
        (PAGE, inp.state.pages, page_ids),
        (ENTRY, inp.state.entries, entry_ids),
    ):
        for r in rows:
            if r["status"] == "failed" and not _caused(inp, table, r):
                ids.append(int(r["id"]))
                injected = inp.injected.get((table, int(r["id"])), 0)
                problems.append(
                    f"{table} row {r['id']} dead-lettered after {r['attempts']} of "
                    f"{r['max_attempts']} attempts, {injected} broken by injected faults: "
                    f"{r['last_error']}"
                )
    if not problems:
        return None
    return Violation(
        "no-dead-letter-without-cause",
        f"{len(problems)} rows were dead-lettered without an injected cause",
        _few(problems),
        related_steps(inp.history, PAGE, page_ids) + related_steps(inp.history, ENTRY, entry_ids),
    )


CHECKS: dict[str, Check] = {
    "page-exactly-once": page_exactly_once,
    "thread-exactly-once": thread_exactly_once,
    "no-lost-work": no_lost_work,
    "no-stuck-work": no_stuck_work,
    "job-completes-once": job_completes_once,
    "no-dead-letter-without-cause": no_dead_letter_without_cause,
    "job-finishes-last": job_finishes_last,
    "job-status": job_status,
    "pages-match-source": pages_match_source,
    "no-public-access": no_public_access,
    "no-unexpected-errors": no_unexpected_errors,
    "finished-rows-consistent": finished_rows_consistent,
    "attempts-by-holder": attempts_by_holder,
    "newest-version": newest_version,
    "retry-waits-for-its-time": retry_waits_for_its_time,
    "failure-backs-off": failure_backs_off,
    "failure-releases-claim": failure_releases_claim,
    "webhook-on-create": webhook_on_create,
    "resends-only-due-work": resends_only_due_work,
    "resends-wait-for-grace": resends_wait_for_grace,
    "sweep-skips-held-work": sweep_skips_held_work,
    "attempts-count-claims": attempts_count_claims,
    "failure-records-its-error": failure_records_its_error,
}


def run_checks(inp: CheckInput, names: Iterable[str] | None = None) -> list[Violation]:
    """Every violation found, in `CHECKS` order."""
    selected = list(CHECKS) if names is None else list(names)
    unknown = [n for n in selected if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check {unknown[0]!r}; known checks: {', '.join(CHECKS)}")
    found = (CHECKS[n](inp) for n in selected)
    return [v for v in found if v is not None]
