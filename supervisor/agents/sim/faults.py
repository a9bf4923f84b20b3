"""Fault injection: when faults happen (pure schedule) and the memory they hold.

Times are session seconds into the phase. Rate faults are a Poisson process per failure
type, drawn from their own random stream so they do not depend on the agent's work;
scheduled faults fire at ``at_minutes`` for the agent they name. A resumed agent skips
every fault whose time lies before the phase time it resumes at, and every fault its
state says was already injected.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable

from .settings import ScheduledFault, SimSettings

# Faults that are reported as an ``error`` event: kind -> (message, fatal)
ERROR_FAULTS: dict[str, tuple[str, bool]] = {
    "network_timeout": ("upstream request timed out after 30s", False),
    "rate_limit": ("429 Too Many Requests: rate limit exceeded", False),
    "llm_error": ("model returned 500 internal error", False),
    "parse_failure": ("could not parse tool call arguments", False),
    "disk_full": ("No space left on device (ENOSPC)", False),
    "data_corruption": ("data corruption detected: checksum mismatch in the working index", True),
}

CRASH_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "supervisor/agents/sim/agent.py", line 1, in step\n'
    "    raise RuntimeError('simulated crash')\n"
    "RuntimeError: simulated crash\n"
)

DEADLOCK_VOTE_EVERY = 30.0  # session seconds between deadlocked votes
DEADLOCK_ERROR_AFTER = 6  # rounds without intervention before the error event
DEADLOCK_MAX_ROUNDS = 40


def targets_me(fault: ScheduledFault, settings: SimSettings) -> bool:
    """Does a scheduled fault apply to this agent in this phase?"""
    if fault.phase not in ("", "*") and fault.phase != settings.phase:
        return False
    who = fault.agent.strip().lower()
    if not who:
        return settings.agent_index == 0
    return who in (settings.agent_id.lower(), settings.role.lower())


class FaultPlan:
    """The faults one agent will inject in one phase, in time order."""

    def __init__(
        self, settings: SimSettings, start: float = 0.0, done: Iterable[tuple[str, float]] = ()
    ):
        self._done = {(kind, round(at, 3)) for kind, at in done}
        self._heap: list[tuple[float, int, str]] = []
        self._streams: dict[str, tuple[random.Random, float]] = {}
        order = 0
        for fault in settings.scheduled_faults:
            at = fault.at_minutes * 60.0
            if targets_me(fault, settings) and at >= start:
                self._push(at, order, fault.failure)
                order += 1
        for kind, rate in settings.fault_rates:
            rng = random.Random(f"{settings.rng_key}:fault:{kind}")
            per_second = rate / 3600.0
            at = rng.expovariate(per_second)
            while at < start:
                at += rng.expovariate(per_second)
            self._streams[kind] = (rng, per_second)
            self._push(at, 1000 + len(self._streams), kind)

    def _push(self, at: float, order: int, kind: str) -> None:
        if (kind, round(at, 3)) not in self._done:
            heapq.heappush(self._heap, (at, order, kind))

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[float, str]]:
        """Every fault due at or before ``now``, oldest first; rate streams refill."""
        due: list[tuple[float, str]] = []
        while self._heap and self._heap[0][0] <= now:
            at, order, kind = heapq.heappop(self._heap)
            due.append((at, kind))
            if order >= 1000 and kind in self._streams:
                rng, per_second = self._streams[kind]
                self._push(at + rng.expovariate(per_second), order, kind)
        return due


class MemoryHog:
    """Real memory held during a memory_pressure fault, released on compress_context."""

    def __init__(self, chunk_bytes: int = 16 << 20):
        self.chunk_bytes = chunk_bytes
        self._blocks: list[bytes] = []

    @property
    def held(self) -> int:
        return len(self._blocks) * self.chunk_bytes

    def grow(self, limit_bytes: int) -> None:
        """Take one more chunk (touched, so it is resident) unless ``limit_bytes`` is held."""
        if self.held + self.chunk_bytes <= limit_bytes:
            self._blocks.append(b"\x5a" * self.chunk_bytes)

    def release(self) -> None:
        self._blocks.clear()
