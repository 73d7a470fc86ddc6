"""What repeated syncs must leave behind: per job its source version, per thread its newest version.

Plain functions of a run's final state and of the source versions its syncs saw (see
harness.resync); harness.checks turns what they find into violations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness.fakeapi import Dataset, cursor_version
from harness.history import History
from harness.state import FinalState, Row
from threadsync.processor import content_hash, summarise
from threadsync.provider import ProviderError


def judged_syncs(history: History, syncs: int, jobs: int) -> int:
    """How many of a run's syncs, the first and `syncs` further ones in order, the checks judge:
    every one up to the last that started a job. A sync whose orchestrator an injected fault broke
    (a server restart killed its connection) started nothing, so the source versions after the
    last sync that did start are nobody's to sync. Every sync is judged unless the jobs number
    exactly the syncs no fault broke: a start whose reply was lost may still have committed."""
    from harness.checks_errors import broken_by_faults

    broken = broken_by_faults(history)
    unbroken = [k for k in range(syncs + 1) if f"o{k + 1}" not in broken]
    if jobs != len(unbroken):
        return syncs + 1
    return unbroken[-1] + 1 if unbroken else 0


def job_versions(state: FinalState, sources: Sequence[Dataset]) -> dict[int, list[int]]:
    """Per job, the source versions its pages may have listed, newest first.

    A job's first page lists the version current when it is fetched and every cursor the API
    hands out pins that version, so a job's later pages name it. A job with no later page may
    have listed any version; a job whose pages name several lists them all (a bug to report).
    """
    named: dict[int, set[int]] = {int(j["id"]): set() for j in state.jobs}
    for p in state.pages:
        cursor = p.get("cursor")
        if cursor is None or int(p["page_number"]) < 2:
            continue
        try:
            version = cursor_version(str(cursor))
        except ProviderError:
            continue  # not a cursor the API handed out: the fetch itself was refused
        if version < len(sources):
            named.setdefault(int(p["job_id"]), set()).add(version)
    every = list(range(len(sources) - 1, -1, -1))
    return {job: sorted(v, reverse=True) if v else every for job, v in named.items()}


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class _Version:
    index: int  # the first source version that has this content
    updated_at: float  # 0 when the source gave none
    thread: Mapping[str, Any]

    @property
    def dated(self) -> bool:
        return self.thread.get("updated_at") is not None


def _known(sources: Sequence[Dataset]) -> dict[str, dict[str, _Version]]:
    """Per thread id, its contents by content hash."""
    out: dict[str, dict[str, _Version]] = {}
    for index, source in enumerate(sources):
        for t in source.threads:
            per = out.setdefault(str(t["id"]), {})
            digest = content_hash(t)
            if digest not in per:
                per[digest] = _Version(index, _epoch(t.get("updated_at")) or 0.0, t)
    return out


def _as_of(sources: Sequence[Dataset], thread_id: str, version: int) -> Mapping[str, Any] | None:
    """The thread as the API serves it once `version` is current (removed: its last listing)."""
    for source in reversed(sources[: version + 1]):
        thread = source.by_id.get(thread_id)
        if thread is not None:
            return thread
    return None


def _version_at(sync_seqs: Sequence[int], seq: int | None) -> int:
    """The newest source version current when a commit with this seq happened."""
    if seq is None:
        return 0
    return max((k for k, at in enumerate(sync_seqs) if at < seq), default=0)


_COLUMNS = ("subject", "participants", "message_count", "last_message_at", "source_updated_at")


def _value(column: str, value: Any) -> Any:
    """A column's value in a form that compares: sorted lists, times as epoch seconds."""
    if value is None:
        return None
    if column == "participants":
        return sorted(value)
    if column in ("last_message_at", "source_updated_at"):
        epoch = _epoch(value)
        return None if epoch is None else round(epoch, 3)
    return value


