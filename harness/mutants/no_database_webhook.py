"""The row trigger queues nothing (`threadsync mutate`'s database_webhook:drop-statement:1: the
`PERFORM threadsync.call_function(...)` of threadsync.database_webhook is gone): no page row or
thread entry is announced when it is created, and the sweeper's re-send starts every item one emit
grace period later. Every outcome still holds: violates webhook-on-create."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("no_database_webhook", "database_webhook:drop-statement:1")
