"""Leases and a sweeper as in the reference but completions found by id alone (no token, no
status check), so a stalled worker whose lease expired and whose item was claimed again commits
its effects too: violates thread-exactly-once and page-exactly-once."""

from __future__ import annotations

from harness.mutants._base import mutant

# SQL only: the handlers pass their token as the reference's do; the functions ignore it.
pipeline = mutant("no_fencing", sql=("no_fencing",))
