"""The final report as one self-contained HTML page (``final_report.html``).

``render_html(report)`` turns the final report data (``final_report.json``, schema 1) into
a page that fetches nothing: inline CSS, charts drawn here as inline SVG (so they show
without JavaScript), and a few lines of inline JS that only make tables sortable. Every
string from the data is escaped; every key may be missing or None (an old, partial or
first-minute report still renders, with "no data" where there is nothing to show).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervisor.report import charts
from supervisor.report.charts import finite, fmt_duration
from supervisor.report.html_format import (
    NONE,
    as_list,
    as_map,
    badge,
    esc,
    fmt_bytes,
    fmt_pct,
    fmt_value,
    fmt_when,
    num_td,
    section,
    table,
    td,
)
from supervisor.report.html_style import CSS, SCRIPT
from supervisor.session.files import write_text_atomic

TIERS = ("critical", "important", "bonus")
GRADES = ("excellent", "good", "target", "below")
MAX_ROWS = 500
CONTROL_KINDS = ("pause", "resume", "alert", "stop", "command", "session_start", "session_end")


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for one report (any missing or None section renders as "no data")."""
    r = as_map(report)
    session = as_map(r.get("session"))
    title = f"Mega test report · {session.get('id') or 'unknown session'}"
    body = [_header(r), _summary(r), _criteria(r), _timeline(r), _charts(r), _agents(r),
            _phases(r), _code(r), _checkpoints(r), _failures(r), _efficiency(r),
            _recommendations(r), _footer(r)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(body) + f"\n</main><script>{SCRIPT}</script></body></html>\n")


def write_html(report: Mapping[str, Any], path: Path) -> None:
    """Render ``report`` and write it to ``path`` atomically."""
    write_text_atomic(Path(path), render_html(report))


# -- sections -------------------------------------------------------------------------


def _header(r: Mapping[str, Any]) -> str:
    s, d = as_map(r.get("session")), as_map(r.get("duration"))
    project = s.get("project_name") or s.get("project_type")
    kind = f" ({esc(s['project_type'])})" if s.get("project_name") and s.get("project_type") else ""
    scale = finite(s.get("time_scale"))
    planned = d.get("planned_session_seconds")
    meta = [("Session time", f"{fmt_duration(d.get('session_seconds'))}"
             + (f" of {fmt_duration(planned)} planned" if finite(planned) else "")),
            ("Wall time", fmt_duration(d.get("wall_seconds"))),
            ("Time scale", f"×{scale:g}" if scale is not None else NONE),
            ("Started", fmt_when(s.get("started_wall"))),
            ("Agents", fmt_value(s.get("agents"))), ("Seed", fmt_value(s.get("seed"))),
            ("Config", fmt_value(s.get("config_source"))
             + (f' <code>{esc(str(s["config_hash"])[:12])}</code>' if s.get("config_hash") else ""))]
    if s.get("resumes"):
        meta.insert(2, ("Resumes", fmt_value(s.get("resumes"))))
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{v}</dd></div>" for k, v in meta)
    config = as_map(r.get("config_summary"))
    details = "".join(f"<div><dt>{esc(str(k).replace('_', ' '))}</dt><dd>{fmt_value(v)}</dd></div>"
                      for k, v in config.items())
    return (f'<header><div class="title"><h1>{esc(project) if project else "Mega test"}'
            f"{kind}</h1>{badge(r.get('status'))}</div>"
            f'<p class="sid">session <code>{fmt_value(s.get("id"))}</code></p>'
            f'<dl class="meta">{items}</dl>'
            + (f'<details class="config"><summary>configuration</summary><dl class="meta">'
               f"{details}</dl></details>" if details else "") + "</header>")


def _sub(*parts: tuple[Any, str]) -> str:
    """``value label`` pairs joined by dots, leaving out the values that are missing."""
    return " · ".join(f"{fmt_value(v)} {esc(label)}" for v, label in parts if v is not None)


