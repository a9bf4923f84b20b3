"""Metrics: the periodic sample (the seed's SessionMetrics plus agent CPU/RSS),
``metrics_current.json``, ``metrics/history.jsonl`` and the health score.

Health score (0-100), documented for users in README.md:
  100
  - errors:    min(30, 3 x errors per agent-hour)
  - recovery:  25 x (1 - recovered/failures), when there were failures
  - budget:    min(25, 25 x (burn - 1)) when burn > 1, burn = budget share used / progress
  - idle:      20 x (idle agents / running agents)
clamped to 0..100. Each part is reported with the score so a low score explains itself.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

from supervisor.counters import Counters
from supervisor.session.files import write_json_atomic

SCHEMA_VERSION = 1
RATE_WINDOW_S = 300.0  # tokens per minute over the last 5 session minutes


def health_score(
    counters: Counters,
    elapsed_s: float,
    progress: float,
    token_budget: int,
    running_agents: int,
    idle_agents: int,
) -> tuple[float, dict[str, float]]:
    agent_hours = sum(a.active_seconds for a in counters.agents.values()) / 3600.0
    agent_hours = max(agent_hours, elapsed_s / 3600.0 * max(running_agents, 1), 1e-9)
    parts: dict[str, float] = {}
    parts["errors"] = min(30.0, 3.0 * counters.errors / agent_hours) if counters.errors else 0.0
    if counters.failures:
        rate = min(1.0, counters.recoveries / counters.failures)
        parts["recovery"] = 25.0 * (1.0 - rate)
    else:
        parts["recovery"] = 0.0
    burn = 0.0
    if token_budget > 0 and progress > 0.02:
        burn = (counters.tokens / token_budget) / progress
    parts["budget"] = min(25.0, 25.0 * (burn - 1.0)) if burn > 1.0 else 0.0
    parts["idle"] = 20.0 * idle_agents / running_agents if running_agents else 0.0
    score = max(0.0, min(100.0, 100.0 - sum(parts.values())))
    return round(score, 1), {k: round(v, 2) for k, v in parts.items()}


class TokenRate:
    """Tokens per minute over a sliding window of session time."""

    def __init__(self, window_s: float = RATE_WINDOW_S):
        self.window_s = window_s
        self._points: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, t: float, tokens: int) -> float:
        self._points.append((t, tokens))
        while len(self._points) > 2 and t - self._points[1][0] >= self.window_s:
            self._points.popleft()
        t0, k0 = self._points[0]
        if t - t0 <= 0:
            return 0.0
        return (tokens - k0) / ((t - t0) / 60.0)


class MetricsRecorder:
    def __init__(self, current: Path, history: Path):
        self.current = current
        self.history = history
        history.parent.mkdir(parents=True, exist_ok=True)
        self.rate = TokenRate()
        self.last: dict[str, Any] = {}

    def sample(
        self,
        session_id: str,
        counters: Counters,
        elapsed_s: float,
        wall_s: float,
        progress: float,
        health: tuple[float, dict[str, float]],
        lines_of_code: int | None,
        agents: dict[str, dict[str, Any]],
        checkpoint: dict[str, Any] | None,
    ) -> dict[str, Any]:
        tpm = self.rate.add(elapsed_s, counters.tokens)
        m = {
            "schema_version": SCHEMA_VERSION,
            "session_id": session_id,
            "elapsed_seconds": round(elapsed_s, 3),
            "wall_seconds": round(wall_s, 3),
            "progress": round(progress, 5),
            "total_tokens": counters.tokens,
            "prompt_tokens": counters.prompt_tokens,
            "completion_tokens": counters.completion_tokens,
            "tokens_per_minute": round(tpm, 1),
            "tool_calls": counters.tool_calls,
            "tasks_completed": counters.tasks_completed,
            "test_pass_rate": counters.test_pass_rate,
            "lines_of_code": lines_of_code,
            "test_coverage": counters.test_coverage,
            "checkpoint_count": counters.checkpoints,
            "errors_encountered": counters.errors,
            "failures": counters.failures,
            "recoveries": counters.recoveries,
            "events": counters.events,
            "garbage_lines": counters.garbage_lines,
            "health_score": health[0],
            "health_parts": health[1],
            "last_checkpoint": checkpoint,
            "agents": agents,
        }
        self.last = m
        write_json_atomic(self.current, m, durable=False)
        with open(self.history, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(m, separators=(",", ":"), default=str) + "\n")
        return m


def read_history(path: Path) -> list[dict[str, Any]]:
    """All samples of ``metrics/history.jsonl``; a torn last line is ignored."""
    out: list[dict[str, Any]] = []
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError:
        return out
    with fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
    return out
