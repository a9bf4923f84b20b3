"""The HTML final report opened in a real headless Chromium: it loads cleanly, draws its
charts, fetches nothing, runs no injected script. The sample's screenshot is kept in
``.test-artifacts/report.png`` for people to look at."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from supervisor.report.html import write_html
from supervisor.report.sample import interrupted_report, sample_report
from tests.chromium import PageResult, find_chromium, load_page

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(find_chromium() is None,
                       reason="chromium is not installed (scripts/test installs it with apt-get)"),
]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".test-artifacts"
# Chart lines actually laid out with some length (a broken path has length 0).
DRAWN_LINES = """Array.from(document.querySelectorAll('svg.chart path.line'))
  .filter(p => p.getTotalLength() > 20 && p.getBBox().width > 20).length"""
RESOURCES = "performance.getEntriesByType('resource').length"


def _assert_clean(result: PageResult, url: str) -> None:
    """No console error, no uncaught exception, no dialog, no request but the page itself."""
    assert result.console_errors == []
    assert result.exceptions == []
    assert result.dialogs == []
    assert result.requests == [url]
    # the browser is gone: no live descendant (a zombie re-parented to this test process,
    # which other tests make a subreaper, is dead already)
    alive = [c for c in psutil.Process().children(recursive=True)
             if c.status() != psutil.STATUS_ZOMBIE]
    assert alive == []


def test_sample_report_loads_and_draws_charts(tmp_path: Path) -> None:
    """The full sample loads with no errors or requests and draws all six charts."""
    page = tmp_path / "final_report.html"
    write_html(sample_report(), page)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    result = load_page(page, {
        "lines": DRAWN_LINES,
        "resources": RESOURCES,
        "markers": "document.querySelectorAll('svg.timeline g.mk').length",
        "phase_bars": "document.querySelectorAll('svg.timeline g.phase rect').length",
        "criteria_rows": "document.querySelectorAll('#criteria tbody tr').length",
        "width": "document.documentElement.scrollWidth",
    }, screenshot=shot)
    _assert_clean(result, page.as_uri())
    assert result.values["lines"] == 6
    assert result.values["resources"] == 0
    assert result.values["markers"] > 20
    assert result.values["phase_bars"] == 4
    assert result.values["criteria_rows"] == 12
    assert result.values["width"] <= 1280  # nothing overflows the viewport sideways
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_table_headers_sort_rows(tmp_path: Path) -> None:
    """Clicking a numeric header sorts the agents table ascending, clicking again descending."""
    page = tmp_path / "final_report.html"
    write_html(sample_report(), page)
    column = """(() => {
      const th = document.querySelector('#agents thead th:nth-child(3)');
      const read = () => Array.from(document.querySelectorAll('#agents tbody tr'))
        .map(r => parseFloat(r.cells[2].getAttribute('data-v')));
      th.click(); const up = read(); th.click(); return [up, read()];
    })()"""
    result = load_page(page, {"sorted": column})
    _assert_clean(result, page.as_uri())
    up, down = result.values["sorted"]
    assert len(up) == 6 and up == sorted(up) and down == sorted(up, reverse=True)


def test_interrupted_report_loads(tmp_path: Path) -> None:
    """A first-minute report loads cleanly, draws its token chart and says "no data"."""
    page = tmp_path / "final_report.html"
    write_html(interrupted_report(), page)
    result = load_page(page, {
        "lines": DRAWN_LINES, "resources": RESOURCES,
        "nodata": "document.querySelectorAll('.nodata').length"})
    _assert_clean(result, page.as_uri())
    assert result.values["lines"] >= 1
    assert result.values["nodata"] >= 5
    assert result.values["resources"] == 0


def test_injected_markup_does_not_run(tmp_path: Path) -> None:
    """Script and event-handler payloads in the data stay text: no dialog, no element."""
    report = sample_report()
    report["agents"][0]["id"] = "<script>window.__pwned = 1; alert(1)</script>"
    report["failures"][0]["message"] = '"><img src=x onerror="window.__pwned=2">'
    report["session"]["project_name"] = "<svg onload=alert(3)>"
    page = tmp_path / "final_report.html"
    write_html(report, page)
    result = load_page(page, {
        "pwned": "typeof window.__pwned",
        "imgs": "document.querySelectorAll('img').length",
        "agent": "document.querySelector('#agents tbody code').textContent"})
    _assert_clean(result, page.as_uri())
    assert result.values["pwned"] == "undefined"
    assert result.values["imgs"] == 0
    assert result.values["agent"] == "<script>window.__pwned = 1; alert(1)</script>"
