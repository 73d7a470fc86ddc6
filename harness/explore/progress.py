"""Progress of long work: one self-updating line on a terminal, a plain line every few seconds
in a CI log (where carriage returns would pile up into one unreadable line)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

TTY_EVERY_S = 0.25
LOG_EVERY_S = 5.0


class Ticker:
    """`status(line)` as often as you like; `say(line)` for lines that must stay."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = TTY_EVERY_S if self.tty else LOG_EVERY_S
        self.last = float("-inf")
        self.shown = 0  # width of the status line on screen (TTY only)
        self.lock = threading.Lock()

    def status(self, line: str, *, force: bool = False) -> None:
        now = time.monotonic()
        with self.lock:
            if not force and now - self.last < self.every:
                return
            self.last = now
            if self.tty:
                pad = max(0, self.shown - len(line))
                self.stream.write("\r" + line + " " * pad)
                self.shown = len(line)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def say(self, line: str) -> None:
        with self.lock:
            self._clear()
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        with self.lock:
            self._clear()
            self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.shown = 0


@contextmanager
def heartbeat(ticker: Ticker, describe: Callable[[float], str]) -> Iterator[None]:
    """While the body runs, a background thread shows `describe(elapsed seconds)` on `ticker`
    (for one long run that has no progress of its own to report)."""
    stop = threading.Event()
    t0 = time.monotonic()

    def beat() -> None:
        while not stop.wait(ticker.every):
            ticker.status(describe(time.monotonic() - t0), force=True)

    thread = threading.Thread(target=beat, name="threadsync-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        ticker.close()


__all__ = ["Ticker", "heartbeat"]
