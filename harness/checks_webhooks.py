"""Checks on the webhooks a pipeline queues: one per new queue row, re-sent only for due work and
no sooner than the emit grace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from harness.state import FinalState, Row

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation

PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"
# The row log's kind for each queue table, and the Edge Function each table's webhook calls.
ROW_KIND = {PAGE: "page_row", ENTRY: "entry_row"}
FUNCTION = {PAGE: "sync-threads-page-worker", ENTRY: "sync-threads-processor"}
NAME = {PAGE: "page row", ENTRY: "entry"}


@dataclass(frozen=True)
class Request:
    """A webhook request queued into pg_net: the queue row it names, by whom, and when."""

    id: str
    table: str
    row_id: int
    txid: int
    seq: int | None  # the sender's commit order
    now: datetime | None  # the virtual clock of the sender's session


def requests(state: FinalState) -> list[Request]:
    """Every queued request whose body names a queue row (a Database Webhook's body:
    `{type, table, schema, record}`), in log order; other requests are not judged."""
    out = []
    for e in state.effects:
        if e["kind"] != "request_queued":
            continue
        detail = e["detail"]
        body = detail.get("body")
        if not isinstance(body, Mapping):
            continue
        table = body.get("table") or _table_of_url(str(detail.get("url") or ""))
        record = body.get("record")
        row_id = record.get("id") if isinstance(record, Mapping) else None
        if table not in ROW_KIND or not isinstance(row_id, int) or isinstance(row_id, bool):
            continue
        out.append(
            Request(str(e["key"]), table, row_id, int(e["txid"]), _seq(e), _time(detail.get("now")))
        )
    return out


def _table_of_url(url: str) -> str | None:
    function = url.rstrip("/").rsplit("/", 1)[-1]
    return next((t for t, f in FUNCTION.items() if f == function), None)


def _seq(effect: Row) -> int | None:
    value = effect.get("commit_seq")
    return None if value is None else int(value)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(str(value).replace(" ", "T"))
    except ValueError:
        return None
    # The clock and timestamptz columns carry an offset; one without is read as UTC, so the two
    # always compare.
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def versions(state: FinalState, table: str) -> dict[int, list[Row]]:
    """Every committed version of each row of a queue table, in commit order."""
    out: dict[int, list[Row]] = {}
    for e in state.effects:
        if e["kind"] == ROW_KIND[table] and _seq(e) is not None:
            out.setdefault(int(e["key"]), []).append(e)
    for rows in out.values():
        rows.sort(key=lambda r: (_seq(r), int(r["id"])))
    return out


def _created_in(rows: Iterable[Row]) -> int | None:
    """The transaction that inserted the row."""
    return next((int(r["txid"]) for r in rows if r["detail"].get("op") == "INSERT"), None)


def unannounced(state: FinalState) -> list[tuple[str, int, str]]:
    """(table, row id, what) for each queue row whose creating transaction queued no webhook
    naming it. Not judged when the run queued no request at all (a pipeline without pg_net)."""
    if not any(e["kind"] == "request_queued" for e in state.effects):
        return []
    sent = requests(state)
    announced = {(r.table, r.row_id, r.txid) for r in sent}
    found = []
    for table in (PAGE, ENTRY):
        for row_id, rows in sorted(versions(state, table).items()):
            txid = _created_in(rows)
            if txid is not None and (table, row_id, txid) not in announced:
                later = sum(1 for r in sent if (r.table, r.row_id) == (table, row_id))
                found.append(
                    (
                        table,
                        row_id,
                        f"{NAME[table]} {row_id} was created by transaction {txid}, which queued "
                        f"no webhook for it ({later} sent later by other transactions)",
                    )
                )
    return found


def undue_resends(state: FinalState) -> list[tuple[str, int, str]]:
    """(table, row id, what) for each webhook re-sent for an existing row (by a transaction other
    than the one that created it) that was not pending, or not yet due, as that transaction
    committed. Rows whose versions lack `status` (or `next_retry_at`, for due) are not judged."""
    rows_of = {table: versions(state, table) for table in (PAGE, ENTRY)}
    found = []
    for r in requests(state):
        rows = rows_of[r.table].get(r.row_id, [])
        if r.seq is None or _created_in(rows) in (None, r.txid):
            continue
        seen = [v for v in rows if (_seq(v) or 0) <= r.seq]
        if not seen:
            continue
        row = seen[-1]["detail"]
        status = row.get("status")
        what = f"{NAME[r.table]} {r.row_id}'s webhook was re-sent by transaction {r.txid}"
        if status is not None and status != "pending":
            found.append((r.table, r.row_id, f"{what}, which committed with the row {status}"))
            continue
        retry_at = _time(row.get("next_retry_at"))
        if status == "pending" and retry_at and r.now and retry_at > r.now:
            wait = (retry_at - r.now).total_seconds()
            found.append(
                (
                    r.table,
                    r.row_id,
                    f"{what} at {r.now:%H:%M:%S}, {wait:.1f}s before its retry was due "
                    f"(next_retry_at {retry_at:%H:%M:%S.%f})",
                )
            )
    return found


def hasty_resends(state: FinalState) -> list[tuple[str, int, str]]:
    """(table, row id, what) for each webhook sent for a queue row sooner than the emit grace
    (`threadsync.settings.emit_grace_seconds`) after the row's previous webhook, when no other
    transaction changed the row in between. Not judged without the setting, or for a request
    without a recorded clock."""
    grace = state.extra.get("emit_grace")
    if not grace:
        return []
    rows_of = {table: versions(state, table) for table in (PAGE, ENTRY)}
    sent: dict[tuple[str, int], list[tuple[int, datetime, Request]]] = {}
    for r in requests(state):
        if r.seq is not None and r.now is not None:
            sent.setdefault((r.table, r.row_id), []).append((r.seq, r.now, r))
    found = []
    for (table, row_id), rs in sorted(sent.items()):
        rs.sort(key=lambda x: (x[0], x[2].id))
        rows = rows_of[table].get(row_id, [])
        for (a_seq, a_now, a), (b_seq, b_now, b) in pairwise(rs):
            if a.txid == b.txid or any(
                a_seq < (_seq(v) or 0) <= b_seq and int(v["txid"]) not in (a.txid, b.txid)
                for v in rows
            ):
                continue
            gap = (b_now - a_now).total_seconds()
            if gap < grace - 1e-6:
                found.append(
                    (
                        table,
                        row_id,
                        f"{NAME[table]} {row_id}'s webhook was sent again by transaction {b.txid} "
                        f"at {b_now:%H:%M:%S}, {gap:.1f}s after transaction {a.txid} sent it at "
                        f"{a_now:%H:%M:%S}, with the row unchanged in between (emit grace "
                        f"{grace:g}s)",
                    )
                )
    return found


def _violation(
    inp: CheckInput, check: str, summary: str, found: list[tuple[str, int, str]]
) -> Violation:
    from harness.checks import Violation, _few, related_steps

    pages = sorted({i for t, i, _ in found if t == PAGE})
    entries = sorted({i for t, i, _ in found if t == ENTRY})
    return Violation(
        check,
        summary,
        _few([text for _, _, text in found]),
        related_steps(inp.history, PAGE, pages) + related_steps(inp.history, ENTRY, entries),
    )


def webhook_on_create(inp: CheckInput) -> Violation | None:
    """Every page row and thread entry is announced by a webhook queued in the very transaction
    that created it (a Database Webhook on INSERT): the sweeper's re-send is the fallback for a
    lost delivery, not the way work starts."""
    found = unannounced(inp.state)
    if not found:
        return None
    n = len(found)
    return _violation(
        inp,
        "webhook-on-create",
        f"{n} queue row{'s were' if n != 1 else ' was'} created by a transaction that queued no "
        "webhook naming it",
        found,
    )


def resends_only_due_work(inp: CheckInput) -> Violation | None:
    """A webhook re-sent for an existing queue row is sent only for a row that, as the sending
    transaction commits, is pending and due (its next_retry_at passed on the sender's clock)."""
    found = undue_resends(inp.state)
    if not found:
        return None
    n = len(found)
    return _violation(
        inp,
        "resends-only-due-work",
        f"{n} webhook{'s were' if n != 1 else ' was'} re-sent for work that was finished, "
        "claimed or not yet due",
        found,
    )


def resends_wait_for_grace(inp: CheckInput) -> Violation | None:
    """A queue row's webhook is not sent again sooner than the emit grace after the last one while
    the row stays unchanged: the sweeper's re-send is a slow fallback for a lost delivery, and a
    sweep that re-sends the same waiting row at every tick floods the Edge Functions."""
    found = hasty_resends(inp.state)
    if not found:
        return None
    n = len(found)
    return _violation(
        inp,
        "resends-wait-for-grace",
        f"{n} webhook{'s were' if n != 1 else ' was'} re-sent for an unchanged row sooner than "
        "the emit grace after the previous one",
        found,
    )
