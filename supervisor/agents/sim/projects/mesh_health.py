"""ServiceMesh family: health-check evaluators, one module each."""

from __future__ import annotations

from .builder import code_unit
from .units import Unit

HEALTH: dict[str, tuple[str, str, str]] = {
    "status_range": ("treats HTTP statuses in a range as healthy", '''
"""Health from an HTTP status code."""

from __future__ import annotations


def healthy(status: int, low: int = 200, high: int = 399) -> bool:
    """True when ``status`` lies in [low, high]."""
    if not 100 <= status <= 599:
        raise ValueError(f"not an HTTP status: {status}")
    return low <= status <= high
''', '''
import pytest

from __PKG__.health.status_range import healthy


@pytest.mark.parametrize("status, ok", [(200, True), (302, True), (404, False), (503, False)])
def test_default_range(status, ok):
    assert healthy(status) is ok


def test_custom_range_and_bad_status():
    assert healthy(404, low=200, high=404)
    with pytest.raises(ValueError):
        healthy(42)
'''),
    "latency_threshold": ("fails when the p90 latency of recent probes is too high", '''
"""Health from latency: the 90th percentile of the last probes must stay under a limit."""

from __future__ import annotations

import math
from collections import deque


class LatencyCheck:
    def __init__(self, max_seconds: float, window: int = 20):
        self.max_seconds = max_seconds
        self.samples: deque[float] = deque(maxlen=window)

    def record(self, seconds: float) -> None:
        self.samples.append(seconds)

    def p90(self) -> float:
        ordered = sorted(self.samples)
        return ordered[math.ceil(0.9 * len(ordered)) - 1] if ordered else 0.0

    def healthy(self) -> bool:
        return self.p90() <= self.max_seconds
''', '''
from __PKG__.health.latency_threshold import LatencyCheck


def test_a_few_slow_probes_are_tolerated():
    check = LatencyCheck(max_seconds=0.5, window=20)
    for i in range(20):
        check.record(2.0 if i < 2 else 0.1)
    assert check.healthy()


def test_sustained_slowness_fails_and_window_forgets():
    check = LatencyCheck(max_seconds=0.5, window=10)
    for _ in range(10):
        check.record(1.0)
    assert not check.healthy()
    for _ in range(10):
        check.record(0.1)
    assert check.healthy() and check.p90() == 0.1
'''),
    "consecutive": ("changes state after N consecutive failures or successes", '''
"""Rise/fall health: down after ``fall`` failures in a row, up after ``rise`` successes."""

from __future__ import annotations


class Consecutive:
    def __init__(self, rise: int = 2, fall: int = 3):
        if rise < 1 or fall < 1:
            raise ValueError("rise and fall must be >= 1")
        self.rise, self.fall = rise, fall
        self.up = True
        self._streak = 0

    def record(self, ok: bool) -> bool:
        """Record a probe; returns whether the target is now considered up."""
        if ok == self.up:
            self._streak = 0
            return self.up
        self._streak += 1
        if self._streak >= (self.rise if ok else self.fall):
            self.up = ok
            self._streak = 0
        return self.up
''', '''
from __PKG__.health.consecutive import Consecutive


def test_goes_down_after_fall_failures():
    check = Consecutive(rise=2, fall=3)
    assert [check.record(False) for _ in range(3)] == [True, True, False]


def test_a_success_resets_the_streak():
    check = Consecutive(rise=2, fall=2)
    check.record(False)
    check.record(True)
    assert check.record(False) is True


def test_comes_back_after_rise_successes():
    check = Consecutive(rise=2, fall=1)
    check.record(False)
    assert [check.record(True) for _ in range(2)] == [False, True]
'''),
    "flap_detector": ("flags targets that change state too often", '''
"""Flap detection: too many state changes within a time window."""

from __future__ import annotations

from collections import deque


class FlapDetector:
    def __init__(self, max_changes: int = 4, window: float = 60.0):
        self.max_changes = max_changes
        self.window = window
        self.changes: deque[float] = deque()
        self.last: bool | None = None

    def record(self, up: bool, now: float) -> bool:
        """Record a state at ``now``; returns True while the target is flapping."""
        if self.last is not None and up != self.last:
            self.changes.append(now)
        self.last = up
        while self.changes and self.changes[0] <= now - self.window:
            self.changes.popleft()
        return len(self.changes) > self.max_changes
''', '''
from __PKG__.health.flap_detector import FlapDetector


def test_rapid_changes_are_flapping():
    detector = FlapDetector(max_changes=3, window=60)
    states = [detector.record(i % 2 == 0, now=i) for i in range(6)]
    assert states[-1] is True and states[2] is False


def test_changes_age_out():
    detector = FlapDetector(max_changes=1, window=10)
    detector.record(True, 0)
    detector.record(False, 1)
    assert detector.record(True, 2) is True
    assert detector.record(True, 30) is False
'''),
    "composite": ("combines several checks with all-of / any-of", '''
"""Composite health: combine checks that each return True when healthy."""

from __future__ import annotations

from collections.abc import Callable, Iterable

Check = Callable[[], bool]


def all_of(checks: Iterable[Check]) -> Check:
    items = list(checks)
    return lambda: all(check() for check in items)


def any_of(checks: Iterable[Check]) -> Check:
    items = list(checks)
    return lambda: any(check() for check in items)


def failing(named: dict[str, Check]) -> list[str]:
    """Names of the checks that fail, sorted."""
    return sorted(name for name, check in named.items() if not check())
''', '''
from __PKG__.health.composite import all_of, any_of, failing


def test_combinators():
    yes, no = (lambda: True), (lambda: False)
    assert all_of([yes, yes])() and not all_of([yes, no])()
    assert any_of([no, yes])() and not any_of([no])()


def test_failing_names():
    checks = {"db": lambda: False, "cache": lambda: True, "api": lambda: False}
    assert failing(checks) == ["api", "db"]
'''),
}


def units(pkg: str) -> list[Unit]:
    return [
        code_unit(pkg, f"health.{name}", f"health.{name}", source, test, stage=2,
                  package_doc="Health checks: decide from probe results whether a target is up.",
                  summary=f"health.{name} {what}",
                  title=f"add the {name.replace('_', ' ')} health check")
        for name, (what, source, test) in HEALTH.items()
    ]
