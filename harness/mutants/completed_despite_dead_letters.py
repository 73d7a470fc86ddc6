"""Job completion at the right moment, under the job row's lock, but always as `completed`: a
job whose page or entry was dead-lettered looks like a clean sync. Violates job-status."""

from __future__ import annotations

from harness.mutants._base import mutant

# SQL only: finish_job_if_done ignores the failure counters.
pipeline = mutant("completed_despite_dead_letters", sql=("completed_despite_dead_letters",))
