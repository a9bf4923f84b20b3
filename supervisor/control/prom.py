"""Prometheus exposition of a session's metrics (``GET /metrics``).

A fresh ``CollectorRegistry`` holds one custom collector that reads the metrics snapshot
(the same dict as ``metrics_current.json``) at scrape time and yields metric families
named ``megatest_*``. The exporter is tolerant: a key that is missing, null or not a
number is simply not exported, so a half-built snapshot never fails a scrape.

Ratios (``progress``, ``test_pass_rate``, ``test_coverage``) are taken as 0..1, as the
snapshot writes them; ``health_score`` is 0..100.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "SessionCollector", "build_registry", "render_metrics"]

PREFIX = "megatest_"

# (snapshot key, metric name without prefix and without "_total", help text)
_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("total_tokens", "tokens", "LLM tokens used by all agents (prompt + completion)."),
    ("prompt_tokens", "prompt_tokens", "Prompt tokens used by all agents."),
    ("completion_tokens", "completion_tokens", "Completion tokens used by all agents."),
    ("tool_calls", "tool_calls", "Tool calls finished by all agents."),
    ("tasks_completed", "tasks_completed", "Work items the agents completed."),
    ("errors_encountered", "errors", "Errors the session met (agent and supervisor)."),
    ("checkpoint_count", "checkpoints", "Checkpoints written in this session."),
    ("failures", "failures", "Failures classified by the recovery policy."),
    ("recoveries", "recoveries", "Failures the recovery policy recovered from."),
)

# (snapshot key, metric name without prefix, help text)
_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("progress", "session_progress_ratio", "Share of the planned session time done (0..1)."),
    ("elapsed_seconds", "session_elapsed_seconds", "Session time elapsed, in seconds."),
    ("wall_seconds", "session_wall_seconds", "Wall-clock time elapsed, in seconds."),
    ("tokens_per_minute", "tokens_per_minute", "Recent token rate, per session minute."),
    ("lines_of_code", "lines_of_code", "Lines of code in the project the agents build."),
    ("test_pass_rate", "test_pass_ratio", "Share of the project's tests that pass (0..1)."),
    ("test_coverage", "test_coverage_ratio", "Line coverage of the project's tests (0..1)."),
    ("health_score", "health_score", "Session health score (0..100)."),
)


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a number (not a bool, a string, None or NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class SessionCollector(Collector):
    """Yields the ``megatest_*`` families from ``snapshot()``, called once per scrape."""

    def __init__(self, snapshot: Callable[[], Mapping[str, Any]]):
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        data = self._snapshot()
        if not isinstance(data, Mapping):
            return
        session_id = data.get("session_id")
        if isinstance(session_id, str):
            info = GaugeMetricFamily(
                PREFIX + "session_info", "The session this supervisor runs.", labels=["session_id"]
            )
            info.add_metric([session_id], 1.0)
            yield info
        for key, name, doc in _COUNTERS:
            value = _number(data.get(key))
            if value is not None:
                yield CounterMetricFamily(PREFIX + name, doc, value=value)
        for key, name, doc in _GAUGES:
            value = _number(data.get(key))
            if value is not None:
                yield GaugeMetricFamily(PREFIX + name, doc, value=value)
        agents = data.get("agents")
        if isinstance(agents, Mapping):
            yield from _agent_families(agents)


def _agent_families(agents: Mapping[str, Any]) -> Iterator[Metric]:
    tokens = CounterMetricFamily(
        PREFIX + "agent_tokens", "LLM tokens used by one agent.", labels=["agent", "role"]
    )
    tool_calls = CounterMetricFamily(
        PREFIX + "agent_tool_calls", "Tool calls finished by one agent.", labels=["agent", "role"]
    )
    cpu = GaugeMetricFamily(
        PREFIX + "agent_cpu_percent",
        "CPU use of one agent's process tree, in percent of one core.",
        labels=["agent"],
    )
    rss = GaugeMetricFamily(
        PREFIX + "agent_rss_bytes",
        "Resident memory of one agent's process tree, in bytes.",
        labels=["agent"],
    )
    procs = GaugeMetricFamily(
        PREFIX + "agent_processes", "Processes in one agent's process tree.", labels=["agent"]
    )
    state = GaugeMetricFamily(
        PREFIX + "agent_state", "1 for the state an agent is in.", labels=["agent", "state"]
    )
    for agent_id, agent in agents.items():
        if not isinstance(agent_id, str) or not isinstance(agent, Mapping):
            continue
        role = _text(agent.get("role"))
        pairs = (
            (tokens, "tokens", [agent_id, role]),
            (tool_calls, "tool_calls", [agent_id, role]),
            (cpu, "cpu_percent", [agent_id]),
            (rss, "rss_bytes", [agent_id]),
            (procs, "procs", [agent_id]),
        )
        for family, key, labels in pairs:
            value = _number(agent.get(key))
            if value is not None:
                family.add_metric(labels, value)
        agent_state = agent.get("state")
        if isinstance(agent_state, str) and agent_state:
            state.add_metric([agent_id, agent_state], 1.0)
    for family in (tokens, tool_calls, cpu, rss, procs, state):
        if family.samples:
            yield family


def build_registry(snapshot: Callable[[], Mapping[str, Any]]) -> CollectorRegistry:
    """A registry of its own (never the global one) holding a ``SessionCollector``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SessionCollector(snapshot))
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition; serve it with ``CONTENT_TYPE_LATEST``."""
    return generate_latest(registry)
