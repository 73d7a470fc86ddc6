"""The first scenarios a search with a given seed draws, drawn without running any of them."""

from __future__ import annotations

import contextlib
from random import Random

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from harness.scenario import Scenario


def first_drawn(strategy: st.SearchStrategy[Scenario], n: int, seed: int) -> list[Scenario]:
    """What the search's first `n` draws with `seed` would be (generation only): for measuring
    the fault mix without a server."""
    out: list[Scenario] = []

    def keep(s: Scenario) -> bool:
        out.append(s)
        return False

    quick = settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    with contextlib.suppress(NoSuchExample):  # nothing is ever "found": all n are drawn
        find(strategy, keep, settings=quick, random=Random(seed))
    return out[:n]
