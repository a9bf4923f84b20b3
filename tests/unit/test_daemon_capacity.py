"""The capacity limit: launch, queue or skip, and draining the queue in order."""

from __future__ import annotations

import pytest

from supervisor.daemon.capacity import Occupant, decide, drain, fits
from supervisor.daemon.schedules import CapacitySpec

QUEUE = CapacitySpec(max_sessions=2, max_agents=8, policy="queue")
SKIP = CapacitySpec(max_sessions=2, max_agents=8, policy="skip")
ONE = [Occupant("a", 6)]


@pytest.mark.parametrize("running,agents,cap,ahead,expected", [
    ([], 8, QUEUE, 0, "launch"),
    (ONE, 2, QUEUE, 0, "launch"),              # 6 + 2 agents fit exactly
    (ONE, 3, QUEUE, 0, "queue"),               # too many agents
    (ONE, 3, SKIP, 0, "skip"),
    (ONE + [Occupant("b", 1)], 1, QUEUE, 0, "queue"),  # too many sessions
    (ONE + [Occupant("b", 1)], 1, SKIP, 0, "skip"),
    ([], 1, QUEUE, 1, "queue"),                # fits, but a queued run is ahead of it
])
def test_decide(running: list[Occupant], agents: int, cap: CapacitySpec, ahead: int,
                expected: str) -> None:
    """A due run starts if it fits and nothing is queued before it; else the policy decides."""
    assert decide(running, agents, cap, ahead) == expected


def test_fits_counts_sessions_and_agents() -> None:
    """Both limits hold at once."""
    cap = CapacitySpec(max_sessions=1, max_agents=8)
    assert fits([], 8, cap) and not fits([], 9, cap) and not fits([Occupant("x", 1)], 1, cap)


def test_drain_is_first_in_first_out() -> None:
    """Queued runs start in order while they fit; a big one blocks the ones behind it."""
    cap = CapacitySpec(max_sessions=3, max_agents=8)
    queue = [("r1", 2), ("r2", 5), ("r3", 1)]
    assert drain(queue, [Occupant("a", 2)], cap) == ["r1"]  # r2 would make 9 agents: r3 waits
    assert drain(queue, [], cap) == ["r1", "r2", "r3"]      # 3 sessions, 8 agents: all fit
    two = CapacitySpec(max_sessions=2, max_agents=8)
    assert drain(queue, [], two) == ["r1", "r2"]            # a third session would be too many
    assert drain([], [], cap) == []
