"""Session and agent state machines: the states and the allowed transitions."""

from __future__ import annotations

import enum

from supervisor.errors import SessionError


class SessionStatus(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    RECOVERING = "recovering"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    BUDGET_EXHAUSTED = "budget_exhausted"

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        SessionStatus.COMPLETED,
        SessionStatus.FAILED,
        SessionStatus.INTERRUPTED,
        SessionStatus.BUDGET_EXHAUSTED,
    }
)

_ACTIVE = {SessionStatus.RUNNING, SessionStatus.PAUSED, SessionStatus.RECOVERING}
SESSION_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.STARTING: frozenset(_ACTIVE | FINAL_STATUSES),
    SessionStatus.RUNNING: frozenset(_ACTIVE | FINAL_STATUSES),
    SessionStatus.PAUSED: frozenset(_ACTIVE | FINAL_STATUSES),
    SessionStatus.RECOVERING: frozenset(_ACTIVE | FINAL_STATUSES),
    # a final session can be brought back by `supervisor resume` / `restore`
    SessionStatus.COMPLETED: frozenset({SessionStatus.STARTING}),
    SessionStatus.FAILED: frozenset({SessionStatus.STARTING}),
    SessionStatus.INTERRUPTED: frozenset({SessionStatus.STARTING}),
    SessionStatus.BUDGET_EXHAUSTED: frozenset({SessionStatus.STARTING}),
}


def check_transition(old: SessionStatus, new: SessionStatus) -> None:
    if new != old and new not in SESSION_TRANSITIONS[old]:
        raise SessionError(f"session cannot go from {old} to {new}")


class AgentState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    QUIESCED = "quiesced"  # at a safe point, on request
    FROZEN = "frozen"  # SIGSTOPped for a snapshot
    THROTTLED = "throttled"
    PAUSED = "paused"
    STOPPING = "stopping"
    EXITED = "exited"  # ended when asked to
    CRASHED = "crashed"  # ended on its own with an error
    HUNG = "hung"
