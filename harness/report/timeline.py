"""A run as one self-contained HTML page: the verdict in sentences, then one lane per actor."""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from harness.checks import Violation
from harness.history import (
    Event,
    History,
    blocked_params,
    fault_text,
    pause_text,
    reply_text,
    result_text,
    short_value,
    statement_text,
)
from harness.report.lanes import Lane, lane_of, lanes, short_function
from harness.report.story import DELIVERY_WORDS, Step, named_events, story

MARK = {
    "invoke": "▶",
    "statement": "●",
    "begin": "⟨",
    "commit": "✓",
    "rollback": "✗",
    "api": "◆",
    "reply": "◀",
    "fault": "⚡",
    "crash": "✖",
    "blocked": "⏳",
    "released": "▷",
    "paused": "⏸",
    "resumed": "⏵",
    "delivery": "✉",
}
SPAN_KINDS = ("alive", "txn", "wait", "stall")


@dataclass(frozen=True)
class Span:
    """A stretch of one actor's life between two events: alive, in a transaction, waiting on a
    lock, or stalled by a fault. `note` names a lock wait's blocker."""

    actor: str
    kind: str
    start: int
    end: int
    note: str = ""


def spans(history: History) -> list[Span]:
    """Every actor's spans, by event sequence numbers (an open span ends at the last event)."""
    out: list[Span] = []
    last = history.events[-1].seq if history.events else 0
    for actor in history.actors():
        events = history.by_actor(actor)
        opened: dict[str, tuple[int, str]] = {}
        for i, e in enumerate(events):
            following = events[i + 1].seq if i + 1 < len(events) else last
            if e.kind == "invoke":
                opened["alive"] = (e.seq, "")
            elif e.kind in ("reply", "crash") and "alive" in opened:
                if e.kind == "reply" and e.detail.get("error") == "caller timed out":
                    continue  # the handler runs on after its caller gave up
                out.append(Span(actor, "alive", opened.pop("alive")[0], e.seq))
            if e.kind == "begin":
                opened["txn"] = (e.seq, "")
            elif e.kind in ("commit", "rollback", "crash") and "txn" in opened:
                out.append(Span(actor, "txn", opened.pop("txn")[0], e.seq))
            if e.kind == "blocked":
                by = ", ".join(e.detail.get("blocked_by") or []) or "?"
                released = next((x.seq for x in events[i + 1 :] if x.kind != "blocked"), last)
                out.append(Span(actor, "wait", e.seq, released, by))
            if e.kind == "paused":
                resumed = next((x.seq for x in events[i + 1 :] if x.kind == "resumed"), last)
                out.append(Span(actor, "wait", e.seq, resumed, "the engine (a Pause fault)"))
            if e.kind == "fault" and e.detail.get("fault") == "stall":
                out.append(Span(actor, "stall", e.seq, following))
        for kind, (start, note) in opened.items():
            out.append(Span(actor, kind, start, last, note))
    return out


@dataclass
class _Row:
    """One line of the timeline: an event, or a quiet stretch (virtual time skipped, perhaps
    with idle sweeper ticks, held in `events`) from time `since` to time `until`."""

    kind: str
    events: list[Event]
    start: float  # the positions spans are tested against: seqs, or half-seqs between events
    end: float
    since: float = 0.0
    until: float = 0.0


def _idle_sweeps(history: History, keep: set[int]) -> set[str]:
    """Sweeper ticks that found nothing to do and that no violation cites: folded together."""
    idle = set()
    for lane_actor in {e.actor for e in history.by_role("sweeper")}:
        events = history.by_actor(lane_actor)
        busy = any(e.seq in keep for e in events) or any(
            e.kind == "statement"
            and any(
                isinstance(v, int) and v
                for row in e.detail.get("rows") or []
                if isinstance(row, Mapping)
                for v in row.values()
            )
            for e in events
        )
        failed = any(e.detail.get("outcome") in ("error", "fail") for e in events)
        if not busy and not failed:
            idle.add(lane_actor)
    return idle


