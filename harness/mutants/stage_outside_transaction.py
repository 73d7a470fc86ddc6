"""A page worker that stages a page's threads in one transaction and completes the page in a
later one, with non-idempotent staging, so a crash between the two gets the page re-fetched and
its threads staged and processed twice: violates thread-exactly-once."""

from __future__ import annotations

import json

from harness.mutants import _reference_text
from harness.mutants._base import edits, mq, mutant
from threadsync.page_worker import TABLE
from threadsync.pipeline import Context, Reply
from threadsync.provider import ProviderError
from threadsync.queries import q
from threadsync.webhook import BadWebhook, row_id


def handle(ctx: Context, body: str | bytes) -> Reply:
    """Serve a page webhook: claim, fetch, stage (commit), then complete (another commit)."""
    try:
        page_id = row_id(body, TABLE)
    except BadWebhook as exc:
        return Reply(400, {"outcome": "rejected", "error": str(exc)})
    if ctx.api is None:
        raise RuntimeError("the page worker needs a threads API in its context (ctx.api)")

    (claim,) = ctx.db.query(q("claim_page"), {"page_id": page_id})
    if not claim["claimed"]:
        return Reply(200, {"outcome": "noop", "page_id": page_id, "reason": claim["reason"]})
    token = claim["claim_token"]
    try:
        page = ctx.api.fetch_page(claim["cursor"], claim["page_size"])
    except ProviderError as exc:
        error = f"threads API: {exc}"
        (failed,) = ctx.db.query(
            q("fail_page"),
            {"page_id": page_id, "token": token, "error": error, "retry_after": exc.retry_after},
        )
        outcome = "dead-letter" if failed["status"] == "failed" else "retry"
        if not failed["recorded"]:
            outcome = "noop"
        return Reply(503, {"outcome": outcome, "page_id": page_id, "error": error})

    threads = json.dumps(list(page.threads))
    # THE BUG: this commits on its own. A crash after it and before complete_page leaves the
    # threads staged and queued while the page stays processing, to be fetched and staged again.
    (staged,) = ctx.db.query(
        mq("stage_page"), {"page_id": page_id, "token": token, "threads": threads}
    )
    if not staged["staged"]:
        return Reply(200, {"outcome": "noop", "page_id": page_id, "reason": staged["reason"]})
    (done,) = ctx.db.query(
        q("complete_page"),
        {"page_id": page_id, "token": token, "threads": threads, "next_cursor": page.next_cursor},
    )
    if not done["completed"]:
        return Reply(200, {"outcome": "noop", "page_id": page_id, "reason": done["reason"]})
    return Reply(
        200,
        {
            "outcome": "done",
            "page_id": page_id,
            "staged": staged["n_staged"],
            "next_page_id": done["next_page_id"],
        },
    )


# complete_page no longer stages: stage_page (SQL of this mutant's own, with the constraint that
# made staging idempotent dropped) did that in an earlier transaction. p_threads only gives the
# page's thread count; the signature stays, so the page worker's call is unchanged.
COMPLETE_ONLY = edits(
    "complete_page",
    (
        "    n_staged integer;\n    n_queued integer;\n",
        "    n_threads integer := jsonb_array_length(p_threads);\n",
    ),
    (
        "    WITH staged AS (\n"
        "        INSERT INTO public.thread_stage"
        " (job_id, page_id, external_id, payload, source_updated_at)\n"
        "        SELECT q.job_id, q.id, th ->> 'id', th, (th ->> 'updated_at')::timestamptz\n"
        "          FROM jsonb_array_elements(p_threads) WITH ORDINALITY AS x (th, ord)\n"
        "         ORDER BY ord\n"
        "        -- A thread already staged by this job (the API repeated it)"
        " is not staged again.\n"
        "        ON CONFLICT (job_id, external_id) DO NOTHING\n"
        "        RETURNING id\n" + _reference_text.QUEUED_CTE + "\n",
        "",
    ),
    ("thread_count = n_staged,", "thread_count = n_threads,"),
    (
        "           pages_done = j.pages_done + 1,\n"
        "           threads_open = j.threads_open + n_queued\n",
        "           pages_done = j.pages_done + 1\n",
    ),
    ("'completed'::text, n_staged, n_queued, next_id", "'completed'::text, n_threads, 0, next_id"),
)

pipeline = mutant(
    "stage_outside_transaction",
    patches=(COMPLETE_ONLY,),
    sql=("stage_outside_transaction",),
    page_worker=handle,
)