def _summary(r: Mapping[str, Any]) -> str:
    t, code = as_map(r.get("totals")), as_map(r.get("code"))
    tests = as_map(code.get("tests"))
    rate = tests.get("pass_rate")
    tiles = [
        ("Tokens", fmt_value(t.get("tokens")),
         _sub((t.get("prompt_tokens"), "prompt"), (t.get("completion_tokens"), "completion"))),
        ("Tool calls", fmt_value(t.get("tool_calls")), _sub((t.get("tool_calls_failed"), "failed"))),
        ("Tasks done", fmt_value(t.get("tasks_completed")),
         _sub((t.get("tasks_started"), "started"), (t.get("tasks_failed"), "failed"))),
        ("Errors", fmt_value(t.get("errors")), _sub((t.get("restarts"), "restarts"))),
        ("Checkpoints", fmt_value(t.get("checkpoints")), _sub((t.get("events"), "events"))),
        ("Lines of code", fmt_value(code.get("lines_of_code")), _sub((code.get("files"), "files"))),
        ("Tests passed", fmt_value(tests.get("passed")),
         _sub((tests.get("failed"), "failed")) + (f" · {fmt_pct(rate)}" if rate is not None else "")),
        ("Coverage", fmt_pct(tests.get("coverage")), "of lines" if tests.get("coverage") else ""),
    ]
    cells = "".join(f'<div class="tile"><div class="k">{k}</div><div class="v">{v}</div>'
                    f'<div class="s">{sub}</div></div>' for k, v, sub in tiles)
    return f'<section id="summary" class="tiles">{cells}</section>'


def _criteria(r: Mapping[str, Any]) -> str:
    items = [as_map(c) for c in as_list(r.get("criteria"))]
    rank = {tier: i for i, tier in enumerate(TIERS)}
    items.sort(key=lambda c: rank.get(str(c.get("tier")), len(TIERS)))
    rows = []
    counts = {"pass": 0, "fail": 0, "not_measured": 0}
    for c in items:
        status = str(c.get("status"))
        status = status if status in counts else "not_measured"
        counts[status] += 1
        tier = str(c.get("tier")) if c.get("tier") in TIERS else "other"
        detail = f'<div class="detail">{esc(c["detail"])}</div>' if c.get("detail") else ""
        rows.append(f'<tr class="crit status-{status}"><td><span class="tier {tier}">'
                    f"{esc(c.get('tier') or 'other')}</span></td>"
                    f"<td>{fmt_value(c.get('name'))}{detail}</td>{num_td(c.get('measured'))}"
                    f"{num_td(c.get('threshold'))}<td>{badge(status)}</td></tr>")
    tally = (f'<p class="tally">{counts["pass"]} passed · {counts["fail"]} failed · '
             f'{counts["not_measured"]} not measured</p>' if rows else "")
    return section("criteria", "Success criteria", tally, table(
        ("Tier", "Criterion", "Measured", "Threshold", "Status"), rows,
        "no success criteria evaluated"))


def _extent(r: Mapping[str, Any]) -> float:
    """The session-time span every chart shares: the session length or the last data point."""
    times = [finite(as_map(r.get("duration")).get("session_seconds"))]
    times += [finite(t) for t in as_list(as_map(r.get("series")).get("t"))[-1:]]
    for key in ("timeline", "checkpoints", "failures"):
        times += [finite(as_map(x).get("t")) for x in as_list(r.get(key))]
    for p in as_list(r.get("phases")):
        times += [finite(as_map(p).get("start_t")), finite(as_map(p).get("end_t"))]
    return max([t for t in times if t is not None] + [1.0])


def _phase_bars(r: Mapping[str, Any], t_max: float) -> list[charts.Bar]:
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for ev in map(as_map, as_list(r.get("timeline"))):
        t, label = finite(ev.get("t")), str(ev.get("label"))
        if t is not None and ev.get("kind") == "phase_start":
            starts.setdefault(label.removesuffix(" start"), t)
        elif t is not None and ev.get("kind") == "phase_end":
            ends[label.removesuffix(" end")] = t
    bars = []
    for p in map(as_map, as_list(r.get("phases"))):
        name = str(p.get("name") or "phase")
        start = finite(p.get("start_t"))
        start = starts.get(name) if start is None else start
        if start is None:
            continue
        end = finite(p.get("end_t"))
        end = ends.get(name, t_max) if end is None else end
        tip = (f"{name}: {fmt_duration(start)} → {fmt_duration(end)} "
               f"({fmt_duration(end - start)}, planned {fmt_duration(p.get('planned_seconds'))})"
               f"\nstatus: {p.get('status') or 'unknown'}")
        bars.append(charts.Bar(name, start, end, tip))
    return bars