def _rows(history: History, keep: set[int]) -> list[_Row]:
    """Event rows; each stretch of skipped virtual time and idle sweeper ticks becomes one row."""
    idle = _idle_sweeps(history, keep)
    rows: list[_Row] = []
    quiet: _Row | None = None
    now = 0.0
    previous = -1
    for e in history.events:
        if e.kind == "clock":
            continue
        if e.time > now or e.actor in idle:
            if quiet is None:
                quiet = _Row("quiet", [], previous + 0.5, previous + 0.5, now, now)
            quiet.until = now = max(now, e.time)
            if e.actor in idle:
                quiet.events.append(e)
                quiet.end = e.seq
                previous = e.seq
                continue
        if quiet is not None:
            rows.append(quiet)
            quiet = None
        rows.append(_Row("event", [e], e.seq, e.seq, e.time, e.time))
        previous = e.seq
    if quiet is not None:
        rows.append(quiet)
    return rows


FOLD_AT = 3  # this many uninvolved steps in a row are folded into one line


def _background(e: Event, involved: set[str], keep: set[int]) -> bool:
    """A step of an actor the verdict does not involve, and nothing anyone would look for."""
    return (
        (e.actor not in involved or e.actor == "engine")  # the webhook lane serves everyone
        and e.seq not in keep
        and e.kind not in ("fault", "crash", "blocked", "released", "paused", "resumed")
        and e.detail.get("outcome") not in ("error", "fail", *DELIVERY_WORDS)
    )


def _fold_background(rows: list[_Row], involved: set[str], keep: set[int]) -> list[_Row]:
    """Runs of uninvolved steps become one `others` row (only when a violation names actors)."""
    if not involved:
        return rows
    out: list[_Row] = []
    run: list[_Row] = []

    def flush() -> None:
        if len(run) >= FOLD_AT:
            events = [r.events[0] for r in run]
            out.append(
                _Row("others", events, run[0].start, run[-1].end, run[0].since, run[-1].until)
            )
        else:
            out.extend(run)
        run.clear()

    for row in rows:
        if row.kind == "event" and _background(row.events[0], involved, keep):
            run.append(row)
            continue
        flush()
        out.append(row)
    flush()
    return out


def _lane_css(all_lanes: Sequence[Lane]) -> str:
    rules = []
    for i, lane in enumerate(all_lanes):
        hue = (i * 137 + 200) % 360
        light = 30 if lane.key in ("webhooks", "sweeper") else 42
        rules.append(f".c{i}{{--c:hsl({hue} 65% {light}%)}}")
    return "".join(rules)


