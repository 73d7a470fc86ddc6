"""The verdict as text for a terminal or a CI log: the violated properties, then the transcript."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.history import History

if TYPE_CHECKING:
    from harness.replay import Verdict

TRANSCRIPT_LINES = 400  # past this, statement lines in the middle are folded; no line that matters


def text_report(verdict: Verdict, *, transcript: bool = True) -> str:
    """The verdict against the scenario's expectation, each violation, and the transcript."""
    sc = verdict.scenario
    expected = sc.expect.verdict + (f" ({sc.expect.check})" if sc.expect.check else "")
    status = "as expected" if verdict.as_expected else "UNEXPECTED"
    stats = verdict.result.stats
    lines = [
        f"scenario {sc.name} on {sc.impl}",
        f"  verdict: {verdict.label}; expected {expected}: {status}",
        f"  run: {len(verdict.result.history)} events, {stats.steps} steps, "
        f"virtual {verdict.result.clock:g}s, wall {verdict.result.wall_s * 1000:.0f} ms"
        + ("" if verdict.result.quiesced else ", did NOT quiesce"),
    ]
    for v in verdict.violations:
        lines.append("")
        lines.append(v.render())
    errors = [e for e in verdict.result.errors if e]
    if errors:
        lines.append("")
        lines.append("actor errors (handled by the pipeline or the cause of a violation):")
        lines += [f"  {e}" for e in errors[:10]]
    if transcript and verdict.violations:
        lines.append("")
        lines.append("transcript (virtual seconds, actor, step):")
        lines.append(transcript_text(verdict.result.history))
    return "\n".join(lines)


def transcript_text(history: History, limit: int = TRANSCRIPT_LINES) -> str:
    """The whole transcript, or, past `limit` lines, every line that matters (deliveries,
    replies, faults, lock waits, errors) with only the plain statement lines between the first
    and last `limit // 2` folded into `... N statement lines ...` markers."""
    rows = history.transcript_lines()
    if len(rows) <= limit:
        return "\n".join(text for text, _ in rows)
    half = limit // 2
    out: list[str] = []
    folded = 0
    for index, (text, matters) in enumerate(rows):
        if matters or index < half or index >= len(rows) - half:
            if folded:
                out.append(f"   ... {folded} statement lines ...")
                folded = 0
            out.append(text)
        else:
            folded += 1
    if folded:
        out.append(f"   ... {folded} statement lines ...")
    return "\n".join(out)