def _markers(r: Mapping[str, Any]) -> list[charts.Marker]:
    out: list[charts.Marker] = []
    checkpoints = [as_map(c) for c in as_list(r.get("checkpoints"))]
    failures = [as_map(f) for f in as_list(r.get("failures"))]
    for c in checkpoints:
        if (t := finite(c.get("t"))) is not None:
            out.append(charts.Marker(t, "checkpoint", charts.marker_tip(
                t, f"checkpoint {c.get('number', '')}", {"trigger": c.get("trigger"),
                "phase": c.get("phase"), "valid": c.get("valid"), "files": c.get("files")})))
    for f in failures:
        if (t := finite(f.get("t"))) is not None:
            out.append(charts.Marker(t, "failure", charts.marker_tip(
                t, f"failure: {f.get('type') or 'unknown'}", {k: f.get(k) for k in (
                    "agent", "severity", "action", "outcome", "attempts", "message")})))
    lanes = {"recovery": "recovery", "checkpoint": "checkpoint", "failure": "failure",
             **dict.fromkeys(CONTROL_KINDS, "event")}
    for ev in map(as_map, as_list(r.get("timeline"))):
        kind, t = str(ev.get("kind")), finite(ev.get("t"))
        taken = (kind == "checkpoint" and checkpoints) or (kind == "failure" and failures)
        if t is None or kind not in lanes or taken:
            continue
        out.append(charts.Marker(t, lanes[kind], charts.marker_tip(
            t, f"{kind}: {ev.get('label') or ''}", {"detail": ev.get("detail")})))
    return out


def _timeline(r: Mapping[str, Any]) -> str:
    t_max = _extent(r)
    bars, markers = _phase_bars(r, t_max), _markers(r)
    if not bars and not markers:
        return section("timeline", "Timeline", '<p class="nodata">no timeline data</p>')
    legend = ('<p class="legend"><span class="lg checkpoint">◆</span> checkpoint '
              '<span class="lg failure">●</span> failure <span class="lg recovery">▲</span> '
              'recovery <span class="lg event">■</span> pause, resume, alert, command, start/stop '
              '<span class="muted">· hover a marker for details</span></p>')
    return section("timeline", "Timeline (session time)", legend,
                    charts.timeline_chart(bars, markers, t_max))


CHARTS = (("tokens", "Tokens (cumulative)", "tokens", False, "#4c78a8"),
          ("tool_calls", "Tool calls (cumulative)", "calls", False, "#59a14f"),
          ("loc", "Lines of code", "lines", False, "#b07aa1"),
          ("coverage", "Test coverage", "", True, "#76b7b2"),
          ("errors", "Errors (cumulative)", "errors", False, "#e15759"),
          ("tokens_per_minute", "Tokens per minute", "tokens/min", False, "#f28e2b"))


def _charts(r: Mapping[str, Any]) -> str:
    series, t_max = as_map(r.get("series")), _extent(r)
    cards = []
    for key, title, unit, percent, color in CHARTS:
        svg = charts.line_chart(title, series.get("t"), series.get(key), unit=unit,
                                percent=percent, t_max=t_max, color=color)
        cards.append(f'<figure class="card"><figcaption>{esc(title)}</figcaption>{svg}</figure>')
    return section("charts", "Over session time", f'<div class="grid">{"".join(cards)}</div>')


def _agents(r: Mapping[str, Any]) -> str:
    rows = []
    for a in map(as_map, as_list(r.get("agents"))):
        util = finite(a.get("utilization"))
        bar = (f'<span class="bar"><i style="width:{min(max(util, 0), 1) * 100:.0f}%"></i></span>'
               f"{fmt_pct(util)}" if util is not None else fmt_value(a.get("utilization")))
        rows.append(f"<tr><td><code>{fmt_value(a.get('id'))}</code></td><td>{fmt_value(a.get('role'))}"
                    f"</td>{num_td(a.get('tokens'))}{num_td(a.get('tool_calls'))}"
                    f"{num_td(a.get('tasks_completed'))}{num_td(a.get('errors'))}"
                    f"{num_td(a.get('restarts'))}{td(bar, util, 'nw')}<td>{fmt_value(a.get('models'))}"
                    f"</td><td>{fmt_value(a.get('exits'))}</td></tr>")
    return section("agents", "Agents", table(
        ("Agent", "Role", "Tokens", "Tool calls", "Tasks", "Errors", "Restarts", "Utilization",
         "Models", "Exits"), rows, "no agent data"))