STYLE = """
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d1d1f;
 background:#fff}
header.verdict{padding:10px 16px 8px;border-bottom:3px solid #c62828;background:#fff7f6}
header.verdict.pass{border-color:#2e7d32;background:#f4fbf4}
h1{font-size:17px;margin:0 0 2px}
.desc{margin:0 0 6px;color:#555;max-width:110ch}
.violation{margin:6px 0 0}
.says{margin:0;font-size:15px}
.says b{color:#b71c1c}
.rowsbroke{margin:2px 0 0;color:#333}
.rowsbroke.same a{color:#0b4fa3;font-weight:600}
.violation details summary{font-size:13px}
ol.story{margin:4px 0 0;padding-left:22px;font-size:14px}
ol.story li{margin:1px 0}
ol.story a{color:#0b4fa3;text-decoration:none}
ol.story a:hover{text-decoration:underline}
.legend{padding:4px 16px;color:#555;font-size:12px;border-bottom:1px solid #ddd}
.legend i{display:inline-block;width:18px;height:10px;vertical-align:middle;margin:0 3px 0 8px}
table.tl{border-collapse:collapse;table-layout:fixed;width:100%}
.tl thead th{position:sticky;top:0;background:#fff;z-index:2;border-bottom:1px solid #bbb;
 vertical-align:bottom;padding:2px 0}
.tl th.lh span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;
 font-size:11px;font-weight:600;color:var(--c);display:inline-block;max-height:190px;
 overflow:hidden;text-overflow:ellipsis}
.tl th.what,.tl th.t{text-align:left;font-size:12px;padding-left:6px}
.tl td{padding:1px 0;vertical-align:top;border-top:1px solid #f0f0f0}
.tl td.t{color:#777;font-size:11px;text-align:right;padding-right:6px;white-space:nowrap}
.tl td.what{padding:1px 6px;overflow-wrap:anywhere}
.tl td.l{text-align:center;position:relative}
.tl td.alive{background:linear-gradient(90deg,transparent 45%,#c9c9c9 45%,#c9c9c9 55%,
 transparent 55%)}
.tl td.txn{background:linear-gradient(90deg,transparent 30%,var(--c) 30%,var(--c) 70%,
 transparent 70%)}
.tl td.stall{background:repeating-linear-gradient(180deg,#7b1fa2 0 4px,transparent 4px 8px)
 center/4px 100% no-repeat}
.tl td.wait{background:repeating-linear-gradient(45deg,#e53935 0 3px,#ffcdd2 3px 6px)
 center/10px 100% no-repeat}
.tl td b.m{color:var(--c);background:#fff;border-radius:8px;font-size:11px;line-height:14px;
 display:inline-block;min-width:14px}
.who{font-weight:600;color:var(--c)}
code{font:12px ui-monospace,Menlo,Consolas,monospace}
tr.others td.what{color:#777;background:#fafafa}
tr.quiet td{background:#f3f3f3;color:#666;font-style:italic;border-top:1px dashed #aaa}
tr.fault td.what{background:#f1e6ff}
tr.bad td.what{background:#ffe3e0}
tr.blocked td.what{background:#fff3c4}
tr.dim td.what{color:#8a8a8a}
tr.dim .who{opacity:.7}
tr.cited td,tr.cited td.what{background-color:#fff1a8}
tr.cited td.what{box-shadow:inset 4px 0 #f2a900;color:#1d1d1f}
tr.related td.what{box-shadow:inset 4px 0 #ffe08a}
tr:target td{outline:2px solid #0b4fa3}
tr{scroll-margin-top:190px}
.badge{display:inline-block;background:#f2a900;color:#000;border-radius:9px;padding:0 6px;
 font-weight:700;margin-right:4px}
.blocker{color:#b71c1c;font-weight:700}
details{display:inline}
details[open]{display:block}
summary{display:inline;cursor:pointer;color:#0b4fa3;font-size:11px}
details pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;padding:4px;
 margin:2px 0;font-size:11px;max-height:320px;overflow-y:auto}
"""


def html_timeline(
    history: History,
    title: str,
    violations: Sequence[Violation] = (),
    description: str = "",
) -> str:
    """The whole page: verdict sentences with links into a lane-per-actor timeline."""
    named = [e for v in violations for e in named_events(history, v)]
    all_lanes = lanes(history, keep={e.actor for e in named})
    owner = lane_of(all_lanes)
    stories = [(v, story(history, v, owner)) for v in violations]
    # Each cited step has one number: a step a later violation's story shares with an earlier
    # one keeps the number it was first given, so a row's badge matches every link to it.
    cited: dict[int, int] = {}
    for _, steps in stories:
        for step in steps:
            cited.setdefault(step.seq, len(cited) + 1)
    related = {e.seq for e in named}
    page = _Page(
        lanes=all_lanes,
        index={lane.key: i for i, lane in enumerate(all_lanes)},
        owner=owner,
        cover={},
        cited=cited,
        related=related,
        involved={e.actor for e in history.events if e.seq in cited or e.seq in related},
        waited=blocked_params(history),
    )
    keep = set(cited) | related
    rows = _fold_background(_rows(history, keep), page.involved, keep)
    page.cover.update(_cover(rows, spans(history), page))
    lane_width = max(9, min(22, 520 // max(1, len(all_lanes))))
    head = "".join(
        f'<th class="lh c{i}" data-lane="{escape(lane.key)}" title="{escape(_lane_title(lane))}">'
        f"<span>{escape(lane.label)}</span></th>"
        for i, lane in enumerate(all_lanes)
    )
    cols = (
        '<col class="t" style="width:58px">'
        + "".join(f'<col style="width:{lane_width}px">' for _ in all_lanes)
        + "<col>"
    )
    body = [_row_html(n, row, page) for n, row in enumerate(rows)]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}{_lane_css(all_lanes)}</style></head><body>"
        + _verdict_html(title, description, stories, history, cited)
        + _legend(all_lanes)
        + f'<table class="tl">{cols}<thead><tr><th class="t">t (s)</th>{head}'
        '<th class="what">what happened (click ▸ for a full statement or reply)</th></tr>'
        "</thead><tbody>" + "".join(body) + "</tbody></table></body></html>"
    )


