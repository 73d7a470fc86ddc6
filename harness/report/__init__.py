"""Reports of runs and explorations: text for terminals and CI logs, HTML for a person to read."""

from harness.report.explore_page import html_explore
from harness.report.files import write_explore, write_history
from harness.report.text import TRANSCRIPT_LINES, text_report, transcript_text
from harness.report.timeline import html_timeline

__all__ = [
    "TRANSCRIPT_LINES",
    "html_explore",
    "html_timeline",
    "text_report",
    "transcript_text",
    "write_explore",
    "write_history",
]