def _left_over(row: Row, held: _Version, others: Sequence[_Version]) -> list[str]:
    """The columns of a `threads` row left from another version of its thread than the one its
    content is: an update that skipped them. (A column no version has is the processing's own
    business, not a version's.)"""
    want = summarise(held.thread)
    out = []
    for column in _COLUMNS:
        if column not in row:
            continue
        got, expected = _value(column, row[column]), _value(column, want[column])
        if got == expected:
            continue
        for other in others:
            if _value(column, summarise(other.thread)[column]) == got:
                shown = _when(got) if column.endswith("_at") and got is not None else repr(got)
                out.append(f"{column} is version {other.index}'s ({shown})")
                break
    return out


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "NULL"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def newest_version_problems(
    state: FinalState, sources: Sequence[Dataset], sync_seqs: Sequence[int]
) -> tuple[list[str], set[int]]:
    """What is wrong with the versions `threads` holds, and the entries involved.

    No column of a row may be left from another version of its thread than the one its content
    is; the versions written to a thread, in commit order, never go back in time; and a row holds
    at least the version any completed entry of its thread must have read: an entry queued after
    a sync changed the source reads the thread (at the earliest) as that sync left it.
    """
    known = _known(sources)
    problems: list[str] = []
    entry_ids: set[int] = set()
    held: dict[str, _Version] = {}
    for row in state.threads:
        tid = str(row["external_id"])
        version = known.get(tid, {}).get(str(row["content_hash"]))
        if version is None:
            continue  # content no version had: the processing's business (no-lost-work's)
        held[tid] = version
        others = [v for v in known[tid].values() if v is not version]
        wrong = _left_over(row, version, others)
        if wrong:
            problems.append(
                f"thread {tid} holds version {version.index}'s content but its "
                + "; ".join(wrong[:3])
            )
    problems += _overwrites(state, known)
    queued_at = {
        int(key): rows[0].get("commit_seq")
        for key, rows in state.effects_of("entry_queued").items()
    }
    for entry in state.entries:
        tid = str(entry.get("external_id"))
        if entry["status"] != "done" or tid not in held:
            continue
        seq = queued_at.get(int(entry["id"]))
        current = _version_at(sync_seqs, None if seq is None else int(seq))
        least = _as_of(sources, tid, current)
        # Undated versions cannot be ordered by time (a pipeline must order them some other
        # way, the reference by job): only no-lost-work judges them, at the end.
        if least is None or not held[tid].dated or least.get("updated_at") is None:
            continue
        floor = _epoch(least["updated_at"]) or 0.0
        if held[tid].updated_at < floor:
            entry_ids.add(int(entry["id"]))
            problems.append(
                f"thread {tid} holds the version updated at {_when(held[tid].updated_at)}, but "
                f"entry {entry['id']} of job {entry['job_id']}, queued after sync {current + 1} "
                f"started, completed having read the one updated at {_when(floor)} or newer"
            )
    return problems, entry_ids


def _overwrites(state: FinalState, known: Mapping[str, Mapping[str, _Version]]) -> list[str]:
    """Writes to `threads` that replaced a newer version with an older one, in commit order."""
    problems = []
    for tid, writes in sorted(state.effects_of("thread_written").items()):
        ordered = sorted(writes, key=lambda w: (w.get("commit_seq") or 0, int(w["id"])))
        newest: _Version | None = None
        for w in ordered:
            version = known.get(tid, {}).get(str(w["detail"].get("content_hash")))
            if version is None:
                continue
            # An undated version cannot be known older: it may replace or be replaced.
            if (
                newest is not None
                and version.dated
                and newest.dated
                and version.updated_at < newest.updated_at
            ):
                problems.append(
                    f"thread {tid}: job {w['detail'].get('job_id')} wrote the version updated at "
                    f"{_when(version.updated_at)} over the newer one updated at "
                    f"{_when(newest.updated_at)}"
                )
                break
            newest = version
    return problems


__all__ = ["job_versions", "newest_version_problems"]