def _phases(r: Mapping[str, Any]) -> str:
    rows = []
    for p in map(as_map, as_list(r.get("phases"))):
        start, end = finite(p.get("start_t")), finite(p.get("end_t"))
        actual = end - start if start is not None and end is not None else None
        tests = as_map(p.get("tests"))
        passed = f"{fmt_value(tests.get('passed'))} / {fmt_value(tests.get('failed'))}"
        goals = [*as_list(p.get("objectives")), *as_list(p.get("success_criteria"))]
        more = ("<details><summary>objectives</summary><ul>"
                + "".join(f"<li>{fmt_value(g)}</li>" for g in goals) + "</ul></details>"
                if goals else "")
        rows.append(f"<tr><td>{fmt_value(p.get('name'))}{more}</td><td>{badge(p.get('status'))}"
                    f"</td>{num_td(start, fmt_duration(start))}"
                    f"{num_td(p.get('planned_seconds'), fmt_duration(p.get('planned_seconds')))}"
                    f"{num_td(actual, fmt_duration(actual))}{num_td(len(as_list(p.get('agents'))))}"
                    f"{num_td(p.get('tokens'))}{num_td(p.get('tool_calls'))}"
                    f"{num_td(p.get('tasks_completed'))}{num_td(p.get('errors'))}"
                    f"{num_td(tests.get('passed'), passed)}"
                    f"{num_td(tests.get('coverage'), fmt_pct(tests.get('coverage')))}</tr>")
    return section("phases", "Phases", table(
        ("Phase", "Status", "Start", "Planned", "Actual", "Agents", "Tokens", "Tool calls",
         "Tasks", "Errors", "Tests ✓/✗", "Coverage"), rows, "no phase data"))


def _code(r: Mapping[str, Any]) -> str:
    code = as_map(r.get("code"))
    if not code:
        return section("code", "Code and tests", '<p class="nodata">no code measurements</p>')
    langs = [(str(k), finite(v) or 0.0) for k, v in as_map(code.get("loc_by_language")).items()]
    langs.sort(key=lambda kv: -kv[1])
    top = max([v for _, v in langs] + [1.0])
    bars = "".join(f'<div class="lang"><span>{esc(k)}</span><span class="bar wide"><i style='
                   f'"width:{v / top * 100:.0f}%"></i></span><span class="n">{fmt_value(v)}</span>'
                   "</div>" for k, v in langs)
    t = as_map(code.get("tests"))
    facts = [("Passed", fmt_value(t.get("passed"))), ("Failed", fmt_value(t.get("failed"))),
             ("Errors", fmt_value(t.get("errors"))), ("Skipped", fmt_value(t.get("skipped"))),
             ("Pass rate", fmt_pct(t.get("pass_rate"))), ("Coverage", fmt_pct(t.get("coverage"))),
             ("Duration", fmt_duration(t.get("duration_s"))),
             ("Exit code", fmt_value(t.get("exit_code"))),
             ("Command", f"<code>{fmt_value(t.get('command'))}</code>")]
    dl = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return section("code", "Code and tests", '<div class="cols"><div><h3>Lines by language</h3>'
                    + (bars or '<p class="nodata">no data</p>')
                    + f'</div><div><h3>Final test run</h3><dl class="meta">{dl}</dl></div></div>')


