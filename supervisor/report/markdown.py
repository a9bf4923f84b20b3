"""The final report as Markdown (``supervisor report SESSION --format md``). Pure.

Same data as the JSON and HTML reports; every section tolerates missing keys, so a
partial report (a session interrupted in its first minute) still renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_ROWS = 200
STATUS_MARK = {"pass": "✅ pass", "fail": "❌ fail", "not_measured": "➖ not measured"}


def _m(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _l(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list | tuple) else []


def fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    if isinstance(v, list | tuple):
        return ", ".join(fmt(x) for x in v) or "—"
    return str(v).replace("|", "\\|").replace("\n", " ")


def pct(v: Any) -> str:
    return f"{v:.1%}" if isinstance(v, int | float) and not isinstance(v, bool) else "—"


def hms(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        out.append(f"| … {len(rows) - MAX_ROWS} more | " + " | " * (len(headers) - 1))
    return [*out, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    r = _m(report)
    s, d, t = _m(r.get("session")), _m(r.get("duration")), _m(r.get("totals"))
    verdict = _m(r.get("verdict"))
    lines = [f"# Mega test report: {fmt(s.get('id'))}", "",
             f"- Project: {fmt(s.get('project_name'))} ({fmt(s.get('project_type'))})",
             f"- Status: **{fmt(r.get('status'))}**; critical criteria: "
             f"**{fmt(verdict.get('critical'))}**",
             f"- Session time: {hms(d.get('session_seconds'))} of "
             f"{hms(d.get('planned_session_seconds'))} planned; wall time "
             f"{hms(d.get('wall_seconds'))} (time scale {fmt(s.get('time_scale'))})",
             f"- Agents: {fmt(s.get('agents'))}; resumes: {fmt(s.get('resumes'))}", "",
             "## Totals", ""]
    lines += table(("Tokens", "Tool calls", "Tasks done", "Errors", "Failures", "Recovered",
                    "Checkpoints", "Restarts"),
                   [(fmt(t.get("tokens")), fmt(t.get("tool_calls")),
                     fmt(t.get("tasks_completed")), fmt(t.get("errors")), fmt(t.get("failures")),
                     fmt(t.get("recoveries")), fmt(t.get("checkpoints")), fmt(t.get("restarts")))]
                   if t else [])
    lines += ["## Success criteria", ""]
    lines += table(("Tier", "Criterion", "Measured", "Threshold", "Status", "Detail"),
                   [(fmt(c.get("tier")), fmt(c.get("name")), fmt(c.get("measured")),
                     fmt(c.get("threshold")), STATUS_MARK.get(str(c.get("status")),
                                                              fmt(c.get("status"))),
                     fmt(c.get("detail"))) for c in map(_m, _l(r.get("criteria")))])
    lines += ["## Efficiency", ""]
    lines += table(("Metric", "Value", "Grade", "Target", "Good", "Excellent"),
                   [(fmt(e.get("name")), f"{fmt(e.get('value'))} {e.get('unit') or ''}".strip(),
                     fmt(e.get("grade")), fmt(_m(e.get("thresholds")).get("target")),
                     fmt(_m(e.get("thresholds")).get("good")),
                     fmt(_m(e.get("thresholds")).get("excellent")))
                    for e in map(_m, _l(r.get("efficiency")))])
    cost = _m(r.get("cost"))
    if cost:
        lines += [f"**Cost estimate:** ${cost.get('total_usd', 0):,.2f} "
                  f"(tokens ${cost.get('tokens_usd', 0):,.2f}, compute "
                  f"${cost.get('compute_usd', 0):,.2f}): {fmt(cost.get('detail'))}", ""]
    lines += _code(r) + _agents(r) + _phases(r) + _checkpoints(r) + _failures(r)
    recs = [x for x in _l(r.get("recommendations")) if x]
    lines += ["## Recommendations", ""] + ([f"- {x}" for x in recs] or ["_none_"]) + [""]
    return "\n".join(lines)


def _code(r: Mapping[str, Any]) -> list[str]:
    code = _m(r.get("code"))
    tests, build, sec = _m(code.get("tests")), _m(code.get("build")), _m(code.get("security"))
    langs = ", ".join(f"{k} {fmt(v)}" for k, v in _m(code.get("loc_by_language")).items())
    found = _m(sec.get("findings"))
    return ["## Code quality", "",
            f"- Lines of code: {fmt(code.get('lines_of_code'))} in {fmt(code.get('files'))} "
            f"files ({langs or 'no breakdown'})",
            f"- Tests: {fmt(tests.get('passed'))} passed, {fmt(tests.get('failed'))} failed, "
            f"{fmt(tests.get('errors'))} errors; pass rate {pct(tests.get('pass_rate'))}; "
            f"coverage {pct(tests.get('coverage'))}; {fmt(tests.get('duration_s'))} s",
            f"- Build ({fmt(build.get('tool'))}): "
            + (fmt(build.get("skipped")) if build.get("skipped") else
               f"{'ok' if build.get('ok') else 'FAILED' if build.get('ok') is False else '—'}"
               f" in {fmt(build.get('duration_s'))} s"),
            f"- Security ({fmt(sec.get('tool'))}): "
            + (fmt(sec.get("skipped") or sec.get("error")) if not found else
               f"{fmt(found.get('high'))} high, {fmt(found.get('medium'))} medium, "
               f"{fmt(found.get('low'))} low"), ""]


def _agents(r: Mapping[str, Any]) -> list[str]:
    return ["## Agents", ""] + table(
        ("Agent", "Role", "Tokens", "Tool calls", "Tasks", "Errors", "Restarts", "Utilization",
         "Models"),
        [(fmt(a.get("id")), fmt(a.get("role")), fmt(a.get("tokens")), fmt(a.get("tool_calls")),
          fmt(a.get("tasks_completed")), fmt(a.get("errors")), fmt(a.get("restarts")),
          pct(a.get("utilization")), fmt(a.get("models"))) for a in map(_m, _l(r.get("agents")))])


def _phases(r: Mapping[str, Any]) -> list[str]:
    return ["## Phases", ""] + table(
        ("Phase", "Status", "Start", "End", "Tokens", "Tool calls", "Tasks", "Errors",
         "Coverage"),
        [(fmt(p.get("name")), fmt(p.get("status")), hms(p.get("start_t")), hms(p.get("end_t")),
          fmt(p.get("tokens")), fmt(p.get("tool_calls")), fmt(p.get("tasks_completed")),
          fmt(p.get("errors")), pct(_m(p.get("tests")).get("coverage")))
         for p in map(_m, _l(r.get("phases")))])


def _checkpoints(r: Mapping[str, Any]) -> list[str]:
    return ["## Checkpoints", ""] + table(
        ("#", "At", "Phase", "Trigger", "Took ms", "Size", "Files", "Valid"),
        [(fmt(c.get("number")), hms(c.get("t")), fmt(c.get("phase")), fmt(c.get("trigger")),
          fmt(c.get("duration_ms")), fmt(c.get("size_bytes")), fmt(c.get("files")),
          fmt(c.get("valid")) if c.get("valid") is not None else fmt(c.get("error")))
         for c in map(_m, _l(r.get("checkpoints")))])


def _failures(r: Mapping[str, Any]) -> list[str]:
    return ["## Error log", ""] + table(
        ("At", "Agent", "Type", "Severity", "Action", "Outcome", "Attempts", "Recovery s",
         "Message"),
        [(hms(f.get("t")), fmt(f.get("agent")), fmt(f.get("type")), fmt(f.get("severity")),
          fmt(f.get("action")), fmt(f.get("outcome")), fmt(f.get("attempts")),
          fmt(f.get("recovery_seconds")), fmt(str(f.get("message") or "")[:120]))
         for f in map(_m, _l(r.get("failures")))])
