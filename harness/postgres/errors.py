"""The one exception a server set-up problem raises, and helpers that keep its message one line."""

from __future__ import annotations


class EnvironmentProblem(Exception):
    """A set-up problem the user must fix; str(e) is one line: what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str) -> str:
    """Collapse any text into a single line for an error message."""
    return " ".join(str(text).split())


def first_line(text: str) -> str:
    """Return the first non-empty line of a (server or libpq) error message."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip()
