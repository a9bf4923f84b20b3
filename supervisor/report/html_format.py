"""Formatting and table primitives for the HTML report: every value in, escaped HTML out.

Values come from report data that may be partial, old or hostile: anything may be missing,
None, of the wrong type or full of markup, so nothing here raises and everything is escaped.
CSS classes are picked from fixed tables, never taken from the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from supervisor.report.charts import finite

STATUS_CLASS = {"completed": "ok", "pass": "ok", "failed": "bad", "fail": "bad",
                "interrupted": "warn", "budget_exhausted": "warn", "paused": "info",
                "running": "info", "skipped": "warn", "pending": "muted",
                "not_measured": "muted"}
NONE = '<span class="muted">—</span>'


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def fmt_value(value: Any) -> str:
    """Any data value as escaped HTML: numbers grouped, bools yes/no, lists joined, None a dash."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    number = finite(value)
    if number is not None:
        if number == int(number) and abs(number) < 1e15:
            return f"{int(number):,}"
        return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}"
    if isinstance(value, float):
        return esc(value)  # nan / inf
    if isinstance(value, Mapping):
        return esc(", ".join(f"{k}={v}" for k, v in value.items())) or NONE
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value) or NONE
    return esc(value)


def fmt_pct(value: Any) -> str:
    """A 0..1 fraction (or an already-percent number above 1) as ``81.0%``."""
    number = finite(value)
    if number is None:
        return fmt_value(value)
    return f"{number * 100 if number <= 1 else number:.1f}%"


def fmt_bytes(value: Any) -> str:
    number = finite(value)
    if number is None:
        return fmt_value(value)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(number) < 1024 or unit == "GB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return ""  # pragma: no cover - the loop always returns


def fmt_when(value: Any) -> str:
    """A wall time (Unix seconds or ISO text) as ``2026-01-01 10:00 UTC``."""
    number = finite(value)
    try:
        if number is not None:
            moment = datetime.fromtimestamp(number, tz=UTC)
        elif isinstance(value, str) and value:
            moment = datetime.fromisoformat(value)
        else:
            return NONE
    except (ValueError, OverflowError, OSError):
        return fmt_value(value)
    zone = "UTC" if moment.utcoffset() is not None and not moment.utcoffset() else ""
    return esc(moment.strftime("%Y-%m-%d %H:%M ") + (zone or (moment.tzname() or ""))).strip()


def badge(status: Any, text: Any = None) -> str:
    """A coloured pill; the class comes from a fixed table, never from the data."""
    css = STATUS_CLASS.get(str(status), "muted")
    label = str(status).replace("_", " ") if text is None else str(text)
    return f'<span class="badge {css}">{esc(label) if status is not None else "unknown"}</span>'


def td(html: str, sort: Any = None, css: str = "") -> str:
    number = finite(sort)
    attrs = f' data-v="{number:g}"' if number is not None else ""
    attrs += f' class="{css}"' if css else ""
    return f"<td{attrs}>{html}</td>"


def num_td(value: Any, html: str | None = None) -> str:
    return td(fmt_value(value) if html is None else html, value, "n")


def table(headers: Sequence[str], rows: Sequence[str], empty: str, total: int = 0) -> str:
    if not rows:
        return f'<p class="nodata">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    more = (f'<p class="muted">showing {len(rows)} of {total:,} rows</p>'
            if total > len(rows) else "")
    return (f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>{more}")


def section(ident: str, title: str, *content: str) -> str:
    return f'<section id="{ident}"><h2>{esc(title)}</h2>{"".join(content)}</section>'


