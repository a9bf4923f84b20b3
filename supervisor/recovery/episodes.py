"""One failure being recovered from (an *episode*) and the small helpers of the retry loop.

An episode starts when a failure is recorded and ends with one outcome in the journal:
``recovered`` (the agent made progress again, or the table says continue), ``failed``
(the agent went away, the phase ended, or the session was stopped), ``escalated`` (a
human must act; a later ``recovered`` record with ``by: "human"`` closes it when the
session is resumed) or ``pending`` (paused and alerted, same closing). While it runs,
``recovery`` records with outcome ``pending`` mark its start.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState
from tenacity.wait import wait_base

from supervisor.config.schema import BackoffSpec
from supervisor.plan import PlannedPhase
from supervisor.recovery.backoff import build_wait, retry_state
from supervisor.recovery.classify import Failure
from supervisor.recovery.policy import Decision

ACTIVE_STATES = frozenset({"queued", "waiting", "acting", "probing"})


@dataclass
class Probe:
    """What counts as recovered: ``progress`` (a successful tool call or tokens after the
    marker), ``context`` (a context size under the limit reported after the marker) or
    ``rss`` (a resource sample under the memory limit)."""

    kind: str
    marker_ok_calls: int
    marker_tokens: int
    deadline: float  # session time (timer) by which it must have happened
    future: asyncio.Future[None]
    wall_deadline: float = 0.0  # and the monotonic wall time (see executor.PROBE_WALL_FLOOR_SECONDS)


@dataclass
class Episode:
    seq: int  # journal sequence number of the failure record
    failure: Failure
    decision: Decision
    phase: PlannedPhase | None
    started: float  # session clock (pauses and backoff waits included)
    started_t: float  # session time (timer)
    dead: bool = False  # the agent's process is gone
    state: str = "queued"  # queued waiting acting probing awaiting_human done
    tries: int = 0
    waited: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    probe: Probe | None = None
    action: str = ""  # what is being done: the decision's action, or escalate past it

    def __post_init__(self) -> None:
        self.action = self.action or self.decision.action

    @property
    def agent(self) -> str | None:
        return self.failure.agent_id

    @property
    def type(self) -> str:
        return self.failure.type

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.failure.agent_id, self.failure.type)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def view(self, now_t: float) -> dict[str, Any]:
        """What ``status.json`` shows of it."""
        return {
            "failure_seq": self.seq, "agent": self.agent, "type": self.type,
            "severity": self.failure.severity, "action": self.action,
            "attempt": self.decision.attempt, "max_attempts": self.decision.max_attempts,
            "state": self.state, "tries": self.tries, "waited_seconds": round(self.waited, 1),
            "for_seconds": round(max(0.0, now_t - self.started_t), 1),
            "message": self.failure.message[:200],
        }


class wait_from_attempt(wait_base):  # lower case, like tenacity's strategies
    """The backoff for the episode's own attempt numbers: the retry loop's n-th failed try
    is attempt ``first + n - 1`` of the failure type, so its wait is that attempt's."""

    def __init__(self, spec: BackoffSpec, first: int, rng: random.Random | None = None):
        self.base = build_wait(spec, rng)
        self.first = max(1, first)

    def __call__(self, state: RetryCallState) -> float:
        return float(self.base(retry_state(self.first + state.attempt_number)))
