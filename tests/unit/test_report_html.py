"""The HTML final report: escaping, empty and partial data, sections, self-containment."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.report.html import MAX_ROWS, render_html, write_html
from supervisor.report.sample import interrupted_report, sample_report

XSS = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(2)>'
SECTIONS = ("summary", "criteria", "timeline", "charts", "agents", "phases", "code",
            "checkpoints", "failures", "efficiency", "recommendations")


def _hostile() -> dict[str, Any]:
    """The sample report with attacker-controlled text in every kind of string field."""
    r = sample_report()
    r["session"]["id"] = XSS
    r["session"]["project_name"] = ATTR
    r["session"]["config_source"] = XSS
    r["agents"][0]["id"] = XSS
    r["agents"][0]["models"] = [ATTR]
    r["agents"][1]["role"] = ATTR
    r["phases"][0]["name"] = XSS
    r["phases"][1]["objectives"] = [ATTR]
    r["failures"][0]["message"] = XSS
    r["failures"][1]["agent"] = ATTR
    r["failures"][2]["type"] = XSS
    r["criteria"][0]["name"] = XSS
    r["criteria"][1]["detail"] = ATTR
    r["criteria"][2]["tier"] = ATTR
    r["criteria"][3]["status"] = ATTR
    r["checkpoints"][0]["trigger"] = XSS
    r["timeline"].append({"t": 10, "kind": "alert", "label": XSS, "detail": ATTR})
    r["code"]["loc_by_language"][XSS] = 5
    r["efficiency"][0]["unit"] = XSS
    r["efficiency"][1]["grade"] = ATTR
    r["cost"]["detail"] = XSS
    r["recommendations"].append(XSS)
    r["status"] = ATTR
    return r


def test_agent_id_script_is_escaped() -> None:
    """An agent id holding a script tag shows as text, escaped, and never as markup."""
    report = sample_report()
    report["agents"][0]["id"] = XSS
    page = render_html(report)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert XSS not in page


def test_every_string_field_is_escaped() -> None:
    """Markup in any string of the data never reaches the page as tags or attributes."""
    page = render_html(_hostile())
    assert page.count("<script") == 1  # the page's own sorting script
    assert "<img" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 10


def test_hostile_values_never_pick_css_classes() -> None:
    """Status, tier and grade values outside the known sets fall back to fixed classes."""
    page = render_html(_hostile())
    classes = " ".join(re.findall(r'class="([^"]*)"', page))
    assert "<" not in classes and ">" not in classes and "onerror" not in classes
    assert "grade-unknown" in page and "tier other" in page


def test_empty_report_renders_every_section_with_no_data() -> None:
    """An empty dict, None and an all-None report still give a full page saying "no data"."""
    all_none = dict.fromkeys(sample_report(), None)
    for report in ({}, None, all_none):
        page = render_html(report)  # type: ignore[arg-type]
        for ident in SECTIONS:
            assert f'id="{ident}"' in page
        assert "no agent data" in page and "no checkpoints were taken" in page
        assert "no data for tokens (cumulative)" in page
        assert page.rstrip().endswith("</html>")


def test_nested_none_and_wrong_types_do_not_crash() -> None:
    """None or wrongly typed values inside lists and maps render as dashes, not errors."""
    report: dict[str, Any] = {
        "session": {"id": None, "time_scale": "fast", "started_wall": "not a date"},
        "duration": {"session_seconds": float("nan"), "wall_seconds": None},
        "phases": [None, {}, {"name": "x", "start_t": "0", "end_t": None, "tests": 3}],
        "agents": [None, {"id": 5, "utilization": "high", "models": None, "exits": "oops"}],
        "series": {"t": [0, None, 30, "x"], "tokens": [1, 2], "coverage": "bad"},
        "timeline": [None, {"t": None, "kind": "failure"}, {"t": 5, "kind": 3}],
        "checkpoints": [{"t": float("inf"), "valid": "maybe"}],
        "failures": [{"t": -5, "type": None}], "criteria": [None, {"status": None}],
        "efficiency": [{"thresholds": [1, 2]}], "cost": [], "recommendations": "text",
        "code": {"loc_by_language": {"Python": None}, "tests": None},
    }
    page = render_html(report)
    assert 'id="agents"' in page and "not a date" in page


def test_interrupted_report_shows_what_there_is() -> None:
    """A first-minute session shows its status, its one phase and a short token chart."""
    page = render_html(interrupted_report())
    assert 'class="badge warn">interrupted' in page
    assert "bootstrap" in page and "42s" in page
    assert page.count('class="line"') >= 1
    assert "no data for test coverage" in page
    assert "no success criteria evaluated" in page


def test_criteria_statuses_get_their_classes() -> None:
    """pass, fail and not_measured rows and badges carry their own classes; unknown is muted."""
    report = {"criteria": [
        {"name": "a", "tier": "critical", "status": "pass", "measured": 1, "threshold": 1},
        {"name": "b", "tier": "important", "status": "fail", "measured": 0.5, "threshold": 0.8},
        {"name": "c", "tier": "bonus", "status": "not_measured"},
        {"name": "d", "tier": "bonus", "status": "weird"}]}
    page = render_html(report)
    rows = re.findall(r'<tr class="crit (status-[a-z_]+)">.*?</tr>', page)
    assert rows == ["status-pass", "status-fail", "status-not_measured", "status-not_measured"]
    assert '<span class="badge ok">pass</span>' in page
    assert '<span class="badge bad">fail</span>' in page
    assert page.count('<span class="badge muted">not measured</span>') == 2
    assert "2 passed" not in page and "1 passed · 1 failed · 2 not measured" in page


def test_criteria_are_ordered_by_tier() -> None:
    """Critical rows come before important, then bonus, whatever the data order."""
    report = {"criteria": [{"name": "B1", "tier": "bonus", "status": "pass"},
                           {"name": "I1", "tier": "important", "status": "pass"},
                           {"name": "C1", "tier": "critical", "status": "fail"}]}
    page = render_html(report)
    assert page.index("C1") < page.index("I1") < page.index("B1")


def test_page_is_self_contained() -> None:
    """No external URL, stylesheet, font, image or script source appears in the page."""
    page = render_html(sample_report())
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}
    for needle in ("<link", "<img", "src=", "@import", "url(", "@font-face", "<iframe"):
        assert needle not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_sample_page_has_all_charts_and_markers() -> None:
    """The sample draws six line charts and timeline markers with type/action/outcome tips."""
    report = sample_report()
    page = render_html(report)
    assert page.count('<path class="line"') == 6
    assert page.count('class="mk failure"') == len(report["failures"])
    assert page.count('class="mk checkpoint"') == len(report["checkpoints"])
    first = report["failures"][0]
    tip = re.search(r'class="mk failure"><title>([^<]*)</title>', page)
    assert tip is not None
    for field in ("type", "action", "outcome"):
        assert str(first[field]) in tip.group(1)


def test_long_series_are_downsampled_in_the_page() -> None:
    """A 6000-point series draws at most 600 points per line."""
    report = sample_report(step_seconds=3.6)
    assert len(report["series"]["t"]) > 5000
    page = render_html(report)
    for d in re.findall(r'<path class="line" d="([^"]*)"', page):
        assert d.count("L") + 1 <= 600


def test_failure_table_is_capped() -> None:
    """Thousands of failures show the first MAX_ROWS rows and say how many there were."""
    report = sample_report()
    one = report["failures"][0]
    report["failures"] = [dict(one, t=i) for i in range(MAX_ROWS + 250)]
    page = render_html(report)
    assert f"showing {MAX_ROWS} of {MAX_ROWS + 250:,} rows" in page


def test_render_does_not_change_the_report() -> None:
    """Rendering reads the report and leaves it as it was."""
    report = sample_report()
    before = copy.deepcopy(report)
    render_html(report)
    assert report == before


def test_write_html_writes_atomically(tmp_path: Path) -> None:
    """write_html leaves exactly the rendered page at the path and no temp file."""
    target = tmp_path / "final_report.html"
    target.write_text("old")
    write_html(sample_report(), target)
    assert target.read_text(encoding="utf-8") == render_html(sample_report())
    assert [p.name for p in tmp_path.iterdir()] == ["final_report.html"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional={key: _json for key in sample_report()}))
def test_any_json_shaped_report_renders(report: dict[str, Any]) -> None:
    """Whatever JSON values the keys hold, the page renders whole."""
    assert render_html(report).rstrip().endswith("</html>")


def _nested_fields() -> list[tuple[str, str]]:
    """(section, key) of every field inside the sample's mappings and lists of mappings."""
    fields = []
    for section, value in sample_report().items():
        item = value[0] if isinstance(value, list) and value else value
        if isinstance(item, dict):
            fields += [(section, key) for key in item]
    return fields


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_nested_fields()), _json)
def test_any_nested_value_renders(field: tuple[str, str], value: Any) -> None:
    """Any JSON value in any nested field of a full report still renders the whole page."""
    report = sample_report()
    section, key = field
    holder = report[section][0] if isinstance(report[section], list) else report[section]
    holder[key] = value
    assert render_html(report).rstrip().endswith("</html>")


def test_phase_bars_fall_back_on_timeline_events() -> None:
    """Phases without start/end times take them from the timeline's phase events."""
    report = {"phases": [{"name": "build", "status": "completed"}],
              "timeline": [{"t": 100, "kind": "phase_start", "label": "build start"},
                           {"t": 900, "kind": "phase_end", "label": "build end"}]}
    page = render_html(report)
    tip = re.search(r'<g class="phase"><title>([^<]*)</title>', page)
    assert tip is not None and tip.group(1).startswith("build: 1m 40s → 15m 00s (13m 20s")


def test_config_summary_and_resumes_show_in_the_header() -> None:
    """The header lists the config summary and the number of resumes when there were any."""
    report = sample_report()
    report["session"]["resumes"] = 2
    page = render_html(report)
    header = page[page.index("<header>"):page.index("</header>")]
    assert "<dt>Resumes</dt><dd>2</dd>" in header
    assert "token budget</dt><dd>5,000,000</dd>" in header
