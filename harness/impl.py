"""Loads a pipeline implementation by import path (`package.module:attribute`)."""

from __future__ import annotations

import importlib
from pathlib import Path

from threadsync.pipeline import Pipeline

DEFAULT_IMPL = "threadsync.reference:pipeline"


class ImplError(Exception):
    """The --impl value does not name a usable pipeline; the message says why and what to do."""


def load_pipeline(spec: str = DEFAULT_IMPL) -> Pipeline:
    """The Pipeline object `spec` names, checked at load time rather than mid-run.

    `functions:<folder>` names a Supabase project folder whose TypeScript Edge Functions run
    under Deno (`--functions`)."""
    if spec.startswith("functions:"):
        return _load_project(spec.removeprefix("functions:"))
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ImplError(
            f"--impl {spec!r} is not of the form 'package.module:attribute' (e.g. {DEFAULT_IMPL})"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImplError(
            f"--impl {spec!r}: cannot import module {module_name!r} ({_one_line(exc)}); "
            "is it installed or on PYTHONPATH?"
        ) from None
    except (Exception, SystemExit) as exc:  # the module's own code failed while importing
        raise ImplError(
            f"--impl {spec!r}: importing module {module_name!r} raised "
            f"{type(exc).__name__}: {_one_line(exc)}; fix the module or name another"
        ) from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        msg = f"--impl {spec!r}: module {module_name!r} has no attribute {attr!r}"
        raise ImplError(msg) from None
    if not isinstance(obj, Pipeline):
        raise ImplError(
            f"--impl {spec!r} is a {type(obj).__name__}, not a threadsync.Pipeline; "
            "build one with threadsync.Pipeline(name=..., migrations=..., ...)"
        )
    missing = [p for p in obj.migrations if not p.is_file()]
    if missing:
        raise ImplError(f"--impl {spec!r}: migration file not found: {missing[0]}")
    for name in ("sync-threads-page-worker", "sync-threads-processor"):
        if name not in obj.functions:
            raise ImplError(
                f"--impl {spec!r}: pipeline.functions has no handler for {name!r}; "
                "map every Edge Function name its webhooks call"
            )
    return obj


def _load_project(folder: str) -> Pipeline:
    from harness.functions.host import FunctionsError
    from harness.functions.project import load_project

    try:
        return load_project(Path(folder))
    except FunctionsError as exc:
        raise ImplError(str(exc)) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")
