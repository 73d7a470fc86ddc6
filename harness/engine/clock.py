"""The virtual clock: seconds since a fixed start instant, moved only by the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 1, tzinfo=UTC)


class VirtualClock:
    """Virtual float seconds since `start`; `sql_value()` is what `SET threadsync.now` gets."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.now = 0.0
        # Bumped on every move, so a connection can tell cheaply whether its setting is stale.
        self.version = 0

    def advance_to(self, seconds: float) -> None:
        if seconds < self.now:
            raise ValueError(f"the clock cannot go back: now {self.now}, asked for {seconds}")
        if seconds > self.now:
            self.now = seconds
            self.version += 1

    def advance(self, seconds: float) -> None:
        self.advance_to(self.now + seconds)

    def at(self, seconds: float | None = None) -> datetime:
        return self.start + timedelta(seconds=self.now if seconds is None else seconds)

    def sql_value(self) -> str:
        return self.at().isoformat()


__all__ = ["START", "VirtualClock"]
