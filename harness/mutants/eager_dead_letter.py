"""A page worker that dead-letters a page on its first failed fetch instead of retrying with
backoff until max_attempts: a transient API error loses the page and every page after it, so it
violates no-dead-letter-without-cause (and no-lost-work)."""

from __future__ import annotations

from harness.mutants._base import mutant

pipeline = mutant("eager_dead_letter", sql=("eager_dead_letter",))
