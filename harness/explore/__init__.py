"""Exploration (`threadsync explore`): a swarm search for a violating run, with coverage of rare
situations. `strategies` says what is drawn; `search` runs, steers, shrinks and confirms;
`results` holds what it found and its coverage; `progress` shows it live; `parallel` spreads
one exploration over processes or CI shards."""

from harness.explore.results import ExploreResult, FlakyFailure, FoundFailure, Size, summary
from harness.explore.search import PROFILES, Limits, explore, save_found
from harness.explore.strategies import (
    FUNCTIONS,
    RULE_KINDS,
    datasets,
    fault_plans,
    fault_plans_for,
    fault_rules,
    scenario_settings,
    scenarios,
    schedules,
    swarm,
)

__all__ = [
    "FUNCTIONS",
    "PROFILES",
    "RULE_KINDS",
    "ExploreResult",
    "FlakyFailure",
    "FoundFailure",
    "Limits",
    "Size",
    "datasets",
    "explore",
    "fault_plans",
    "fault_plans_for",
    "fault_rules",
    "save_found",
    "scenario_settings",
    "scenarios",
    "schedules",
    "summary",
    "swarm",
]
