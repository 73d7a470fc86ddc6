"""The incident report's Fix 2, a processor claim that marks the entry processed (and done) before
the work, with the thread written in a later statement, so a processor that dies in between loses
the thread while its entry looks done: violates no-lost-work."""

from __future__ import annotations

from harness.mutants._base import mutant

# SQL only: the reference processor's claim -> summarise -> complete sequence is exactly Fix 2's
# once claim_thread marks the entry processed and complete_thread merely writes the thread.
pipeline = mutant("processed_at_first", sql=("processed_at_first",))
