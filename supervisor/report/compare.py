"""Side-by-side comparison of final reports (``supervisor compare A B [C ...]``). Pure.

The first session is the base: every numeric value of the others gets a delta against it
(``value - base``) and, when the base is not zero, the relative change. Criteria compare
by status; efficiency by value (with delta) and grade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

# (label, path into the report)
METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("session time (s)", ("duration", "session_seconds")),
    ("wall time (s)", ("duration", "wall_seconds")),
    ("tokens", ("totals", "tokens")),
    ("prompt tokens", ("totals", "prompt_tokens")),
    ("completion tokens", ("totals", "completion_tokens")),
    ("tool calls", ("totals", "tool_calls")),
    ("tool calls failed", ("totals", "tool_calls_failed")),
    ("tasks completed", ("totals", "tasks_completed")),
    ("errors", ("totals", "errors")),
    ("failures", ("totals", "failures")),
    ("recoveries", ("totals", "recoveries")),
    ("restarts", ("totals", "restarts")),
    ("checkpoints", ("totals", "checkpoints")),
    ("lines of code", ("code", "lines_of_code")),
    ("tests passed", ("code", "tests", "passed")),
    ("tests failed", ("code", "tests", "failed")),
    ("test pass rate", ("code", "tests", "pass_rate")),
    ("coverage", ("code", "tests", "coverage")),
    ("cost (USD)", ("cost", "total_usd")),
)


def dig(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def deltas(values: Sequence[Any]) -> tuple[list[float | None], list[float | None]]:
    """Absolute and relative change of each value against the first (None for the first)."""
    base = _num(values[0]) if values else None
    absolute: list[float | None] = [None]
    relative: list[float | None] = [None]
    for v in values[1:]:
        n = _num(v)
        if base is None or n is None:
            absolute.append(None)
            relative.append(None)
            continue
        absolute.append(round(n - base, 6))
        relative.append(round((n - base) / abs(base), 6) if base else None)
    return absolute, relative


def compare(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if len(reports) < 2:
        raise ValueError("compare needs at least two reports")
    ids = [str(dig(r, ("session", "id"))) for r in reports]
    metrics = [{"name": "status", "values": [r.get("status") for r in reports],
                "deltas": [None] * len(reports), "relative": [None] * len(reports)}]
    for label, path in METRICS:
        values = [dig(r, path) for r in reports]
        absolute, relative = deltas(values)
        metrics.append({"name": label, "values": values, "deltas": absolute,
                        "relative": relative})
    return {"sessions": ids, "base": ids[0], "metrics": metrics,
            "criteria": _criteria(reports), "efficiency": _efficiency(reports),
            "verdicts": [dig(r, ("verdict", "critical")) for r in reports]}


def _by_id(rows: Any) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, Mapping):
            out[str(row.get("id") or row.get("name"))] = row
    return out


def _order(tables: Sequence[dict[str, Mapping[str, Any]]]) -> list[str]:
    seen: list[str] = []
    for t in tables:
        seen += [k for k in t if k not in seen]
    return seen


def _criteria(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    tables = [_by_id(r.get("criteria")) for r in reports]
    out = []
    for key in _order(tables):
        rows = [t.get(key) or {} for t in tables]
        first = next(r for r in rows if r)
        statuses = [r.get("status") for r in rows]
        out.append({"id": key, "name": first.get("name"), "tier": first.get("tier"),
                    "status": statuses, "measured": [r.get("measured") for r in rows],
                    "changed": len(set(statuses)) > 1})
    return out


def _efficiency(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    tables = [_by_id(r.get("efficiency")) for r in reports]
    out = []
    for key in _order(tables):
        rows = [t.get(key) or {} for t in tables]
        first = next(r for r in rows if r)
        values = [r.get("value") for r in rows]
        absolute, relative = deltas(values)
        out.append({"id": key, "name": first.get("name"), "unit": first.get("unit"),
                    "values": values, "grades": [r.get("grade") for r in rows],
                    "deltas": absolute, "relative": relative})
    return out


# -- rendering ----------------------------------------------------------------------------


def _cell(value: Any, delta: float | None = None, rel: float | None = None) -> str:
    if value is None:
        text = "—"
    elif isinstance(value, float):
        text = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = str(value)
    if delta is not None and delta != 0:
        sign = "+" if delta > 0 else ""
        d = f"{delta:,.4g}" if abs(delta) < 1000 else f"{delta:,.0f}"
        text += f" ({sign}{d}" + (f", {sign}{rel:.0%})" if rel is not None else ")")
    return text


def render_tables(cmp: Mapping[str, Any]) -> list[Table]:
    """Three rich tables (metrics, criteria, efficiency), one column per session."""
    ids = list(cmp["sessions"])
    metrics = Table(title="Metrics (delta vs the first session)", header_style="bold")
    criteria = Table(title="Success criteria", header_style="bold")
    efficiency = Table(title="Efficiency", header_style="bold")
    for t, first in ((metrics, "metric"), (criteria, "criterion"), (efficiency, "metric")):
        t.add_column(first)
        for sid in ids:
            t.add_column(sid, overflow="fold")
    for m in cmp["metrics"]:
        metrics.add_row(m["name"], *(_cell(v, d, r) for v, d, r in
                                     zip(m["values"], m["deltas"], m["relative"], strict=True)))
    for c in cmp["criteria"]:
        mark = " *" if c["changed"] else ""
        criteria.add_row(f"[{c['tier']}] {c['name']}{mark}",
                         *(f"{s or '—'} ({_cell(v)})" for s, v in
                           zip(c["status"], c["measured"], strict=True)))
    for e in cmp["efficiency"]:
        efficiency.add_row(f"{e['name']} ({e['unit']})",
                           *(f"{_cell(v, d, r)} {g or '—'}" for v, d, r, g in
                             zip(e["values"], e["deltas"], e["relative"], e["grades"],
                                 strict=True)))
    return [metrics, criteria, efficiency]
