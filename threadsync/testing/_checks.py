"""Your own invariants: a function over a run's history, final state and effect log, run beside
the built-in checks, and reported, shrunk and saved the same way."""

from __future__ import annotations

from harness.checks import CHECKS, Check, CheckInput, Violation

_BUILT_IN = frozenset(CHECKS)


def register_check(name: str, check: Check) -> Check:
    """Run `check` on every run from now on, under `name` (which a saved scenario's
    `expect.check` may then name). Register it in the module that defines your pipeline, so
    that every process that loads the pipeline (parallel exploration, xdist workers) has it.
    Registering the same function twice is harmless; another function under a taken name is
    an error."""
    if not name or not isinstance(name, str):
        raise ValueError(f"a check needs a non-empty name, got {name!r}")
    if not callable(check):
        raise TypeError(f"check {name!r} must be a function of CheckInput, got {check!r}")
    if name in _BUILT_IN:
        raise ValueError(f"{name!r} is a built-in check; give yours another name")
    existing = CHECKS.get(name)
    if existing is not None and existing is not check and _qualname(existing) != _qualname(check):
        raise ValueError(f"a different check is already registered as {name!r}")
    CHECKS[name] = check
    return check


def _qualname(fn: Check) -> str:
    # A module imported twice (e.g. as a file and as a package member) registers an equal twin.
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"


__all__ = ["CheckInput", "Violation", "register_check"]
