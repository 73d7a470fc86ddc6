"""Mutants: the reference pipeline with one known bug each, for checking that the harness's checks
catch what they claim to. Load one with `--impl harness.mutants.<name>:pipeline`.

Each module's docstring names its bug and the check it should violate. A mutant built with
`from_patch` (or `mutant(patches=...)`) applies exact text edits to reference functions; one
built with `from_mutation` is one of `threadsync mutate`'s generated edits, named by its id:
neither copies SQL, and docs/mutants.md shows each bug as a diff. `harness/mutants/sql/` holds
only SQL that is no edit of a reference function (new functions, triggers, grants, stubs) and
`queries.sql` the statements mutant handlers send. Modules are imported only on demand.
"""

from __future__ import annotations

MUTANTS: dict[str, str] = {
    name: f"harness.mutants.{name}:pipeline"
    for name in (
        "polling_worker",
        "nonatomic_claim",
        "fallback_polling_processor",
        "webhook_filter",
        "no_recovery",
        "processed_at_first",
        "no_fencing",
        "job_completion_race",
        "stage_outside_transaction",
        "eager_dead_letter",
        "unguarded_claim",
        "queue_after_complete",
        "completed_despite_dead_letters",
        "fixed_batch_fetch",
        "public_rls_off",
        "rescue_by_id",
        "unlocked_complete_page",
        "insert_only_threads",
        "retry_keeps_processing",
        "done_keeps_error",
        "inverted_fence",
        "early_retry_claim",
        "retry_without_backoff",
        "failure_keeps_claim",
        "no_database_webhook",
        "resend_finished",
        "sweep_waits_for_worker",
        "double_counted_attempts",
        "retry_forgets_error",
        "resend_storm",
    )
}

__all__ = ["MUTANTS"]