def _lane_title(lane: Lane) -> str:
    return f"{lane.label}: actor(s) {', '.join(lane.actors)}"


def _verdict_html(
    title: str,
    description: str,
    stories: Sequence[tuple[Violation, Sequence[Step]]],
    history: History,
    cited: Mapping[int, int],
) -> str:
    parts = [f'<header class="verdict{"" if stories else " pass"}" id="verdict">']
    parts.append(f"<h1>{escape(title)}</h1>")
    if description:
        parts.append(f'<p class="desc">{escape(description)}</p>')
    if not stories:
        fired = [e for e in history.by_kind("fault") if e.detail.get("fault") != "unfired"]
        parts.append(
            '<p class="says">Every checked property held'
            + (f", through {len(fired)} injected fault(s)" if fired else "")
            + ".</p>"
        )
    told: set[int] = set()
    for n, (violation, steps) in enumerate(stories):
        parts.append(f'<section class="violation" data-check="{escape(violation.check)}">')
        parts.append(
            f'<p class="says"><b>{escape(violation.check)}</b> broke: '
            f"{escape(violation.summary)}.</p>"
        )
        if violation.rows:
            parts.append(
                '<p class="rowsbroke">Rows: ' + escape("; ".join(violation.rows)) + ".</p>"
            )
        items = "".join(
            f'<li value="{cited[s.seq]}"><a href="#ev-{s.seq}" data-seq="{s.seq}">'
            f"{escape(s.sentence)}</a></li>"
            for s in steps
        )
        listed = f'<ol class="story">{items}</ol>'
        again = bool(steps) and all(s.seq in told for s in steps)
        told.update(s.seq for s in steps)
        if not steps:
            parts.append('<p class="rowsbroke">No step of the run names these rows.</p>')
        elif again:
            # The same race broke this property too: point at the steps already told.
            links = ", ".join(
                f'<a href="#ev-{s.seq}" data-seq="{s.seq}">{cited[s.seq]}</a>' for s in steps
            )
            parts.append(
                f'<p class="rowsbroke same">How it happened: the same steps as above ({links}).</p>'
            )
        elif n == 0:
            parts.append(f'<p class="rowsbroke">How it happened:</p>{listed}')
        else:
            # Later violations fold their story, so the first one stays above the fold.
            parts.append(
                f"<details><summary>How it happened ({len(steps)} steps)</summary>"
                f"{listed}</details>"
            )
        parts.append("</section>")
    parts.append("</header>")
    return "".join(parts)


def _legend(all_lanes: Sequence[Lane]) -> str:
    merged = any(lane.note == "merged" for lane in all_lanes)
    lanes_are = (
        "one per actor the verdict involves; other deliveries share a lane per function"
        if merged
        else "one per actor"
    )
    return (
        f'<div class="legend">{len(all_lanes)} lanes, {lanes_are} (hover a lane for its actor '
        "ids). "
        '<i style="background:#c9c9c9;height:3px"></i>handling a request'
        '<i style="background:#3b7"></i>inside BEGIN…COMMIT (a lone ● is its own transaction)'
        '<i style="background:repeating-linear-gradient(45deg,#e53935 0 3px,#ffcdd2 3px 6px)">'
        "</i>waiting on a lock"
        '<i style="background:repeating-linear-gradient(90deg,#7b1fa2 0 4px,#fff 4px 8px)">'
        "</i>stalled by a fault ⚡ fault · "
        '<span class="badge">1</span>a step the verdict cites · grey rows: virtual time skipped'
        "</div>"
    )


def _covers(span: Span, row: _Row) -> bool:
    return span.start <= row.start and row.end <= span.end


@dataclass(frozen=True)
class _Page:
    """What every row of one page is drawn from."""

    lanes: Sequence[Lane]
    index: Mapping[str, int]  # lane key -> column
    owner: Mapping[str, Lane]  # actor -> lane
    cover: dict[tuple[int, int], list[Span]]  # (row, lane column) -> the spans crossing it
    cited: Mapping[int, int]  # seq -> its number in the verdict's story
    related: set[int]  # seqs the violations name without telling them
    involved: set[str]  # actors of cited or related steps
    waited: Mapping[int, Any]  # blocked seq -> the waiting statement's parameters


