"""A deliberately broken copy of the reference: claim without the status guard. claim_page finds
the page by id and due time alone, so a duplicate webhook re-claims a page that is processing or
done, with a fresh token, and processes it again: violates page-exactly-once (on a one-page job
the job counters' CHECK refuses the second completion, which leaves the page processing for good:
no-stuck-work and job-completes-once)."""

from __future__ import annotations

from harness.mutants._base import mutant

# SQL only: the reference page worker calls claim_page as before; the function no longer refuses.
pipeline = mutant("unguarded_claim", sql=("unguarded_claim",))
