"""Issue 9's reference as first shipped: no row level security and no revokes in `public`, so the
public anon key and any signed-in user can read, write and call everything: violates
no-public-access."""

from __future__ import annotations

from harness.mutants._base import mutant

# Shown in docs/mutants.md.
WHY_NOT_A_PATCH = "Its bug is in table settings and grants (ALTER TABLE, GRANT), not in a function."

pipeline = mutant("public_rls_off", sql=("public_rls_off",))
