"""A page worker that dead-letters a page on its first failed fetch instead of retrying with
backoff until max_attempts: a transient API error loses the page and every page after it, so it
violates no-dead-letter-without-cause (and no-lost-work)."""

from __future__ import annotations

from harness.mutants._base import from_patch

# SQL only: fail_page's dead-letter branch is taken on the first attempt.
pipeline = from_patch(
    "eager_dead_letter",
    "fail_page",
    ("IF q.attempts >= q.max_attempts THEN", "IF q.attempts >= 1 THEN"),
)
