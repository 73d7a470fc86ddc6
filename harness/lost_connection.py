"""How an error is written down: a lost connection in the same words whichever libpq call
noticed it, so that a run and its replay record it alike."""

from __future__ import annotations

import re

# libpq names the call that found a terminated backend's socket closed: reading the answer, or
# flushing the query. Which one depends on timing, so the same lost connection was recorded as
# "consuming input failed: ..." in one run and "flushing failed: ..." in another, and a replay
# of reference/kill-connection differed from its first run (tests/test_reset.py, under load).
# Every call psycopg names that way is listed ("flush request", a pipeline's, was missing: the
# TypeScript port's kill-connection run differed from its repeat in CI).
_LIBPQ_CALL = re.compile(
    r"^(?:consuming input|flushing|flush request|fetching results?|receiving copy data"
    r"|sending (?:query(?: and params)?|prepared query|describe (?:portal|prepared)"
    r"|close (?:portal|prepared)|copy (?:data|end))) failed: "
)


def recorded_error(exc: BaseException) -> str:
    """An exception's text as a history records it: without the libpq call that noticed a lost
    connection."""
    return _LIBPQ_CALL.sub("", str(exc))


__all__ = ["recorded_error"]
