"""Seed issue 3, a processor that falls back to polling for the oldest unprocessed entry (in any
state, claimed by id alone) when its payload is malformed or its entry is not claimable, so a
duplicate or bad delivery processes an entry it did not name, even one another worker holds:
violates thread-exactly-once (and the 400-for-malformed rule)."""

from __future__ import annotations

from harness.mutants import _first_finish, _reference_text
from harness.mutants._base import edits, mq, mutant
from threadsync.pipeline import Context, Reply, Row
from threadsync.processor import TABLE, process_claimed
from threadsync.queries import q
from threadsync.webhook import BadWebhook, row_id


def poll(ctx: Context) -> int | None:
    """The seed's fallback query: the oldest entry with processed_at IS NULL, whatever its state."""
    found = ctx.db.query(mq("poll_unprocessed_entry"))
    return int(found[0]["id"]) if found else None


def mark_processing(ctx: Context, entry_id: int) -> Row:
    """The fallback's claim: an UPDATE by id alone, which takes over a live claim too."""
    (claim,) = ctx.db.query(mq("seed_mark_entry_processing"), {"entry_id": entry_id})
    return claim


def process(ctx: Context, entry_id: int, token: object, payload: object) -> Reply:
    """The reference processor after its claim: read the thread, process it, complete (or fail)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        error = f"entry {entry_id}: payload is not a thread"
        (failed,) = ctx.db.query(
            q("fail_thread"),
            {"entry_id": entry_id, "token": token, "error": error, "retry_after": None},
        )
        outcome = "dead-letter" if failed["status"] == "failed" else "retry"
        return Reply(500, {"outcome": outcome, "entry_id": entry_id, "error": error})
    return process_claimed(ctx, entry_id, token, payload["id"])


def fallback(ctx: Context, why: str) -> Reply:
    """Issue 3: instead of a no-op, process whatever entry polling finds."""
    entry_id = poll(ctx)
    if entry_id is None:
        return Reply(200, {"outcome": "noop", "reason": f"{why}; no unprocessed entry"})
    claim = mark_processing(ctx, entry_id)
    return process(ctx, entry_id, claim["claim_token"], claim["payload"])


def handle(ctx: Context, body: str | bytes) -> Reply:
    """Serve a processor webhook, falling back to polling whenever the named entry is no use."""
    try:
        entry_id = row_id(body, TABLE)
    except BadWebhook as exc:
        # The seed's `body?.record?.id` was simply missing: it polled rather than refusing.
        return fallback(ctx, f"bad payload ({exc})")
    (claim,) = ctx.db.query(q("claim_thread"), {"entry_id": entry_id})
    if not claim["claimed"]:
        return fallback(ctx, f"entry {entry_id}: {claim['reason']}")
    return process(ctx, entry_id, claim["claim_token"], claim["payload"])


# The seed's thread completion: it had no claim token, so completion is fenced by status alone.
# With the fallback's claim by id alone, a worker that polled an entry before its owner completed
# it re-opens the entry and writes the thread a second time.
SEED_COMPLETION = edits(
    "complete_thread",
    _first_finish.THREAD[0],
    (
        _reference_text.ENTRY_FENCE_REFUSAL,
        "    -- THE BUG: p_token is ignored; any worker that set the entry to processing may\n"
        "    -- complete it.\n"
        "    IF e.status <> 'processing' THEN\n"
        "        RETURN QUERY SELECT false, ('entry is ' || e.status)::text;\n",
    ),
    _first_finish.THREAD[1],
)

pipeline = mutant("fallback_polling_processor", patches=(SEED_COMPLETION,), processor=handle)