def _cover(
    rows: Sequence[_Row], all_spans: Sequence[Span], page: _Page
) -> dict[tuple[int, int], list[Span]]:
    """Which spans cross which cells: each span walks only the rows it covers."""
    starts = [row.start for row in rows]
    out: dict[tuple[int, int], list[Span]] = {}
    for span in all_spans:
        column = page.index[page.owner[span.actor].key]
        for r in range(bisect.bisect_left(starts, span.start), len(rows)):
            if rows[r].start > span.end:
                break
            if _covers(span, rows[r]):
                out.setdefault((r, column), []).append(span)
    return out


def _row_html(n: int, row: _Row, page: _Page) -> str:
    owner, index, cited = page.owner, page.index, page.cited
    cells = []
    marks: dict[str, str] = {}
    for e in row.events:
        marks.setdefault(owner[e.actor].key, MARK.get(e.kind, "·") if row.kind == "event" else "·")
    for i, lane in enumerate(page.lanes):
        kinds = []
        title = ""
        for span in page.cover.get((n, i), ()):
            kinds.append(span.kind)
            if span.kind == "wait":
                title = f"{span.actor} waits for a lock held by {span.note}"
        classes = " ".join(["l", f"c{i}", *sorted(set(kinds), key=SPAN_KINDS.index)])
        mark = f'<b class="m">{marks[lane.key]}</b>' if lane.key in marks else ""
        attr = f' title="{escape(title)}"' if title else ""
        cells.append(f'<td class="{classes}"{attr}>{mark}</td>')
    if row.kind == "quiet":
        return _quiet_html(row, cells, owner, index)
    if row.kind == "others":
        return _others_html(row, cells, owner)
    e = row.events[0]
    lane = owner[e.actor]
    css = ["ev", f"k-{e.kind}"]
    if e.seq in cited:
        css.append("cited")
    elif e.seq in page.related:
        css.append("related")
    elif page.involved and e.actor not in page.involved:
        css.append("dim")
    if e.kind in ("fault", "crash") and e.detail.get("fault") != "unfired":
        css.append("fault")
    if e.kind in ("blocked", "paused"):
        css.append("blocked")
    if e.detail.get("outcome") in ("error", "fail") or (
        e.kind == "delivery" and e.detail.get("outcome") in DELIVERY_WORDS
    ):
        css.append("bad")
    badge = f'<a class="badge" href="#verdict">{cited[e.seq]}</a>' if e.seq in cited else ""
    actor = e.actor if e.actor == lane.name(e.actor) else f"{e.actor} · {lane.name(e.actor)}"
    return (
        f'<tr id="ev-{e.seq}" class="{" ".join(css)}" data-seq="{e.seq}" '
        f'data-actor="{escape(e.actor)}" data-lane="{escape(lane.key)}">'
        f'<td class="t">{e.time:g}</td>{"".join(cells)}<td class="what">{badge}'
        f'<span class="who c{index[lane.key]}">{escape(actor)}</span> '
        f"{_what(e, page.waited)}</td></tr>"
    )


def _quiet_html(
    row: _Row, cells: list[str], owner: Mapping[str, Lane], index: Mapping[str, int]
) -> str:
    skipped = row.until - row.since
    text = (
        f"⋯ {skipped:g} s of virtual time skipped, t={row.since:g} → {row.until:g} s"
        if skipped
        else "⋯"
    )
    ticks = sorted({e.actor for e in row.events}, key=lambda a: (len(a), a))
    if ticks:
        lane = owner[row.events[0].actor]
        inside = "\n".join(f"t={e.time:g} {e.actor} {e.kind}: {_plain(e)}" for e in row.events)
        text += (
            f'; <span class="who c{index[lane.key]}">{escape(lane.label)}</span> ticked '
            f"{len(ticks)}× ({escape(ticks[0])}"
            + (f"–{escape(ticks[-1])}" if len(ticks) > 1 else "")
            + ") with nothing to requeue, re-send or fail "
            f"<details><summary>▸ show</summary><pre>{escape(inside)}</pre></details>"
        )
    return (
        f'<tr class="quiet" data-actors="{" ".join(ticks)}"><td class="t">+{skipped:g}</td>'
        f'{"".join(cells)}<td class="what">{text} ⋯</td></tr>'
    )


