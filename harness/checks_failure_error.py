"""The check that a recorded failure writes its own error into its row, retry or dead letter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checks_retry import (
    Item,
    _after_claim,
    _name,
    _stamp,
    _violation,
    recorded_failures,
    row_versions,
)

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation
    from harness.history import History
    from harness.state import FinalState


def forgotten_errors(state: FinalState, history: History) -> list[tuple[Item, str]]:
    """(row, what happened) for each failure answered as recorded whose own write (the row's
    next version, in the state and with the retry time the reply gave) does not carry the error
    its handler passed."""
    versions_of = row_versions(state)
    found = []
    for f in recorded_failures(history):
        if not f.error:
            continue
        held, nxt = _after_claim(versions_of.get(f.item, []), f.token)
        if held is None or nxt is None:
            continue  # the log never saw this claim, or nothing was written after it
        said = f.reply.get("status")
        promised, got = _stamp(f.reply.get("next_retry_at")), _stamp(nxt.get("next_retry_at"))
        if said is not None and nxt.get("status") != said:
            continue  # not this failure's write: failure-releases-claim's business
        if said == "pending" and promised is not None and promised != got:
            continue
        recorded = nxt.get("last_error")
        if isinstance(recorded, str) and f.error in recorded:
            continue
        now = f"last_error {recorded!r}" if recorded else "no last_error"
        found.append(
            (
                f.item,
                f"{f.actor}'s failure on {_name(f.item)} at t={f.time:g}s ({f.error!r}) was "
                f"recorded as {nxt.get('status')}, but the row it wrote has {now}",
            )
        )
    return found


def failure_records_its_error(inp: CheckInput) -> Violation | None:
    """A failure answered as recorded writes the error its handler reported into the row (a
    retry as much as a dead letter): the row always says why its last attempt failed."""
    return _violation(
        inp,
        "failure-records-its-error",
        forgotten_errors(inp.state, inp.history),
        "recorded failure left its error out of its row",
        "recorded failures left their errors out of their rows",
    )
