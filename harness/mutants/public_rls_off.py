"""Issue 9's reference as first shipped: no row level security and no revokes in `public`, so the
public anon key and any signed-in user can read, write and call everything: violates
no-public-access."""

from __future__ import annotations

from harness.mutants._base import mutant

pipeline = mutant("public_rls_off", sql=("public_rls_off",))
