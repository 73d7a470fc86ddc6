"""The engine's own failures (not the pipeline's): a run that cannot go on."""

from __future__ import annotations


class EngineError(Exception):
    """The engine could not make progress; the message names every actor and its state."""


class ActorCrashed(BaseException):
    """Unwinds a crashed actor's handler; a BaseException so `except Exception` cannot catch it."""


__all__ = ["ActorCrashed", "EngineError"]
