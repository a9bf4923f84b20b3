"""Periodic jobs of a session, in session time: metrics sampling, the trigger/recovery tick.

A ``Periodic`` waits on the session's ``Clock`` (``clock.sleep``), so at time scale 720 a
job every 30 session seconds runs every 1/24 wall second, and a ``FakeClock`` drives it in
a unit test with no real waiting. Runs never overlap (the next wait starts when the job
returns) and runs missed while a job was slow are coalesced into one, as APScheduler's
``coalesce=True, max_instances=1`` did for these jobs before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from supervisor import logs
from supervisor.clock import Clock

log = logs.get("session")

Job = Callable[[], Awaitable[None]]


def interval_in_session(clock: Clock, session_s: float, min_real: float = 0.02,
                        max_real: float | None = None) -> float:
    """``session_s`` bounded so that the job runs at most every ``min_real`` and at least
    every ``max_real`` wall seconds, whatever the time scale; in session seconds."""
    real = max(min_real, clock.to_real(session_s))
    if max_real is not None:
        real = min(max_real, real)
    return clock.to_session(real)


class Periodic:
    """Run ``job`` every ``interval`` session seconds until cancelled."""

    def __init__(self, clock: Clock, name: str, interval: float, job: Job):
        if interval <= 0:
            raise ValueError(f"periodic job {name}: interval must be > 0, got {interval!r}")
        self.clock = clock
        self.name = name
        self.interval = interval
        self.job = job
        self.runs = 0
        self.coalesced = 0  # runs skipped because the job, or the loop, was late

    async def run(self) -> None:
        clock = self.clock
        due = clock.now() + self.interval
        while True:
            await clock.sleep(due - clock.now())
            try:
                await self.job()
            except Exception as e:  # noqa: BLE001 - one failed run must not end the schedule
                log.exception("periodic_job_failed", job=self.name, error=str(e))
            self.runs += 1
            due += self.interval
            now = clock.now()
            if due <= now:  # late: skip the missed runs, keep the phase of the schedule
                missed = int((now - due) // self.interval) + 1
                self.coalesced += missed
                due += missed * self.interval
