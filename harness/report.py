"""Reports a verdict: the violated properties in words, then the run as a per-actor transcript."""

from __future__ import annotations

import html
import json
from pathlib import Path

from harness.history import History
from harness.replay import Verdict

TRANSCRIPT_LINES = 400  # a longer run is cut in the middle: the start and the end explain it


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
        lines.append(_cut(verdict.result.history.transcript()))
    return "\n".join(lines)


def _cut(text: str) -> str:
    rows = text.splitlines()
    if len(rows) <= TRANSCRIPT_LINES:
        return text
    half = TRANSCRIPT_LINES // 2
    skipped = len(rows) - 2 * half
    return "\n".join([*rows[:half], f"   ... {skipped} lines ...", *rows[-half:]])


def html_timeline(history: History, title: str) -> str:
    """One column per actor, one row per event, as a self-contained HTML page (Jepsen-style)."""
    actors = history.actors()
    col = {a: i for i, a in enumerate(actors)}
    head = "".join(f"<th>{html.escape(a)}</th>" for a in actors)
    rows = []
    for e in history.events:
        cells = ["<td></td>"] * len(actors)
        d = e.detail
        text = str(d.get("sql") or d.get("call") or d.get("fault") or d.get("outcome") or "")
        if e.kind == "reply":
            text = f"{d.get('outcome')} {d.get('status', '')} " + json.dumps(
                d.get("body") or d.get("error") or "", default=str
            )
        css = {"blocked": "blocked", "crash": "bad", "fault": "fault", "reply": "reply"}.get(
            e.kind, ""
        )
        if d.get("outcome") == "error":
            css = "bad"
        cells[col[e.actor]] = (
            f'<td class="{css}"><b>{html.escape(e.kind)}</b> {html.escape(text[:160])}</td>'
        )
        rows.append(f"<tr><td class=t>{e.time:g}</td>{''.join(cells)}</tr>")
    return (
        "<!doctype html><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:12px monospace}td{vertical-align:top;border-bottom:1px solid #eee;"
        "max-width:28em}th{position:sticky;top:0;background:#fff}.t{color:#888}"
        ".blocked{background:#fff3c4}.bad{background:#ffd6d6}.fault{background:#e8dcff}"
        ".reply{background:#dff5e1}</style>"
        f"<h3>{html.escape(title)}</h3><table><tr><th>t (s)</th>{head}</tr>"
        + "".join(rows)
        + "</table>"
    )


def write_history(verdict: Verdict, directory: Path) -> list[Path]:
    """`<name>.history.json` (replays write identical files, wall-clock fields aside) and
    `<name>.timeline.html`."""
    directory.mkdir(parents=True, exist_ok=True)
    name = verdict.scenario.name
    data = {
        "scenario": verdict.scenario.to_dict(),
        "verdict": verdict.label,
        "violations": [v.to_dict() for v in verdict.violations],
        "events": verdict.result.history.comparable(),
    }
    hist = directory / f"{name}.history.json"
    hist.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    timeline = directory / f"{name}.timeline.html"
    timeline.write_text(html_timeline(verdict.result.history, f"{name}: {verdict.label}"))
    return [hist, timeline]
