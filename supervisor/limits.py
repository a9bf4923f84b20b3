"""Budgets and rates, pure: feed observations (with session time ``now``), get verdicts.

From ``[limits]`` (seed 001, "Resource Limits"):
- total token budget: ``alert`` once on reaching ``budget_alert_fraction``; at 100% a
  ``stop`` with reason ``budget_exhausted`` (graceful stop, final checkpoint and report),
  repeated on every later observation so a restored session stops again;
- tokens per agent per hour: ``throttle`` on reaching the limit within a sliding hour,
  ``amount`` = seconds until enough of the window expires to go under it again;
- tool calls per agent per hour: ``batch_hint`` at 80% (once per hour), then ``throttle``
  on reaching the limit, ``amount`` = seconds until the oldest call leaves the window;
- context size over ``max_context_size``: ``compress`` (once, until a smaller one is seen);
- idle past ``idle_timeout_minutes``: ``restart`` (restart the agent, reassign its task);
- RSS over ``agent_memory_limit_mb``: ``compress``;
- session directory over ``disk_space_limit_gb`` (GiB), or the device nearly full: ``pause``;
- more than ``max_parallel_agents`` at once: ``refuse``;
- ``test_timeout_seconds()``: ``max_test_runtime_min`` in seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from supervisor.config.schema import LimitsSpec
from supervisor.errors import CheckpointCorrupt, CheckpointVersionError

LIMITS_SCHEMA = 1
WINDOW_SECONDS = 3600.0
BATCH_HINT_FRACTION = 0.8
MIN_FREE_BYTES = 64 * 2**20  # below this on the device, writes (checkpoints) will fail
GIB = 2**30
MIB = 2**20

VerdictKind = Literal[
    "ok", "alert", "throttle", "batch_hint", "compress", "restart", "pause", "stop", "refuse"
]


@dataclass(frozen=True)
class LimitVerdict:
    kind: VerdictKind
    reason: str  # short machine word: budget_alert, budget_exhausted, tokens_per_hour, ...
    agent_id: str | None = None
    amount: float | None = None  # throttle seconds, fraction used, idle seconds, bytes ...
    detail: str = ""  # for people (log, report)


OK = LimitVerdict("ok", "ok")


@dataclass(frozen=True)
class BudgetState:
    used: int
    budget: int
    alert_fraction: float
    alerted: bool

    @property
    def fraction(self) -> float:
        return self.used / self.budget if self.budget > 0 else 0.0

    @property
    def exhausted(self) -> bool:
        return self.budget > 0 and self.used >= self.budget

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.used)


class Limits:
    """The live limit state of one session."""

    def __init__(self, spec: LimitsSpec):
        self.spec = spec
        self.tokens_used = 0
        self.alerted = False
        self._tokens: dict[str, deque[tuple[float, int]]] = {}
        self._calls: dict[str, deque[float]] = {}
        self._hint_at: dict[str, float] = {}
        self._compress_pending: set[str] = set()

    @property
    def budget(self) -> BudgetState:
        return BudgetState(self.tokens_used, self.spec.total_token_budget,
                           self.spec.budget_alert_fraction, self.alerted)

    # -- tokens ------------------------------------------------------------------------

    def observe_tokens(self, agent_id: str, tokens: int, now: float,
                       context: int | None = None) -> list[LimitVerdict]:
        """Count an agent's tokens; verdicts for the budget, the hourly rate, the context."""
        verdicts: list[LimitVerdict] = []
        self.tokens_used += max(0, tokens)
        budget = self.budget
        if budget.exhausted:
            self.alerted = True
            verdicts.append(LimitVerdict(
                "stop", "budget_exhausted", agent_id, budget.fraction,
                f"{budget.used} of {budget.budget} tokens used"))
        elif (not self.alerted and budget.budget > 0
              and budget.fraction >= budget.alert_fraction):
            self.alerted = True
            verdicts.append(LimitVerdict(
                "alert", "budget_alert", agent_id, budget.fraction,
                f"{budget.fraction:.0%} of the token budget used ({budget.used})"))
        window = self._tokens.setdefault(agent_id, deque())
        if tokens > 0:
            window.append((now, tokens))
        _expire(window, now, key=lambda e: e[0])
        used = sum(n for _, n in window)
        limit = self.spec.tokens_per_agent_per_hour
        if limit > 0 and used >= limit:
            wait = _token_wait(window, used, limit, now)
            verdicts.append(LimitVerdict(
                "throttle", "tokens_per_hour", agent_id, wait,
                f"{used} tokens in the last hour (limit {limit})"))
        if context is not None:
            verdicts.extend(self._check_context(agent_id, context))
        return verdicts

    def agent_tokens_last_hour(self, agent_id: str, now: float) -> int:
        window = self._tokens.get(agent_id, deque())
        return sum(n for t, n in window if now - t < WINDOW_SECONDS)

    def _check_context(self, agent_id: str, context: int) -> list[LimitVerdict]:
        if context <= self.spec.max_context_size:
            self._compress_pending.discard(agent_id)
            return []
        if agent_id in self._compress_pending:
            return []
        self._compress_pending.add(agent_id)
        return [LimitVerdict("compress", "context_size", agent_id, float(context),
                             f"context {context} > {self.spec.max_context_size} tokens")]

    # -- tool calls --------------------------------------------------------------------

    def observe_tool_call(self, agent_id: str, now: float) -> list[LimitVerdict]:
        """Count a tool call: a batching hint near the hourly limit, a throttle at it."""
        window = self._calls.setdefault(agent_id, deque())
        window.append(now)
        _expire(window, now, key=lambda t: t)
        limit = self.spec.tool_calls_per_agent_per_hour
        count = len(window)
        if limit <= 0:
            return []
        if count >= limit:
            wait = window[count - limit] + WINDOW_SECONDS - now
            return [LimitVerdict("throttle", "tool_calls_per_hour", agent_id, wait,
                                 f"{count} tool calls in the last hour (limit {limit})")]
        hinted = self._hint_at.get(agent_id)
        if count >= BATCH_HINT_FRACTION * limit and (
                hinted is None or now - hinted >= WINDOW_SECONDS):
            self._hint_at[agent_id] = now
            return [LimitVerdict("batch_hint", "tool_calls_per_hour", agent_id,
                                 float(count),
                                 f"{count} of {limit} tool calls this hour: batch operations")]
        return []

    # -- checks --------------------------------------------------------------------------

    def check_idle(self, last_activity: Mapping[str, float], now: float) -> list[LimitVerdict]:
        """A ``restart`` for every agent idle past ``idle_timeout_minutes``."""
        limit = self.spec.idle_timeout_minutes * 60.0
        return [
            LimitVerdict("restart", "idle", agent_id, now - last,
                         f"idle {now - last:.0f}s > {limit:.0f}s")
            for agent_id, last in sorted(last_activity.items())
            if now - last > limit
        ]

    def check_memory(self, agent_id: str, rss_bytes: int) -> LimitVerdict:
        limit = self.spec.agent_memory_limit_mb * MIB
        if rss_bytes <= limit:
            return OK
        return LimitVerdict("compress", "memory", agent_id, float(rss_bytes),
                            f"rss {rss_bytes / MIB:.0f} MiB > {self.spec.agent_memory_limit_mb} MiB")

    def check_disk(self, session_bytes: int, free_bytes: int | None = None) -> LimitVerdict:
        """``pause`` when the session directory is over its limit or the device nearly full."""
        limit = self.disk_limit_bytes()
        if session_bytes > limit:
            return LimitVerdict("pause", "disk_limit", None, float(session_bytes),
                                f"session dir {session_bytes / GIB:.2f} GiB > "
                                f"{self.spec.disk_space_limit_gb} GiB")
        if free_bytes is not None and free_bytes < MIN_FREE_BYTES:
            return LimitVerdict("pause", "disk_free", None, float(free_bytes),
                                f"only {free_bytes / MIB:.0f} MiB free on the device")
        return OK

    def check_parallel(self, n_agents: int) -> LimitVerdict:
        """Whether ``n_agents`` may run at the same time."""
        limit = self.spec.max_parallel_agents
        if n_agents <= limit:
            return OK
        return LimitVerdict("refuse", "parallel_agents", None, float(n_agents),
                            f"{n_agents} agents at once > max_parallel_agents {limit}")

    def disk_limit_bytes(self) -> int:
        return int(self.spec.disk_space_limit_gb * GIB)

    def idle_limit_seconds(self) -> float:
        return self.spec.idle_timeout_minutes * 60.0

    def memory_limit_bytes(self) -> int:
        return int(self.spec.agent_memory_limit_mb * MIB)

    def test_timeout_seconds(self) -> float:
        return self.spec.max_test_runtime_min * 60.0

    # -- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": LIMITS_SCHEMA,
            "tokens_used": self.tokens_used,
            "alerted": self.alerted,
            "tokens": {a: [[t, n] for t, n in w] for a, w in self._tokens.items()},
            "calls": {a: list(w) for a, w in self._calls.items()},
            "hint_at": dict(self._hint_at),
            "compress_pending": sorted(self._compress_pending),
        }

    @classmethod
    def from_dict(cls, spec: LimitsSpec, data: Mapping[str, Any],
                  source: str = "<limits state>") -> Limits:
        if not isinstance(data, Mapping):
            raise CheckpointCorrupt(source, "limits state is not a mapping")
        if data.get("schema") != LIMITS_SCHEMA:
            raise CheckpointVersionError(
                source, f"limits state schema {data.get('schema')!r}, "
                        f"this supervisor reads {LIMITS_SCHEMA}")
        limits = cls(spec)
        try:
            limits.tokens_used = int(data.get("tokens_used", 0))
            limits.alerted = bool(data.get("alerted", False))
            limits._tokens = {str(a): deque((float(t), int(n)) for t, n in w)
                              for a, w in data.get("tokens", {}).items()}
            limits._calls = {str(a): deque(float(t) for t in w)
                             for a, w in data.get("calls", {}).items()}
            limits._hint_at = {str(a): float(t) for a, t in data.get("hint_at", {}).items()}
            limits._compress_pending = {str(a) for a in data.get("compress_pending", [])}
        except (TypeError, ValueError, AttributeError) as err:
            raise CheckpointCorrupt(source, f"malformed limits state: {err}") from err
        return limits


def _expire(window: deque[Any], now: float, key: Callable[[Any], float]) -> None:
    """Drop entries an hour old or older (an entry counts while ``now - t < 1 h``)."""
    while window and now - key(window[0]) >= WINDOW_SECONDS:
        window.popleft()


def _token_wait(window: deque[tuple[float, int]], used: int, limit: int, now: float) -> float:
    """Seconds until the window's total drops below ``limit``."""
    for t, n in window:
        used -= n
        if used < limit:
            return max(0.0, t + WINDOW_SECONDS - now)
    return 0.0
