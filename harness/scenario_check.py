"""Range checks for a scenario's numbers: dataset, settings, every fault rule's fields.

The limits are documented in docs/scenarios.md; each is far above anything a useful scenario needs
and low enough that no value can make a run hang, overflow or build an unbounded dataset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_SCENARIO_THREADS = 10_000
MAX_RUN_THREADS = 100_000
MAX_PAGE_SIZE = 1000
DAY = 86_400.0
MAX_INDEX = 1_000_000  # request index, occurrence, API call index, delivery count
MAX_STEP = 100_000
MAX_POINT = 1_000_000  # a statement's pause points: one per clock read, and per row written
MAX_COPIES = 100
MAX_SEED = 2**63 - 1
API_KINDS = ("rate_limit", "server_error", "timeout")
MAX_SYNCS = 20  # further syncs of one scenario
MAX_CHANGED = 1000  # threads one further sync updates, adds or removes
MAX_SYNC_AT = 3600.0  # a further sync starts within the first hour, well inside a run's 6 h

# name: (type, lowest, highest); a float field must also be finite.
SETTINGS: dict[str, tuple[type, float, float]] = {
    "page_lease_seconds": (int, 1, DAY),
    "thread_lease_seconds": (int, 1, DAY),
    "max_attempts": (int, 1, 100),
    "backoff_base_seconds": (float, 0.001, DAY),
    "backoff_cap_seconds": (float, 0.001, 7 * DAY),
    "emit_grace_seconds": (int, 1, DAY),
}

_MATCH: dict[str, tuple[type, float, float, bool]] = {
    "index": (int, 0, MAX_INDEX, True),
    "occurrence": (int, 0, MAX_INDEX, True),
}
_RESTART: dict[str, tuple[type, float, float, bool]] = {
    "at_time": (float, 0, 7 * DAY, True),
    "after_delivery": (int, 0, MAX_INDEX, True),
    "queued": (int, 0, MAX_INDEX, True),
}
# Per rule type, each numeric field: (type, lowest, highest, may be null).
RULE_FIELDS: dict[str, dict[str, tuple[type, float, float, bool]]] = {
    "Drop": _MATCH,
    "Early": _MATCH,
    "Duplicate": {**_MATCH, "copies": (int, 1, MAX_COPIES, False)},
    "Delay": {**_MATCH, "seconds": (float, 0, DAY, False)},
    "Crash": {**_MATCH, "at_step": (int, 0, MAX_STEP, False)},
    "KillConnection": {**_MATCH, "at_step": (int, 0, MAX_STEP, False)},
    "Stall": {
        **_MATCH,
        "at_step": (int, 0, MAX_STEP, False),
        "seconds": (float, 0, DAY, False),
    },
    "CallerTimeout": {
        **_MATCH,
        "after_steps": (int, 0, MAX_STEP, True),
        "seconds": (float, 0, DAY, True),
    },
    "ApiFaults": {},
    "RestartServer": _RESTART,
    "CleanRestart": _RESTART,
    "SlowSteps": {"times": (int, 0, MAX_STEP, False), "seconds": (float, 0, DAY, False)},
    "BatchResend": {"batch": (int, 0, MAX_INDEX, True), "delay": (float, 0, DAY, False)},
    "BatchTimeout": {
        "batch": (int, 0, MAX_INDEX, True),
        "after_steps": (int, 0, MAX_STEP, False),
    },
    "Pause": {
        **_MATCH,
        "at_step": (int, 0, MAX_STEP, False),
        "at_point": (int, 0, MAX_POINT, False),
        "resume_after_steps": (int, 0, MAX_STEP, True),
        "seconds": (float, 0, DAY, False),
    },
}


class RangeError(ValueError):
    """A value is of the wrong type or outside its documented range; the message names it."""


def _is_number(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, int | float)


def number(value: Any, name: str, kind: type, low: float, high: float) -> None:
    """Refuse `value` unless it is a `kind` (an int is a float too), finite, within [low, high]."""
    if not _is_number(value, kind):
        raise RangeError(f"{name} must be {kind.__name__}, got {value!r} ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise RangeError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise RangeError(f"{name} must be in {_num(low)}..{_num(high)}, got {_num(value)}")


def _num(value: float) -> str:
    if isinstance(value, int) and abs(value) >= 10**9:
        return f"{value:.3g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings(raw: Mapping[str, Any]) -> None:
    """Every setting known and within range."""
    for key, value in raw.items():
        if key not in SETTINGS:
            raise RangeError(f"settings has unknown field {key!r}; allowed: {', '.join(SETTINGS)}")
        kind, low, high = SETTINGS[key]
        number(value, f"settings.{key}", kind, low, high)


def faults(raw: Any) -> None:
    """`faults` is {"rules": [rule, ...]} and every numeric field of every rule is in range."""
    if not isinstance(raw, dict):
        raise RangeError(f"faults must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"rules"})
    if unknown:
        raise RangeError(f"faults has unknown fields {unknown}; allowed: ['rules']")
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        raise RangeError(f"faults.rules must be a list of rule objects, got {type(rules).__name__}")
    for i, rule in enumerate(rules):
        _rule(rule, f"faults.rules[{i}]")


def _rule(rule: Any, where: str) -> None:
    if not isinstance(rule, dict):
        raise RangeError(f"{where} must be an object, got {type(rule).__name__}")
    kind = rule.get("type")
    if not isinstance(kind, str) or kind not in RULE_FIELDS:
        raise RangeError(f"{where} has type {kind!r}; expected one of {sorted(RULE_FIELDS)}")
    where = f"{where} ({kind})"
    for name, (typ, low, high, nullable) in RULE_FIELDS[kind].items():
        if name not in rule or (nullable and rule[name] is None):
            continue
        number(rule[name], f"{where}.{name}", typ, low, high)
    if (
        "function" in rule
        and rule["function"] is not None
        and not isinstance(rule["function"], str)
    ):
        raise RangeError(f"{where}.function must be a string or null, got {rule['function']!r}")
    if kind == "Duplicate":
        _extra_delays(rule, where)
    if kind == "ApiFaults":
        _api_calls(rule.get("calls", []), where)


def _extra_delays(rule: Mapping[str, Any], where: str) -> None:
    delays = rule.get("extra_delays", [])
    if not isinstance(delays, list) or len(delays) > MAX_COPIES:
        raise RangeError(f"{where}.extra_delays must be a list of at most {MAX_COPIES} numbers")
    for j, delay in enumerate(delays):
        number(delay, f"{where}.extra_delays[{j}]", float, 0, DAY)


def _api_calls(calls: Any, where: str) -> None:
    if not isinstance(calls, list) or len(calls) > MAX_INDEX:
        raise RangeError(f"{where}.calls must be a list of [call_index, kind, retry_after]")
    for j, call in enumerate(calls):
        at = f"{where}.calls[{j}]"
        if not isinstance(call, list) or len(call) != 3:
            raise RangeError(f"{at} must be [call_index, kind, retry_after], got {call!r}")
        index, kind, retry_after = call
        number(index, f"{at} call_index", int, 0, MAX_INDEX)
        if kind not in API_KINDS:
            raise RangeError(f"{at} kind is {kind!r}; expected one of {', '.join(API_KINDS)}")
        number(retry_after, f"{at} retry_after", float, 0, DAY)


_SYNC_FIELDS: dict[str, tuple[type, float, float]] = {
    "at": (float, 0, MAX_SYNC_AT),
    "seed": (int, -MAX_SEED, MAX_SEED),
    "updated": (int, 0, MAX_CHANGED),
    "added": (int, 0, MAX_CHANGED),
    "removed": (int, 0, MAX_CHANGED),
}


def syncs(raw: Any) -> None:
    """`syncs` is a list of at most MAX_SYNCS objects, each with a start time `at` no earlier than
    the one before it and change counts in range."""
    if not isinstance(raw, list) or len(raw) > MAX_SYNCS:
        raise RangeError(f"syncs must be a list of at most {MAX_SYNCS} sync objects")
    last = 0.0
    for i, sync in enumerate(raw):
        where = f"syncs[{i}]"
        if not isinstance(sync, dict):
            raise RangeError(f"{where} must be an object, got {type(sync).__name__}")
        unknown = sorted(set(sync) - set(_SYNC_FIELDS))
        if unknown:
            raise RangeError(f"{where} has unknown fields {unknown}; allowed: {list(_SYNC_FIELDS)}")
        if "at" not in sync:
            raise RangeError(f"{where} needs 'at', the virtual second the sync starts at")
        for name, (kind, low, high) in _SYNC_FIELDS.items():
            if name in sync:
                number(sync[name], f"{where}.{name}", kind, low, high)
        if sync["at"] < last:
            raise RangeError(
                f"{where}.at is {_num(sync['at'])}, before the sync listed ahead of it "
                f"({_num(last)}): list syncs in start order"
            )
        last = sync["at"]
