"""The reference's claim without its status guard: claim_page finds the page by id and due time
alone, so a duplicate webhook re-claims a page that is processing or done, with a fresh token, and
processes it again: violates page-exactly-once (on a one-page job the job counters' CHECK refuses
the second completion, which leaves the page processing for good: no-stuck-work and
job-completes-once)."""

from __future__ import annotations

from harness.mutants._base import from_patch

# SQL only: the reference page worker calls claim_page as before; the function no longer refuses.
pipeline = from_patch(
    "unguarded_claim",
    "claim_page",
    (
        "WHERE p.id = p_page_id AND p.status = 'pending' AND p.next_retry_at <= t",
        "WHERE p.id = p_page_id AND p.next_retry_at <= t",
    ),
)
