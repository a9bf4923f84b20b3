"""Shared family: text widgets for dashboards (any project type)."""

from __future__ import annotations

from .builder import code_unit
from .units import Unit

WIDGETS: dict[str, tuple[str, str, str]] = {
    "progress_bar": ("renders a fraction as [####....] 50%", '''
"""A text progress bar."""

from __future__ import annotations


def progress_bar(fraction: float, width: int = 20) -> str:
    """``[#####.....]  50%`` for ``fraction`` 0.5; the fraction is clamped to 0..1."""
    if width < 1:
        raise ValueError("width must be >= 1")
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:3.0f}%"
''', '''
import pytest

from __PKG__.widgets.progress_bar import progress_bar


def test_half_full():
    assert progress_bar(0.5, width=10) == "[#####.....]  50%"


def test_clamps_out_of_range():
    assert progress_bar(1.7, width=4) == "[####] 100%"
    assert progress_bar(-1, width=4) == "[....]   0%"


def test_rejects_zero_width():
    with pytest.raises(ValueError):
        progress_bar(0.3, width=0)
'''),
    "sparkline": ("draws a series as a one-line sparkline", '''
"""One-line sparklines from a series of numbers."""

from __future__ import annotations

BLOCKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"


def sparkline(values: list[float]) -> str:
    """One block character per value, scaled between the series' min and max."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return BLOCKS[len(BLOCKS) // 2] * len(values)
    scale = (len(BLOCKS) - 1) / (high - low)
    return "".join(BLOCKS[round((v - low) * scale)] for v in values)
''', '''
from __PKG__.widgets.sparkline import BLOCKS, sparkline


def test_min_and_max_map_to_the_ends():
    line = sparkline([0, 5, 10])
    assert line[0] == BLOCKS[0] and line[-1] == BLOCKS[-1]
    assert len(line) == 3


def test_flat_series_is_flat():
    assert len(set(sparkline([3, 3, 3, 3]))) == 1


def test_empty_series():
    assert sparkline([]) == ""
'''),
    "table": ("lays out rows as an aligned text table", '''
"""Aligned plain-text tables."""

from __future__ import annotations


def render_table(headers: list[str], rows: list[list[object]]) -> str:
    """Columns padded to their widest cell, a dashed rule under the headers."""
    cells = [[str(c) for c in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row {row} has {len(row)} cells, expected {len(headers)}")
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(items: list[str]) -> str:
        return "  ".join(item.ljust(w) for item, w in zip(items, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\\n".join([line(headers), rule] + [line(r) for r in cells])
''', '''
import pytest

from __PKG__.widgets.table import render_table


def test_columns_are_aligned():
    text = render_table(["name", "n"], [["alpha", 1], ["b", 22]])
    assert text.splitlines() == ["name   n", "-----  --", "alpha  1", "b      22"]


def test_rejects_ragged_rows():
    with pytest.raises(ValueError):
        render_table(["a", "b"], [[1]])
'''),
    "humanize": ("formats byte counts and durations for people", '''
"""Human-friendly byte counts and durations."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(size: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; bytes below 1024 are shown whole."""
    if size < 0:
        raise ValueError("size must be >= 0")
    unit = 0
    while size >= 1024 and unit < len(UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{int(size)} B" if unit == 0 else f"{size:.1f} {UNITS[unit]}"


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1h 2m 5s"``; zero parts are left out (but never everything)."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return " ".join(parts) or "0s"
''', '''
import pytest

from __PKG__.widgets.humanize import format_bytes, format_duration


@pytest.mark.parametrize("size, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                        (5 * 1024**3, "5.0 GiB")])
def test_format_bytes(size, text):
    assert format_bytes(size) == text


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (3725, "1h 2m 5s"),
                                           (7200, "2h")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_negative_values_are_rejected():
    with pytest.raises(ValueError):
        format_bytes(-1)
'''),
    "histogram": ("buckets values and draws horizontal bars", '''
"""Histograms: count values into equal-width buckets and draw them as bars."""

from __future__ import annotations


def bucket_counts(values: list[float], buckets: int, low: float, high: float) -> list[int]:
    """Counts per bucket over [low, high]; values outside are clamped to the end buckets."""
    if buckets < 1 or high <= low:
        raise ValueError("need buckets >= 1 and high > low")
    counts = [0] * buckets
    width = (high - low) / buckets
    for v in values:
        index = int((v - low) / width)
        counts[min(buckets - 1, max(0, index))] += 1
    return counts


def render_bars(counts: list[int], width: int = 30) -> list[str]:
    """One bar per count, the largest ``width`` characters long."""
    top = max(counts, default=0)
    return [("#" * round(c * width / top) if top else "") + f" {c}" for c in counts]
''', '''
import pytest

from __PKG__.widgets.histogram import bucket_counts, render_bars


def test_counts_fall_in_buckets():
    assert bucket_counts([0, 1, 5, 9.9, 10], buckets=2, low=0, high=10) == [2, 3]


def test_out_of_range_values_are_clamped():
    assert bucket_counts([-5, 50], buckets=3, low=0, high=3) == [1, 0, 1]


def test_bars_scale_to_the_largest():
    assert render_bars([1, 2], width=4) == ["## 1", "#### 2"]


def test_rejects_empty_range():
    with pytest.raises(ValueError):
        bucket_counts([1], buckets=2, low=1, high=1)
'''),
}


def units(pkg: str) -> list[Unit]:
    return [
        code_unit(pkg, f"widgets.{name}", f"widgets.{name}", source, test, stage=1,
                  package_doc="Text widgets for the dashboard.",
                  summary=f"widgets.{name} {what}", title=f"add the {name} widget")
        for name, (what, source, test) in WIDGETS.items()
    ]
