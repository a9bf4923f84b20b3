"""Small value types the session loop passes around."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from supervisor.counters import Counters

if TYPE_CHECKING:
    from supervisor.agents.host import AgentHost


@dataclass
class ResumePoint:
    """Where a session continues from (a checkpoint, or a crashed session's journal)."""

    elapsed: float
    counters: Counters
    agent_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent_models: dict[str, int] = field(default_factory=dict)
    reason: str = "resume"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Internal:
    """Something the loop itself must handle (not a user command)."""

    kind: str
    host: AgentHost | None = None
    data: dict[str, Any] = field(default_factory=dict)