def _others_html(row: _Row, cells: list[str], owner: Mapping[str, Lane]) -> str:
    actors = list(dict.fromkeys(e.actor for e in row.events))
    names = ", ".join(owner[a].label if owner[a].label == a else f"{a}" for a in actors)
    inside = "\n".join(f"t={e.time:g} {e.actor} {e.kind}: {_plain(e)}" for e in row.events)
    when = f"{row.since:g}" if row.since == row.until else f"{row.since:g}–{row.until:g}"
    return (
        f'<tr class="others" data-actors="{escape(" ".join(actors))}"><td class="t">{when}</td>'
        f'{"".join(cells)}<td class="what">⋯ {len(row.events)} steps of actors the verdict does '
        f"not involve ({escape(names)}) "
        f"<details><summary>▸ show</summary><pre>{escape(inside)}</pre></details></td></tr>"
    )


def _plain(e: Event) -> str:
    d = e.detail
    if e.kind in ("statement", "begin", "commit", "rollback", "api", "blocked", "paused"):
        return f"{statement_text(d)} -> {result_text(d)}"
    if e.kind == "reply":
        return reply_text(d)
    return " ".join(f"{k}={short_value(v)}" for k, v in sorted(d.items()))


def _full(value: Mapping[str, Any]) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)


def _details(label: str, text: str) -> str:
    return f"<details><summary>▸ {escape(label)}</summary><pre>{escape(text)}</pre></details>"


def _what(e: Event, waited: Mapping[int, Any]) -> str:
    d = e.detail
    if e.kind == "invoke":
        if d.get("function"):
            copy = d.get("copy")
            extra = (
                ", early: before its row's transaction committed"
                if copy == "early"
                else (f", duplicate copy {copy}" if copy else "")
            )
            return (
                f"▶ started on webhook <code>{escape(str(d['function']))}</code> "
                f"#{escape(str(d.get('record_id')))} (request {d.get('request')}{extra})"
            )
        args = " ".join(f"{k}={short_value(v)}" for k, v in sorted(d.items()))
        return f"▶ started {escape(args)}"
    if e.kind in ("statement", "begin", "commit", "rollback", "api"):
        full = {k: v for k, v in d.items() if k not in ("wall_ms", "pid")}
        text = f"<code>{escape(statement_text(d))}</code>"
        if d.get("outcome") == "error":
            error = f"{d.get('sqlstate') or d.get('status') or ''} {d.get('error')}"
            return f"{text} → <b>ERROR</b> {escape(error)} " + _details("full", _full(full))
        result = result_text(d)
        return (
            text
            + (f" → {escape(result)}" if result else "")
            + " "
            + _details("full statement and reply", _full(full))
        )
    if e.kind == "blocked":
        by = ", ".join(d.get("blocked_by") or []) or "an unknown session"
        text = statement_text({**d, "params": waited.get(e.seq)})
        return (
            f"⏳ <code>{escape(text)}</code> &lt;waiting …&gt; for a lock held by "
            f'<span class="blocker" data-blocker="{escape(by)}">{escape(by)}</span>'
        )
    if e.kind == "released":
        return "▷ the lock it waited for was released; its statement goes on"
    if e.kind == "paused":
        text = statement_text({**d, "params": waited.get(e.seq)})
        return (
            f"⏸ <code>{escape(text)}</code> &lt;paused …&gt; inside its function, "
            f"{escape(pause_text(d))}"
        )
    if e.kind == "resumed":
        return f"⏵ the engine let the paused statement go on: {escape(str(d.get('reason')))}"
    if e.kind == "reply":
        return f"◀ replied {escape(reply_text(d))}"
    if e.kind == "fault":
        return f"⚡ {escape(fault_text(e))}"
    if e.kind == "crash":
        return f"✖ the instance crashed before its step {d.get('at_step')}"
    if e.kind == "delivery":
        delay = f", delayed {d['delay']} s" if d.get("delay") else ""
        return (
            f"✉ webhook <code>{escape(short_function(str(d.get('function'))))}</code> "
            f"#{escape(str(d.get('record_id')))} {escape(str(d.get('outcome')))} "
            f"(request {d.get('request')}{delay})"
        )
    rest = " ".join(f"{k}={short_value(v)}" for k, v in sorted(d.items()))
    return f"{escape(e.kind)} {escape(rest)}"
