"""The check that every finished queue row and job says consistently how it finished."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.state import Row

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation

PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"
TERMINAL = ("done", "failed")


def _name(table: str, row: Row) -> str:
    if table == PAGE:
        return f"page {row['job_id']}:{row['page_number']} (id {row['id']})"
    return f"entry {row['id']} ({row.get('external_id')})"


def row_problems(table: str, row: Row) -> list[str]:
    """What is inconsistent in one queue row's record of how it finished."""
    status = str(row["status"])
    attempts, most = int(row["attempts"]), int(row["max_attempts"])
    name = f"{_name(table, row)}, {status}"
    problems = []
    if attempts > most:
        problems.append(f"{name}, made {attempts} attempts of at most {most}")
    if status not in TERMINAL:
        return problems  # still open: no-stuck-work's business
    # A row read without the column (an older capture) cannot be judged on it.
    if "finished_at" in row and row["finished_at"] is None:
        problems.append(f"{name}, has no finished_at")
    error = row.get("last_error")
    if status == "done" and error:
        problems.append(f"{name}, still carries the error of an earlier attempt: {error}")
    if status == "failed" and not error:
        problems.append(f"{name}, was dead-lettered without its error (last_error is empty)")
    return problems


def finished_rows_consistent(inp: CheckInput) -> Violation | None:
    """A done or dead-lettered item has its finish time; a done one carries no stale error and a
    dead-lettered one carries its error; no item made more attempts than its max_attempts; a
    finished job has its finish time."""
    from harness.checks import Violation, _few, related_steps

    problems: list[str] = []
    page_ids: list[int] = []
    entry_ids: list[int] = []
    for table, rows, ids in (
        (PAGE, inp.state.pages, page_ids),
        (ENTRY, inp.state.entries, entry_ids),
    ):
        for r in rows:
            found = row_problems(table, r)
            if found:
                ids.append(int(r["id"]))
                problems += found
    for j in inp.state.jobs:
        if j["status"] != "running" and "finished_at" in j and j["finished_at"] is None:
            problems.append(f"job {j['id']}, {j['status']}, has no finished_at")
    if not problems:
        return None
    count = len(problems)
    return Violation(
        "finished-rows-consistent",
        f"{count} finished row{'s' if count != 1 else ''} record{'' if count != 1 else 's'} "
        "their ending inconsistently",
        _few(problems),
        related_steps(inp.history, PAGE, page_ids) + related_steps(inp.history, ENTRY, entry_ids),
    )
