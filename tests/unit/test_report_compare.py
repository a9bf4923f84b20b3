"""Comparing reports side by side with deltas, and Markdown of partial reports."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rich.console import Console

from supervisor.report.compare import compare, deltas, render_tables
from supervisor.report.markdown import render_markdown
from supervisor.report.sample import interrupted_report, sample_report


@pytest.mark.parametrize("values,absolute,relative", [
    ([10, 15, 5], [None, 5.0, -5.0], [None, 0.5, -0.5]),
    ([0, 3], [None, 3.0], [None, None]),
    ([None, 3], [None, None], [None, None]),
    ([2.0, None, "x", True], [None, None, None, None], [None, None, None, None]),
])
def test_deltas_against_the_first(values: list[Any], absolute: list[Any],
                                  relative: list[Any]) -> None:
    """Numbers get value - base and the relative change; anything else, or a zero base for
    the relative change, gives None."""
    assert deltas(values) == (absolute, relative)


def _metric(cmp: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in cmp["metrics"] if m["name"] == name)


def test_compare_metrics_criteria_efficiency() -> None:
    """Two reports: metrics with deltas, criteria whose status changed, grades side by side."""
    a = sample_report(seed=1)
    b = copy.deepcopy(a)
    b["session"]["id"] = "other"
    b["totals"]["tokens"] = a["totals"]["tokens"] + 1000
    b["criteria"][0] = {**b["criteria"][0], "status": "fail"}
    b["efficiency"][0] = {**b["efficiency"][0], "value": a["efficiency"][0]["value"] + 10,
                          "grade": "below"}
    cmp = compare([a, b])
    assert cmp["sessions"] == [a["session"]["id"], "other"]
    tokens = _metric(cmp, "tokens")
    assert tokens["values"] == [a["totals"]["tokens"], b["totals"]["tokens"]]
    assert tokens["deltas"] == [None, 1000.0]
    changed = [c["name"] for c in cmp["criteria"] if c["changed"]]
    assert changed == [a["criteria"][0]["name"]]
    first = cmp["efficiency"][0]
    assert first["deltas"][1] == pytest.approx(10.0) and first["grades"][1] == "below"


def test_compare_tolerates_partial_reports_and_renders() -> None:
    """An interrupted report with no criteria still compares and renders as tables."""
    cmp = compare([sample_report(), interrupted_report(), interrupted_report()])
    assert _metric(cmp, "status")["values"] == ["completed", "interrupted", "interrupted"]
    assert all(c["status"][1] is None for c in cmp["criteria"])
    console = Console(width=200, record=True)
    for table in render_tables(cmp):
        console.print(table)
    text = console.export_text()
    assert "Metrics" in text and "Success criteria" in text and "interrupted" in text


def test_compare_needs_two() -> None:
    """One report is not a comparison."""
    with pytest.raises(ValueError):
        compare([sample_report()])


@pytest.mark.parametrize("report", [interrupted_report(), {}, {"criteria": None, "agents": 3}])
def test_markdown_of_partial_reports(report: dict[str, Any]) -> None:
    """Missing or odd sections render as "none" instead of failing."""
    md = render_markdown(report)
    assert md.startswith("# Mega test report") and "## Success criteria" in md
    assert "_none_" in md
