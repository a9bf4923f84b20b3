"""Prometheus exposition of the metrics snapshot (supervisor.control.prom)."""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from supervisor.control.prom import build_registry, render_metrics

SAMPLE: dict[str, Any] = {
    "schema_version": 1,
    "session_id": "mega-20250101-000000",
    "elapsed_seconds": 3600.5,
    "total_tokens": 120000,
    "prompt_tokens": 90000,
    "completion_tokens": 30000,
    "tokens_per_minute": 2000.0,
    "tool_calls": 340,
    "tasks_completed": 12,
    "test_pass_rate": 0.95,
    "lines_of_code": 4321,
    "test_coverage": 0.82,
    "checkpoint_count": 4,
    "errors_encountered": 3,
    "failures": 2,
    "recoveries": 1,
    "wall_seconds": 5.0,
    "progress": 0.25,
    "health_score": 91,
    "agents": {
        "coder-2": {
            "role": "Coder",
            "tokens": 50000,
            "tool_calls": 100,
            "cpu_percent": 12.5,
            "rss_bytes": 104857600,
            "state": "running",
            "procs": 3,
        },
        "architect-1": {"role": "Architect", "tokens": 70000, "state": "idle"},
    },
}

Key = tuple[str, frozenset[tuple[str, str]]]


def scrape(snapshot: Any) -> dict[Key, float]:
    """Render ``snapshot`` and parse it back: sample (name, labels) -> value."""
    text = render_metrics(build_registry(lambda: snapshot)).decode()
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_session_counters_and_gauges_are_exported() -> None:
    """Each session-level key of the snapshot becomes its megatest_* sample."""
    s = scrape(SAMPLE)
    expected = {
        "megatest_tokens_total": 120000,
        "megatest_prompt_tokens_total": 90000,
        "megatest_completion_tokens_total": 30000,
        "megatest_tool_calls_total": 340,
        "megatest_tasks_completed_total": 12,
        "megatest_errors_total": 3,
        "megatest_checkpoints_total": 4,
        "megatest_failures_total": 2,
        "megatest_recoveries_total": 1,
        "megatest_session_wall_seconds": 5.0,
        "megatest_session_progress_ratio": 0.25,
        "megatest_session_elapsed_seconds": 3600.5,
        "megatest_tokens_per_minute": 2000.0,
        "megatest_lines_of_code": 4321,
        "megatest_test_pass_ratio": 0.95,
        "megatest_test_coverage_ratio": 0.82,
        "megatest_health_score": 91,
    }
    for name, want in expected.items():
        assert value(s, name) == want, name
    assert value(s, "megatest_session_info", session_id="mega-20250101-000000") == 1


def test_agent_samples_carry_agent_and_role_labels() -> None:
    """Per-agent tokens/tool calls are labelled by agent and role, cpu/rss by agent."""
    s = scrape(SAMPLE)
    assert value(s, "megatest_agent_tokens_total", agent="coder-2", role="Coder") == 50000
    assert value(s, "megatest_agent_tokens_total", agent="architect-1", role="Architect") == 70000
    assert value(s, "megatest_agent_tool_calls_total", agent="coder-2", role="Coder") == 100
    assert value(s, "megatest_agent_cpu_percent", agent="coder-2") == 12.5
    assert value(s, "megatest_agent_rss_bytes", agent="coder-2") == 104857600
    assert value(s, "megatest_agent_processes", agent="coder-2") == 3
    assert value(s, "megatest_agent_state", agent="architect-1", state="idle") == 1
    # architect-1 has no cpu sample: absent, not zero
    assert ("megatest_agent_cpu_percent", frozenset({("agent", "architect-1")})) not in s


def test_missing_null_and_garbage_values_are_skipped() -> None:
    """Keys that are missing, null, strings, bools or NaN are left out, the rest exported."""
    snapshot = {
        "total_tokens": 7,
        "test_pass_rate": None,
        "test_coverage": "n/a",
        "tool_calls": True,
        "progress": math.nan,
        "session_id": 42,
        "agents": {"a": "not a dict", "b": {"tokens": "many", "cpu_percent": 1.5}},
    }
    s = scrape(snapshot)
    names = {name for name, _ in s}
    assert names == {"megatest_tokens_total", "megatest_agent_cpu_percent"}
    assert value(s, "megatest_agent_cpu_percent", agent="b") == 1.5


def test_non_mapping_snapshot_and_agents_give_an_empty_exposition() -> None:
    """A snapshot that is not a dict, or agents that are not a dict, export nothing bad."""
    assert scrape([1, 2]) == {}
    assert scrape({}) == {}
    assert scrape({"agents": ["x"], "health_score": 50}) == {
        ("megatest_health_score", frozenset()): 50
    }


def test_snapshot_is_read_at_scrape_time() -> None:
    """Two scrapes of one registry see the snapshot as it is at each scrape."""
    current = {"total_tokens": 1}
    registry = build_registry(lambda: current)
    assert b"megatest_tokens_total 1.0" in render_metrics(registry)
    current["total_tokens"] = 99
    assert b"megatest_tokens_total 99.0" in render_metrics(registry)


def test_registry_is_private_not_the_global_one() -> None:
    """Building a session registry registers nothing in prometheus_client's global REGISTRY."""
    build_registry(lambda: SAMPLE)
    assert b"megatest_" not in generate_latest(REGISTRY)
