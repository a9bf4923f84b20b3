"""The only code that reads time.

Session time runs ``time_scale`` times faster than the wall clock: at scale 720 a
six-hour session takes 30 wall seconds. Everything in the supervisor that waits or
measures durations asks a ``Clock``; tests use ``FakeClock`` and advance it by hand,
so no test sleeps to wait on a timer.

Code that has no ``Clock`` to ask because it runs outside a session (the CLI waiting for
a daemon, a file follower, a report's timestamps, a child process timing its own work)
uses the module functions below; ruff's TID251 keeps ``time.time``, ``time.monotonic``,
``time.sleep`` and ``datetime.now`` out of every other module.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import heapq
import itertools
import time


def wall_time() -> float:
    """Wall-clock Unix time (real, unscaled), for timestamps people read."""
    return time.time()


def monotonic() -> float:
    """Real monotonic seconds, for durations and deadlines outside a session."""
    return time.monotonic()


def sleep_real(seconds: float) -> None:
    """Block this thread for ``seconds`` of real time (CLI polling loops, child processes,
    worker threads; never on an event loop)."""
    time.sleep(max(0.0, seconds))


def utc_now() -> _dt.datetime:
    """The current time as an aware UTC datetime."""
    return _dt.datetime.now(_dt.UTC)


class Clock:
    """Real time, scaled. ``now()`` is session seconds since the clock was made."""

    def __init__(self, time_scale: float = 1.0):
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = float(time_scale)
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        """Real (unscaled) monotonic seconds."""
        return monotonic()

    def wall(self) -> float:
        """Wall-clock Unix time, for timestamps people read."""
        return wall_time()

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
        self._asleep: asyncio.Event | None = None  # set when a sleeper arrives

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
        if self._asleep is not None:
            self._asleep.set()
        await fut

    async def until_sleeping(self, count: int = 1) -> None:
        """Wait (on the loop, no polling) until at least ``count`` tasks sleep on this clock."""
        while self.sleepers < count:
            self._asleep = asyncio.Event()
            await self._asleep.wait()
        self._asleep = None
