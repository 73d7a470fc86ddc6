"""threadsync in your own test suite: explore a pipeline, run scenarios, add your own invariants.

The pytest plugin (loaded automatically once threadsync is installed) adds fixtures
(`threadsync_server`, `threadsync_workbench`, `threadsync_db`), options (`--threadsync-impl`,
`--threadsync-budget`, `--threadsync-profile`, `--threadsync-dsn`) and collects saved scenario
files as test items. See docs/testing.md.
"""

from threadsync.testing._api import ViolationFound, explore, run, scenarios
from threadsync.testing._checks import CheckInput, Violation, register_check

__all__ = [
    "CheckInput",
    "Violation",
    "ViolationFound",
    "explore",
    "register_check",
    "run",
    "scenarios",
]
