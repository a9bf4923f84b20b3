"""The monitors, pure but for ``disk_failure``: readings of the agents in, failures
(for the recovery table) and limit verdicts (for the limits table) out.

Per agent, from the counters (what the journal says) and the resource samples:
- tokens since the last check go to ``Limits.observe_tokens`` (budget alert and stop,
  tokens per hour, context size); a context over ``max_context_size`` is
  ``memory_pressure`` (the table compresses it);
- tool calls since the last check go to ``Limits.observe_tool_call`` (batching hint,
  throttle);
- idle past ``idle_timeout_minutes`` is ``agent_hang`` (only for agents the caller says
  should be active: running, not throttled, not already being recovered);
- RSS over ``agent_memory_limit_mb`` is ``memory_pressure``.
For the session: contested votes open past ``vote_timeout_secs`` are
``consensus_deadlock``; the session directory over ``disk_space_limit_gb`` or the device
nearly full is ``disk_full``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from supervisor.agents.monitor import disk_free_bytes, disk_usage_bytes
from supervisor.limits import MIN_FREE_BYTES, Limits, LimitVerdict
from supervisor.recovery.classify import Classifier, Failure
from supervisor.recovery.consensus import VoteTracker

MAX_CALLS_PER_CHECK = 100_000  # a bound on the per-call loop after a long gap


@dataclass(frozen=True)
class AgentReading:
    agent_id: str
    tokens: int  # cumulative, as the counters have it
    tool_calls: int  # cumulative
    context: int | None  # latest reported context size
    last_activity: float  # session time of its latest event (or its launch)
    rss_bytes: int | None = None
    watch_idle: bool = True  # false: throttled, paused, being recovered ...


class HealthChecks:
    def __init__(self, classifier: Classifier, limits: Limits, votes: VoteTracker,
                 vote_timeout: float, consensus_enabled: bool = True):
        self.classifier = classifier
        self.limits = limits
        self.votes = votes
        self.vote_timeout = vote_timeout
        self.consensus_enabled = consensus_enabled
        self._tokens: dict[str, int] = {}
        self._calls: dict[str, int] = {}

    def prime(self, agent_id: str, tokens: int, tool_calls: int) -> None:
        """Count an agent from these totals on (on resume: what the limits already saw).
        An agent never primed is counted from zero."""
        self._tokens[agent_id] = tokens
        self._calls[agent_id] = tool_calls

    def check(self, readings: Iterable[AgentReading], now: float,
              ) -> tuple[list[Failure], list[LimitVerdict]]:
        failures: list[Failure] = []
        verdicts: list[LimitVerdict] = []
        for r in readings:
            failures.extend(self._agent(r, now, verdicts))
        if self.consensus_enabled:
            self.votes.expire(now)
            deadlock = self.classifier.consensus(self.votes.contested(), now, self.vote_timeout)
            if deadlock is not None:
                failures.append(deadlock)
        return failures, verdicts

    def _agent(self, r: AgentReading, now: float, verdicts: list[LimitVerdict]) -> list[Failure]:
        out: list[Failure] = []
        new_tokens = r.tokens - self._tokens.get(r.agent_id, 0)
        self._tokens[r.agent_id] = r.tokens
        if new_tokens > 0:
            for v in self.limits.observe_tokens(r.agent_id, new_tokens, now, r.context):
                if v.kind == "compress":
                    out.append(self.classifier.make("memory_pressure", "monitor",
                                                    v.detail, r.agent_id))
                else:
                    verdicts.append(v)
        new_calls = r.tool_calls - self._calls.get(r.agent_id, 0)
        self._calls[r.agent_id] = r.tool_calls
        latest: dict[str, LimitVerdict] = {}
        for _ in range(min(max(0, new_calls), MAX_CALLS_PER_CHECK)):
            for v in self.limits.observe_tool_call(r.agent_id, now):
                latest[v.kind] = v
        verdicts.extend(latest.values())
        if r.watch_idle:
            hang = self.classifier.idle(r.agent_id, now - r.last_activity,
                                        self.limits.idle_limit_seconds())
            if hang is not None:
                out.append(hang)
        if r.rss_bytes is not None:
            mem = self.classifier.memory(r.agent_id, r.rss_bytes,
                                         self.limits.memory_limit_bytes())
            if mem is not None:
                out.append(mem)
        return out


def disk_failure(root: Path, limits: Limits, classifier: Classifier) -> Failure | None:
    """Blocking (run it in a thread): the session directory's size and the device's space."""
    used = disk_usage_bytes(root)
    try:
        free: int | None = disk_free_bytes(root)
    except OSError:
        free = None
    return classifier.disk(used, limits.disk_limit_bytes(), free, MIN_FREE_BYTES)
