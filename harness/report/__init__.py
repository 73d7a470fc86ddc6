"""Reports of runs and explorations: text for terminals and CI logs, HTML for a person to read.

The names are imported on first use: the HTML modules are most of the cost, and a command that
prints only text (a replay without --history) should not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.report.explore_page import html_explore
    from harness.report.files import write_explore, write_history
    from harness.report.text import TRANSCRIPT_LINES, text_report, transcript_text
    from harness.report.timeline import html_timeline

_WHERE = {
    "TRANSCRIPT_LINES": "text",
    "html_explore": "explore_page",
    "html_timeline": "timeline",
    "text_report": "text",
    "transcript_text": "text",
    "write_explore": "files",
    "write_history": "files",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "TRANSCRIPT_LINES",
    "html_explore",
    "html_timeline",
    "text_report",
    "transcript_text",
    "write_explore",
    "write_history",
]
