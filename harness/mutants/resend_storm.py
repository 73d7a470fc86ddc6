"""The sweep's re-send of a waiting page does not push its emit_after on (`threadsync mutate`'s
sweep:drop-set-column:19, drop `emit_after = t + make_interval(secs => s.emit_grace_seconds),`):
a page whose webhook went unanswered is sent again at every sweeper tick instead of once per
emit grace. Claims refuse the extra copies, so nothing is processed twice or lost, but every
waiting row floods the Edge Functions: violates resends-wait-for-grace."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("resend_storm", "sweep:drop-set-column:19")
