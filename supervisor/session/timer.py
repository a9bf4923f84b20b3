"""Session time: what has elapsed of the session's own time, pauses excluded.

``elapsed()`` continues across supervisor restarts (``base`` is where the session was
when this supervisor took it over) and stops while the session is paused or while the
supervisor waits on a recovery backoff (those waits do not count against phase time).
"""

from __future__ import annotations

from supervisor.clock import Clock


class SessionTimer:
    def __init__(self, clock: Clock, base: float = 0.0):
        self.clock = clock
        self.base = base
        self._origin = clock.now()
        self._held_since: float | None = None
        self._depth = 0  # holds nest: time runs again when the last one is released
        self._held_total = 0.0
        self._wall_origin = clock.monotonic()

    def elapsed(self) -> float:
        now = self.clock.now()
        held = self._held_total
        if self._held_since is not None:
            held += now - self._held_since
        return self.base + (now - self._origin) - held

    def wall_elapsed(self) -> float:
        """Real seconds this supervisor has been running the session."""
        return self.clock.monotonic() - self._wall_origin

    @property
    def held(self) -> bool:
        return self._held_since is not None

    def hold(self) -> None:
        """Stop session time (pause, phase change, test run). Holds nest."""
        self._depth += 1
        if self._held_since is None:
            self._held_since = self.clock.now()

    def release(self) -> float:
        """Undo one hold; when none is left, time runs again and the held span is returned."""
        if self._held_since is None:
            return 0.0
        self._depth = max(0, self._depth - 1)
        if self._depth:
            return 0.0
        span = self.clock.now() - self._held_since
        self._held_total += span
        self._held_since = None
        return span

    @property
    def held_total(self) -> float:
        extra = 0.0
        if self._held_since is not None:
            extra = self.clock.now() - self._held_since
        return self._held_total + extra