def _checkpoints(r: Mapping[str, Any]) -> str:
    items = [as_map(c) for c in as_list(r.get("checkpoints"))]
    rows = []
    for c in items[:MAX_ROWS]:
        valid = c.get("valid")
        mark = badge("pass", "valid") if valid is True else (
            badge("fail", "invalid") if valid is False else NONE)
        rows.append(f"{'<tr>'}{num_td(c.get('number'))}{num_td(c.get('t'), fmt_duration(c.get('t')))}"
                    f"<td>{fmt_value(c.get('phase'))}</td><td>{fmt_value(c.get('trigger'))}</td>"
                    f"{num_td(c.get('duration_ms'))}{num_td(c.get('held_ms'))}"
                    f"{num_td(c.get('size_bytes'), fmt_bytes(c.get('size_bytes')))}"
                    f"{num_td(c.get('files'))}<td>{mark}</td></tr>")
    return section("checkpoints", "Checkpoints", table(
        ("#", "At", "Phase", "Trigger", "Took ms", "Held ms", "Size", "Files", "Valid"), rows,
        "no checkpoints were taken", len(items)))


def _failures(r: Mapping[str, Any]) -> str:
    items = [as_map(f) for f in as_list(r.get("failures"))]
    rows = []
    for f in items[:MAX_ROWS]:
        rows.append(f"<tr>{num_td(f.get('t'), fmt_duration(f.get('t')))}"
                    f"<td><code>{fmt_value(f.get('agent'))}</code></td>"
                    f"<td>{fmt_value(f.get('type'))}</td><td>{fmt_value(f.get('severity'))}</td>"
                    f"<td>{fmt_value(f.get('action'))}</td><td>{fmt_value(f.get('outcome'))}</td>"
                    f"{num_td(f.get('attempts'))}"
                    f"{num_td(f.get('recovery_seconds'), fmt_duration(f.get('recovery_seconds')))}"
                    f'<td class="msg">{fmt_value(f.get("message"))}</td></tr>')
    return section("failures", "Failures and recoveries", table(
        ("At", "Agent", "Type", "Severity", "Action", "Outcome", "Attempts", "Recovery",
         "Message"), rows, "no failures recorded", len(items)))


def _efficiency(r: Mapping[str, Any]) -> str:
    rows = []
    for m in map(as_map, as_list(r.get("efficiency"))):
        grade = str(m.get("grade")) if m.get("grade") in GRADES else "unknown"
        th = as_map(m.get("thresholds"))
        rows.append(f"<tr><td>{fmt_value(m.get('name'))}</td>"
                    f"{num_td(m.get('value'), fmt_value(m.get('value')) + ' ' + fmt_value(m.get('unit')) if m.get('unit') else None)}"
                    f'<td><span class="grade grade-{grade}">{esc(grade)}</span></td>'
                    f"{num_td(th.get('target'))}{num_td(th.get('good'))}{num_td(th.get('excellent'))}</tr>")
    cost = as_map(r.get("cost"))
    money = [("Tokens", cost.get("tokens_usd")), ("Compute", cost.get("compute_usd")),
             ("Total", cost.get("total_usd"))]
    cost_html = ('<h3>Cost estimate</h3>' + (
        '<dl class="meta">' + "".join(
            f"<div><dt>{k}</dt><dd>{'$' + format(v, ',.2f') if finite(v) is not None else fmt_value(v)}"
            "</dd></div>" for k, v in money) + "</dl>"
        + (f'<p class="muted">{esc(cost["detail"])}</p>' if cost.get("detail") else "")
        if cost else '<p class="nodata">no cost estimate</p>'))
    return section("efficiency", "Efficiency and cost", table(
        ("Metric", "Value", "Grade", "Target", "Good", "Excellent"), rows,
        "no efficiency metrics"), cost_html)


def _recommendations(r: Mapping[str, Any]) -> str:
    items = [x for x in as_list(r.get("recommendations")) if x not in (None, "")]
    body = ("<ul>" + "".join(f"<li>{fmt_value(x)}</li>" for x in items) + "</ul>" if items
            else '<p class="nodata">no recommendations</p>')
    return section("recommendations", "Recommendations", body)


def _footer(r: Mapping[str, Any]) -> str:
    version = r.get("schema_version")
    note = ("" if version in (1, None) else
            f' · <strong>report schema {esc(version)} is not 1: some sections may be missing</strong>')
    sv = as_map(r.get("session")).get("supervisor_version")
    return (f"<footer>megatest supervisor {fmt_value(sv)} · report schema "
            f"{fmt_value(version)}{note}</footer>")
