"""Reads the notes written about mutants: why some are equivalent (harness/mutate/equivalent.toml)
and what would catch a survivor (harness/mutate/gaps.toml).

Each file has one table per pipeline name, keyed by mutant id; each entry repeats the mutant's
`summary`, so a note written for other SQL (the function changed, ids shifted) is reported as
stale and ignored instead of hiding a live mutant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("equivalent.toml")
GAPS_FILE = Path(__file__).with_name("gaps.toml")


class EquivalenceError(Exception):
    """The equivalence file cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Equivalence:
    summary: str
    reason: str


def load(path: Path, pipeline: str, field: str = "reason") -> dict[str, Equivalence]:
    """The notes written for `pipeline` in `path` (none when the file has no such table); each
    entry has a `summary` and the note under `field` ("reason", or "gap" in the gaps file)."""
    import tomllib  # `mutate` only; every command builds this module's defaults into its parser

    if not path.is_file():
        raise EquivalenceError(f"{path}: no such equivalence file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise EquivalenceError(f"{path}: not valid TOML ({exc})") from None
    table = data.get(pipeline, {})
    out: dict[str, Equivalence] = {}
    for mutant_id, entry in table.items():
        if not isinstance(entry, dict) or not {"summary", field} <= entry.keys():
            raise EquivalenceError(
                f"{path}: [{pipeline}.{mutant_id!r}] needs both `summary` and `{field}`"
            )
        out[mutant_id] = Equivalence(str(entry["summary"]), str(entry[field]))
    return out
