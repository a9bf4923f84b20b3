"""The only code that reads time.

Session time runs ``time_scale`` times faster than the wall clock: at scale 720 a
six-hour session takes 30 wall seconds. Everything in the supervisor that waits or
measures durations asks a ``Clock``; tests use ``FakeClock`` and advance it by hand,
so no test sleeps to wait on a timer.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class Clock:
    """Real time, scaled. ``now()`` is session seconds since the clock was made."""

    def __init__(self, time_scale: float = 1.0):
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = float(time_scale)
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        """Real (unscaled) monotonic seconds."""
        return time.monotonic()

    def wall(self) -> float:
        """Wall-clock Unix time, for timestamps people read."""
        return time.time()

    def now(self) -> float:
        """Session seconds elapsed since this clock was created."""
        return (self.monotonic() - self._origin) * self.time_scale

    def to_real(self, session_seconds: float) -> float:
        return session_seconds / self.time_scale

    def to_session(self, real_seconds: float) -> float:
        return real_seconds * self.time_scale

    async def sleep(self, session_seconds: float) -> None:
        """Sleep for a span of session time."""
        await asyncio.sleep(max(0.0, session_seconds) / self.time_scale)


class FakeClock(Clock):
    """A clock that moves only when told to. ``sleep`` wakes when ``advance`` passes it."""

    def __init__(self, time_scale: float = 1.0, start_wall: float = 1_800_000_000.0):
        super().__init__(time_scale)
        self._real = 0.0
        self._start_wall = start_wall
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._real

    def wall(self) -> float:
        return self._start_wall + self._real

    def now(self) -> float:
        return self._real * self.time_scale

    def advance(self, session_seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._real += session_seconds / self.time_scale
        while self._sleepers and self._sleepers[0][0] <= self._real + 1e-12:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def sleep(self, session_seconds: float) -> None:
        if session_seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._real + session_seconds / self.time_scale
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        await fut
