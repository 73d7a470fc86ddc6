"""Job completion at the right moment, under the job row's lock, but always as `completed`: a
job whose page or entry was dead-lettered looks like a clean sync. Violates job-status."""

from __future__ import annotations

from harness.mutants._base import from_patch

# SQL only: finish_job_if_done ignores the failure counters.
pipeline = from_patch(
    "completed_despite_dead_letters",
    "finish_job_if_done",
    (
        "CASE WHEN pages_failed + threads_failed > 0 THEN 'failed'::public.job_state\n"
        "                         ELSE 'completed'::public.job_state END",
        "'completed'::public.job_state",
    ),
)
