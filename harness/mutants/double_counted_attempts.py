"""fail_page counts a failed attempt twice: its retry update adds one to `attempts`, which the
claim already did. A page whose fetch fails is then dead-lettered after fewer real attempts than
max_attempts (with max_attempts 5, three failures exhaust it). One failure already leaves a row
whose attempt count is not its number of claims: violates attempts-count-claims."""

from __future__ import annotations

from harness.mutants._base import from_patch

pipeline = from_patch(
    "double_counted_attempts",
    "fail_page",
    (
        "next_retry_at = retry_at,\n",
        "next_retry_at = retry_at,\n           attempts = p.attempts + 1,\n",
    ),
)
