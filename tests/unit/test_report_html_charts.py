"""SVG charts of the HTML report: downsampling, axes, line charts and the timeline."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from supervisor.report.charts import (
    Bar,
    Marker,
    downsample,
    fmt_duration,
    fmt_tick,
    line_chart,
    series_points,
    time_ticks,
    timeline_chart,
    y_scale,
)


def test_short_series_are_kept_whole() -> None:
    """A series under the limit comes back unchanged."""
    points = [(float(i), float(i * i)) for i in range(50)]
    assert downsample(points, 600) == points


def test_downsample_keeps_first_last_min_and_max() -> None:
    """A noisy 7000-point series keeps its ends and its extremes within the limit."""
    rng = random.Random(3)
    points = [(float(i), rng.gauss(0, 1)) for i in range(7000)]
    points[4321] = (4321.0, 50.0)  # a spike
    points[77] = (77.0, -50.0)  # a dip
    kept = downsample(points, 600)
    assert len(kept) <= 600
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert (4321.0, 50.0) in kept and (77.0, -50.0) in kept
    assert [p[0] for p in kept] == sorted(p[0] for p in kept)


@given(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=400), st.integers(4, 40))
def test_downsample_properties(values: list[float], limit: int) -> None:
    """For any series: at most the limit, ends kept, global min and max kept, order kept."""
    points = [(float(i), v) for i, v in enumerate(values)]
    kept = downsample(points, limit)
    assert len(kept) <= max(limit, 4)
    assert set(kept) <= set(points)
    if points:
        assert kept[0] == points[0] and kept[-1] == points[-1]
        assert min(p[1] for p in kept) == min(values)
        assert max(p[1] for p in kept) == max(values)
        assert [p[0] for p in kept] == sorted(p[0] for p in kept)


def test_series_points_drop_gaps_and_sort() -> None:
    """Null, NaN, bool and text values are dropped; points come back sorted by time."""
    ts = [30, 0, 60, 90, 120, None]
    ys = [0.5, None, float("nan"), True, "x", 0.9]
    assert series_points(ts, ys) == [(30.0, 0.5)]
    assert series_points([2, 1], [20, 10]) == [(1.0, 10.0), (2.0, 20.0)]
    assert series_points(None, [1]) == []


def test_time_ticks_are_round() -> None:
    """Axis ticks over six hours fall on whole hours; over 42 seconds on 10 s."""
    assert time_ticks(6 * 3600) == [h * 3600.0 for h in range(7)]
    assert time_ticks(42) == [0, 10, 20, 30, 40]
    assert [fmt_tick(t) for t in (0, 45, 1800, 3600, 5400)] == ["0", "45s", "30m", "1h", "1h30"]


def test_fmt_duration() -> None:
    """Durations read as seconds, minutes or hours; unknown is a dash."""
    assert fmt_duration(4.25) == "4.2s"
    assert fmt_duration(42) == "42s"
    assert fmt_duration(725) == "12m 05s"
    assert fmt_duration(21600) == "6h 00m"
    assert fmt_duration(None) == "—" and fmt_duration(math.inf) == "—"


def test_line_chart_draws_a_path_or_says_no_data() -> None:
    """A series gives one line path spanning the plot; no points give a "no data" box."""
    svg = line_chart("Tokens", [0, 60, 120], [0, 500, 900])
    assert svg.startswith("<svg") and svg.count('<path class="line"') == 1
    assert "<title>Tokens</title>" in svg and "2m 00s: 900" in svg
    assert "no data for tokens" in line_chart("Tokens", [], [])
    assert "no data" in line_chart("Coverage", [0, 1], [None, None], percent=True)


def test_percent_chart_labels_percentages() -> None:
    """A coverage chart's axis runs 0% to 100%."""
    svg = line_chart("Coverage", [0, 600], [0.4, 0.8], percent=True)
    assert ">0%<" in svg and ">100%<" in svg and "80%" in svg


def test_timeline_escapes_and_places_markers() -> None:
    """Bars and markers carry escaped tooltips; an unknown marker kind lands in a known lane."""
    svg = timeline_chart([Bar("<b>dev</b>", 0, 3600, "dev <tip>")],
                         [Marker(60, "failure", "boom & bust"), Marker(90, "<evil>", "x")], 7200)
    assert "<b>" not in svg and "&lt;b&gt;dev&lt;/b&gt;" in svg
    assert "boom &amp; bust" in svg and 'class="mk event"' in svg
    assert "<evil>" not in svg


def test_y_scale_has_few_round_ticks() -> None:
    """The value axis is 0-100% for fractions and a few round steps otherwise."""
    assert y_scale(0.8, percent=True) == (0.25, 1.0)
    assert y_scale(0) == (1.0, 1.0)
    assert y_scale(997_067) == (200_000, 1_000_000)
    for top in (3.0, 1e-9, 123.4, 1e300):
        step, y_max = y_scale(top)
        assert y_max >= top and 1 <= y_max / step <= 10


def test_huge_or_percent_values_keep_the_chart_small() -> None:
    """Coverage given as 0-100 reads as percent; absurd values still draw a few grid lines."""
    svg = line_chart("Coverage", [0, 600], [40, 80], percent=True)
    assert ">100%<" in svg and ">10000%<" not in svg
    huge = line_chart("Coverage", [0, 1], [0.5, 1e300], percent=True)
    assert huge.count('<line class="grid"') < 40
