"""The capacity limit: how many sessions and agents may run at once. Pure.

A due run starts if it fits; otherwise the policy decides: ``queue`` keeps it (first in,
first out: a later run never overtakes a queued one) until running sessions end, ``skip``
drops it (recorded, never started).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from supervisor.daemon.schedules import CapacitySpec


@dataclass(frozen=True)
class Occupant:
    """A session that holds capacity: running, or launched and not yet up."""

    session_id: str
    agents: int


def fits(running: Sequence[Occupant], agents: int, cap: CapacitySpec) -> bool:
    used = sum(o.agents for o in running)
    return len(running) < cap.max_sessions and used + agents <= cap.max_agents


def decide(running: Sequence[Occupant], agents: int, cap: CapacitySpec,
           queue_ahead: int = 0) -> str:
    """``launch``, ``queue`` or ``skip`` for a run that is due now."""
    if queue_ahead == 0 and fits(running, agents, cap):
        return "launch"
    return "queue" if cap.policy == "queue" else "skip"


def drain(queue: Sequence[tuple[str, int]], running: Sequence[Occupant],
          cap: CapacitySpec) -> list[str]:
    """The queued runs ``(id, agents)`` that can start now, in order; the first that does
    not fit stops the rest (first in, first out)."""
    started: list[str] = []
    occupied = list(running)
    for rid, agents in queue:
        if not fits(occupied, agents, cap):
            break
        started.append(rid)
        occupied.append(Occupant(rid, agents))
    return started
