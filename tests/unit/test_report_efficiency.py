"""Efficiency grades, the cost estimate and data-driven recommendations, by table."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.config.schema import PricingSpec
from supervisor.report import efficiency as eff
from supervisor.report.criteria import Facts, Targets, evaluate

T = Targets()
TESTS = {"passed": 10, "failed": 0, "errors": 0, "coverage": 0.95, "duration_s": 30.0,
         "exit_code": 0}


@pytest.mark.parametrize("value,grade", [
    (None, "not_measured"), (0.0, "excellent"), (199.9, "excellent"), (200.0, "good"),
    (299.0, "good"), (300.0, "target"), (499.9, "target"), (500.0, "below"), (5000.0, "below"),
])
def test_grade_scale(value: float | None, grade: str) -> None:
    """Strictly under a bound earns it (seed: < 500 target, < 300 good, < 200 excellent)."""
    assert eff.grade(value, 500, 300, 200) == grade


@pytest.mark.parametrize("facts,expected", [
    (Facts(tokens=30_000, lines_of_code=200, tool_calls=90, tasks_completed=3,
           build={"ok": True, "duration_s": 61.0, "tool": "compileall", "files": 3},
           tests={**TESTS, "duration_s": 100.0}),
     {"tokens_per_loc": (150.0, "excellent"), "tool_calls_per_task": (30.0, "target"),
      "build_time": (61.0, "good"), "test_time": (100.0, "target")}),
    (Facts(tokens=30_000, lines_of_code=0, tool_calls=90, tasks_completed=0, build=None,
           tests=None),
     {"tokens_per_loc": (None, "not_measured"), "tool_calls_per_task": (None, "not_measured"),
      "build_time": (None, "not_measured"), "test_time": (None, "not_measured")}),
    (Facts(tokens=1_000_000, lines_of_code=1000, tool_calls=1000, tasks_completed=10,
           build={"ok": False, "duration_s": 400.0}, tests={**TESTS, "duration_s": 20.0}),
     {"tokens_per_loc": (1000.0, "below"), "tool_calls_per_task": (100.0, "below"),
      "build_time": (400.0, "below"), "test_time": (20.0, "excellent")}),
])
def test_efficiency_rows(facts: Facts, expected: dict[str, tuple[Any, str]]) -> None:
    """Each metric's value and grade; the test-time scale is the performance target times
    1, 0.6 and 0.2."""
    rows = {r["id"]: r for r in eff.efficiency(facts, T)}
    assert {k: (r["value"], r["grade"]) for k, r in rows.items()} == expected
    assert rows["test_time"]["thresholds"] == {"target": 120.0, "good": 72.0, "excellent": 24.0}
    assert rows["build_time"]["thresholds"] == {"target": 300.0, "good": 180.0, "excellent": 60.0}


@pytest.mark.parametrize("prompt,completion,wall,total", [
    (0, 0, 0.0, 0.0),
    (1_000_000, 0, 0.0, 3.0),
    (0, 1_000_000, 0.0, 15.0),
    (2_000_000, 500_000, 7200.0, 6.0 + 7.5 + 0.62),
])
def test_cost(prompt: int, completion: int, wall: float, total: float) -> None:
    """Tokens at the configured price per million plus wall hours at the compute price."""
    c = eff.cost(Facts(prompt_tokens=prompt, completion_tokens=completion, wall_seconds=wall),
                 PricingSpec(prompt_per_million=3.0, completion_per_million=15.0,
                             compute_per_hour=0.31))
    assert c["total_usd"] == pytest.approx(total)
    assert c["tokens_usd"] + c["compute_usd"] == pytest.approx(c["total_usd"])


def _advice(f: Facts) -> list[str]:
    return eff.recommendations(f, T, evaluate(f, T), eff.efficiency(f, T))


QUIET = Facts(tokens=10_000, lines_of_code=500, tool_calls=100, tasks_completed=10,
              session_seconds=3600, tests=TESTS, build={"ok": True, "duration_s": 1.0},
              security={"ok": True, "findings": {"high": 0, "medium": 0, "low": 0}},
              checkpoints=[{"number": 1, "valid": True}],
              agents=[{"id": "coder-1", "utilization": 0.9, "tool_calls": 5,
                       "tasks_completed": 2, "active_seconds": 3000}])


@pytest.mark.parametrize("change,needle", [
    ({"tokens": 600_000}, "tokens per line of code"),
    ({"tool_calls": 600}, "tool calls per completed task"),
    ({"agents": [{"id": "tester-1", "utilization": 0.2, "active_seconds": 700,
                  "tool_calls": 3}]}, "tester-1 (20%)"),
    ({"agents": [{"id": "idle-1", "utilization": 0.9, "active_seconds": 3000,
                  "tool_calls": 0, "tasks_completed": 0}]}, "no tool call"),
    ({"agents": [{"id": "coder-1", "utilization": 0.9, "restarts": 2, "tool_calls": 1}]},
     "coder-1 ×2"),
    ({"failures": [{"type": "rate_limit", "outcome": "recovered", "severity": "recoverable"}]
      * 3}, "Frequent rate limits: 3"),
    ({"failures": [{"type": "network_timeout", "outcome": "gave up", "severity": "transient"}]},
     "did not end recovered (network_timeout)"),
    ({"failures": [{"type": "llm_error", "outcome": None, "severity": "recoverable"}]},
     "no recovery recorded (llm_error)"),
    ({"tests": {**TESTS, "coverage": 0.6}}, "Low test coverage: 60%"),
    ({"tests": {**TESTS, "coverage": 0.85}}, "not the 90% bonus"),
    ({"tests": {**TESTS, "failed": 2, "exit_code": 1}}, "2 failing"),
    ({"build": {"ok": False, "duration_s": 1.0}}, "does not byte-compile"),
    ({"security": {"ok": False, "findings": {"high": 1, "medium": 1, "low": 5}}}, "found 2 medium"),
    ({"tool_calls_failed": 20}, "20 of 100 tool calls failed"),
    ({"tokens": 6_000_000, "lines_of_code": 100_000}, "token budget was exceeded"),
    ({"interventions": [{"command": "pause", "source": "cli"}]}, "1 manual intervention"),
    ({"garbage_lines": 7}, "7 stdout line(s)"),
    ({"checkpoints": [{"number": 1, "valid": False, "error": "bad checksum"}]},
     "Checkpoints are not all valid"),
])
def test_recommendations_follow_the_data(change: dict[str, Any], needle: str) -> None:
    """Each condition in the data yields advice that cites its number; a clean run has none."""
    assert _advice(QUIET) == []
    facts = Facts(**{**QUIET.__dict__, **change})
    advice = _advice(facts)
    assert any(needle in a for a in advice), advice
