"""The check that a queue row's attempt count is the number of claims it received, judged on the
row log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.checks_retry import Item, row_versions

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation
    from harness.state import FinalState

PAGE = "sync_page_queue"


def _is_claim(prev: Mapping[str, Any] | None, cur: Mapping[str, Any]) -> bool:
    """A version that starts a new attempt: the row became processing, or a processing row
    changed hands (a new claim token)."""
    if cur.get("status") != "processing":
        return False
    if prev is None or prev.get("status") != "processing":
        return True
    token = cur.get("claim_token")
    return token is not None and token != prev.get("claim_token")


def _name(item: Item) -> str:
    return f"page row {item[1]}" if item[0] == PAGE else f"entry {item[1]}"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def miscounted_attempts(state: FinalState) -> list[tuple[Item, str]]:
    """(row, what happened) for the first version of each row whose `attempts` differs from the
    number of claims its row received up to it: a claim that did not count, a write that counted
    an attempt nobody made, or a count that went back."""
    found = []
    for item, versions in row_versions(state).items():
        claims = 0
        prev: Mapping[str, Any] | None = None
        for cur in versions:
            attempts = _count(cur.get("attempts"))
            if attempts is None:
                break  # a pipeline whose rows count no attempts is not judged
            claimed = _is_claim(prev, cur)
            claims += claimed
            if attempts != claims:
                was = "" if prev is None else f" (it was {prev.get('attempts')})"
                if claimed:
                    what = "a claim"
                elif prev is None:
                    what = "its insert"
                else:
                    what = f"a write ({prev.get('status')} -> {cur.get('status')})"
                found.append(
                    (
                        item,
                        f"{_name(item)} records {attempts} attempts{was} after {what}, but it "
                        f"was claimed {claims} time{'s' if claims != 1 else ''}"
                        + (f" ({cur.get('last_error')})" if cur.get("last_error") else ""),
                    )
                )
                break
            prev = cur
    return found


def attempts_count_claims(inp: CheckInput) -> Violation | None:
    """Every committed version of a queue row counts in `attempts` exactly the claims the row
    received so far: a claim adds one, nothing else changes it (a failure, a rescue, a
    completion), so `max_attempts` bounds real attempts and a crash uses one up."""
    from harness.checks_retry import _violation

    return _violation(
        inp,
        "attempts-count-claims",
        miscounted_attempts(inp.state),
        "row's attempt count differs from its claims",
        "rows' attempt counts differ from their claims",
    )
