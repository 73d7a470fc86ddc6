"""An exploration as one HTML page: what ran, which rare situations it reached, what it found."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.explore import ExploreResult

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:16px;color:#1d1d1f;
 max-width:1200px}
h1{font-size:19px;margin:0 0 6px}h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e4e4e4;vertical-align:top}
th{background:#f5f5f5}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.never td{background:#fff3c4}
.bad{color:#b71c1c;font-weight:600}.ok{color:#2e7d32;font-weight:600}
code{font:12px ui-monospace,Menlo,Consolas,monospace}
"""


def situations() -> dict[str, str]:
    """Situation name -> sentence, from `harness.coverage` when that module exists."""
    try:
        module = importlib.import_module("harness.coverage")
    except ImportError:
        return {}
    return {str(k): str(v) for k, v in dict(getattr(module, "SITUATIONS", {})).items()}


def html_explore(result: ExploreResult | Any, reports: Sequence[str] = ()) -> str:
    """The page; `reports[i]` is the file name of `result.found[i]`'s report, beside the page."""
    found = list(result.found)
    head = f"exploration of {result.impl}: " + (
        f"{len(found)} violation(s) found" if found else "no violation found"
    )
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(head)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(head)}</h1>",
        '<h2>Runs</h2><table class="runs"><tbody>',
    ]
    facts = [
        ("pipeline", result.impl),
        ("seed", result.seed),
        ("profile", result.profile),
        ("budget", f"{result.budget_s:g} s"),
        ("scenarios run (search, shrink and confirmation)", result.runs),
        ("of which searching", result.search_runs),
        ("wall time", f"{result.wall_s:.1f} s"),
        ("rate", f"{result.runs / result.wall_s:.1f} runs/s" if result.wall_s > 0 else "-"),
        ("flaky findings", len(result.flaky)),
        ("runs the engine could not finish", len(result.errors)),
    ]
    parts += [f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts]
    parts.append("</tbody></table>")
    # `coverage` counts the runs judged for coverage (`coverage_runs`), when the result says so.
    judged = int(getattr(result, "coverage_runs", result.runs))
    parts.append(_coverage(getattr(result, "coverage", {}) or {}, judged))
    parts.append("<h2>Findings</h2>")
    if not found:
        parts.append("<p>No violation found in this budget.</p>")
    else:
        parts.append(
            '<table class="findings"><thead><tr><th>property</th><th>scenario</th>'
            "<th>size</th><th>shrinking</th><th>first failure after</th><th>report</th>"
            "</tr></thead><tbody>"
        )
        for n, f in enumerate(found):
            link = (
                f'<a href="{escape(reports[n])}">timeline</a>'
                if n < len(reports)
                else "not written"
            )
            size = f.size
            # The shrunk run may break more than the property it was shrunk for.
            others = [v.check for v in f.verdict.violations if v.check != f.check]
            also = f"<br><small>also broke: {escape(', '.join(others))}</small>" if others else ""
            parts.append(
                f'<tr><td class="bad">{escape(f.check)}{also}</td>'
                f"<td><code>{escape(f.scenario.name)}</code></td>"
                f"<td>{size.actors} actors, {size.steps} steps, {size.faults} fault rules, "
                f"{size.threads} threads</td>"
                f"<td>{f.shrink_runs} runs, {f.shrink_s:.1f} s"
                + ("" if f.shrink_complete else " (cut short)")
                + f"</td><td>{f.time_to_first_failure_s:.1f} s</td><td>{link}</td></tr>"
            )
        parts.append("</tbody></table>")
    for flaky in result.flaky:
        parts.append(f'<p class="bad">FLAKY: {escape(str(flaky))}</p>')
    if result.errors:
        parts.append("<h2>Engine errors (runs not judged)</h2><ul>")
        parts += [f"<li><code>{escape(str(e))}</code></li>" for e in result.errors]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def _coverage(coverage: Mapping[str, int], runs: int) -> str:
    named = situations()
    names = list(named) + [n for n in coverage if n not in named]
    out = ["<h2>Coverage of rare situations</h2>"]
    if not names:
        return out[0] + "<p>This exploration recorded no situation coverage.</p>"
    never = [n for n in names if not coverage.get(n)]
    out.append(
        f"<p>{len(names) - len(never)} of {len(names)} situations reached at least once in "
        f"{runs} runs."
        + (
            f' <span class="bad">{len(never)} never reached: this exploration\'s verdict says '
            "nothing about them.</span>"
            if never
            else ""
        )
        + "</p>"
    )
    out.append(
        '<table class="coverage"><thead><tr><th>situation</th><th>what it is</th>'
        "<th>runs that reached it</th></tr></thead><tbody>"
    )
    for name in names:
        count = int(coverage.get(name, 0))
        css = ' class="never"' if not count else ""
        out.append(
            f'<tr{css} data-situation="{escape(name)}"><td><code>{escape(name)}</code></td>'
            f"<td>{escape(named.get(name, ''))}</td>"
            f'<td class="n">{count if count else "never"}</td></tr>'
        )
    out.append("</tbody></table>")
    return "".join(out)
