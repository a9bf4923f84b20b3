"""Shared families: retry backoff strategies and rate limiters (any project type)."""

from __future__ import annotations

from .builder import code_unit
from .units import Unit

BACKOFF_SOURCE = '''
"""__TITLE__ backoff: how long to wait before each retry."""

from __future__ import annotations

import random


def delays(attempts: int, base: float = 1.0, cap: float = 60.0, seed: int = 0) -> list[float]:
    """Seconds to wait before each of ``attempts`` retries, never more than ``cap``."""
    if attempts < 0:
        raise ValueError(f"attempts must be >= 0, got {attempts}")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    rng = random.Random(seed)
__BODY__
'''

BACKOFF_TEST = '''
import pytest

from __PKG__.backoff.__MOD__ import delays


def test_known_sequence():
__KNOWN__


def test_never_exceeds_cap():
    assert all(0 < d <= 3.0 for d in delays(20, 0.5, 3.0))


def test_zero_attempts_means_no_delays():
    assert delays(0) == []


def test_rejects_negative_attempts():
    with pytest.raises(ValueError):
        delays(-1)
'''

# name -> (title, body, known-sequence test body)
BACKOFF = {
    "fixed": ("Fixed", "    del rng\n    return [min(base, cap)] * attempts",
              "    assert delays(5, 1.0, 10.0) == [1.0] * 5"),
    "linear": ("Linear", "    del rng\n    return [min(cap, base * (n + 1)) for n in range(attempts)]",
               "    assert delays(5, 1.0, 10.0) == [1.0, 2.0, 3.0, 4.0, 5.0]"),
    "exponential": ("Exponential",
                    "    del rng\n    return [min(cap, base * 2**n) for n in range(attempts)]",
                    "    assert delays(5, 1.0, 10.0) == [1.0, 2.0, 4.0, 8.0, 10.0]"),
    "fibonacci": ("Fibonacci",
                  "    del rng\n    out: list[float] = []\n    a, b = base, base\n"
                  "    for _ in range(attempts):\n        out.append(min(cap, a))\n"
                  "        a, b = b, a + b\n    return out",
                  "    assert delays(6, 1.0, 10.0) == [1.0, 1.0, 2.0, 3.0, 5.0, 8.0]"),
    "quadratic": ("Quadratic",
                  "    del rng\n    return [min(cap, base * (n + 1) ** 2) for n in range(attempts)]",
                  "    assert delays(4, 1.0, 10.0) == [1.0, 4.0, 9.0, 10.0]"),
    "full_jitter": ("Full-jitter exponential",
                    "    return [rng.uniform(0, min(cap, base * 2**n)) or base for n in range(attempts)]",
                    "    first = delays(8, 1.0, 10.0, seed=3)\n"
                    "    assert first == delays(8, 1.0, 10.0, seed=3)\n"
                    "    assert all(d <= min(10.0, 2**n) for n, d in enumerate(first))"),
    "decorrelated_jitter": ("Decorrelated-jitter",
                            "    out: list[float] = []\n    sleep = base\n"
                            "    for _ in range(attempts):\n"
                            "        sleep = min(cap, rng.uniform(base, sleep * 3))\n"
                            "        out.append(sleep)\n    return out",
                            "    first = delays(30, 1.0, 10.0, seed=7)\n"
                            "    assert first == delays(30, 1.0, 10.0, seed=7)\n"
                            "    assert all(1.0 <= d <= 10.0 for d in first)"),
}

RATELIMIT: dict[str, tuple[str, str, str]] = {
    "token_bucket": ("bursts up to a capacity, refilled at a steady rate", '''
"""Token bucket: bursts up to ``capacity``, refilled at ``rate`` tokens per second."""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate: float, capacity: float):
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self.tokens = float(capacity)
        self.updated: float | None = None

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens at time ``now`` if there are enough."""
        if self.updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False
''', '''
import pytest

from __PKG__.ratelimit.token_bucket import TokenBucket


def test_burst_up_to_capacity_then_refuse():
    bucket = TokenBucket(rate=1.0, capacity=3)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]


def test_refills_over_time():
    bucket = TokenBucket(rate=2.0, capacity=2)
    assert bucket.allow(0.0) and bucket.allow(0.0)
    assert not bucket.allow(0.1)
    assert bucket.allow(0.6)


def test_never_holds_more_than_capacity():
    bucket = TokenBucket(rate=10.0, capacity=2)
    bucket.allow(0.0)
    bucket.allow(100.0)
    assert bucket.tokens <= 2


def test_rejects_bad_parameters():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1)
'''),
    "fixed_window": ("counts requests per fixed time window", '''
"""Fixed window counter: at most ``limit`` requests per window of ``window`` seconds."""

from __future__ import annotations


class FixedWindow:
    def __init__(self, limit: int, window: float):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.window_start: float | None = None
        self.count = 0

    def allow(self, now: float) -> bool:
        """Count a request at ``now``; False once the window's limit is reached."""
        start = now - (now % self.window)
        if start != self.window_start:
            self.window_start = start
            self.count = 0
        if self.count < self.limit:
            self.count += 1
            return True
        return False
''', '''
import pytest

from __PKG__.ratelimit.fixed_window import FixedWindow


def test_limit_within_a_window():
    limiter = FixedWindow(limit=2, window=10)
    assert [limiter.allow(t) for t in (1, 2, 3)] == [True, True, False]


def test_new_window_resets_the_count():
    limiter = FixedWindow(limit=1, window=10)
    assert limiter.allow(9.9)
    assert limiter.allow(10.5)


def test_rejects_bad_parameters():
    with pytest.raises(ValueError):
        FixedWindow(limit=0, window=1)
'''),
    "sliding_log": ("keeps a log of request times over a sliding window", '''
"""Sliding log: at most ``limit`` requests in any ``window`` seconds."""

from __future__ import annotations

from collections import deque


class SlidingLog:
    def __init__(self, limit: int, window: float):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.log: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Admit a request at ``now`` if fewer than ``limit`` were admitted in the window."""
        while self.log and self.log[0] <= now - self.window:
            self.log.popleft()
        if len(self.log) < self.limit:
            self.log.append(now)
            return True
        return False
''', '''
from __PKG__.ratelimit.sliding_log import SlidingLog


def test_window_slides_with_time():
    limiter = SlidingLog(limit=2, window=10)
    assert [limiter.allow(t) for t in (0, 5, 9, 10, 11)] == [True, True, False, True, False]


def test_log_forgets_old_requests():
    limiter = SlidingLog(limit=1, window=1)
    for t in range(100):
        assert limiter.allow(float(t))
    assert len(limiter.log) == 1
'''),
    "leaky_bucket": ("meters requests through a bucket that leaks at a steady rate", '''
"""Leaky bucket meter: each request adds one unit; the level drains at ``leak_rate``/s."""

from __future__ import annotations


class LeakyBucket:
    def __init__(self, capacity: float, leak_rate: float):
        if capacity <= 0 or leak_rate <= 0:
            raise ValueError("capacity and leak_rate must be positive")
        self.capacity = capacity
        self.leak_rate = leak_rate
        self.level = 0.0
        self.updated: float | None = None

    def allow(self, now: float) -> bool:
        """Admit a request at ``now`` if the bucket has room for it."""
        if self.updated is not None:
            self.level = max(0.0, self.level - (now - self.updated) * self.leak_rate)
        self.updated = now
        if self.level + 1 <= self.capacity:
            self.level += 1
            return True
        return False
''', '''
from __PKG__.ratelimit.leaky_bucket import LeakyBucket


def test_fills_then_overflows():
    bucket = LeakyBucket(capacity=2, leak_rate=1.0)
    assert [bucket.allow(0.0) for _ in range(3)] == [True, True, False]


def test_drains_over_time():
    bucket = LeakyBucket(capacity=2, leak_rate=1.0)
    bucket.allow(0.0)
    bucket.allow(0.0)
    assert bucket.allow(1.0)
    assert bucket.level == 2.0


def test_level_never_negative():
    bucket = LeakyBucket(capacity=1, leak_rate=5.0)
    bucket.allow(0.0)
    bucket.allow(60.0)
    assert bucket.level == 1.0
'''),
    "sliding_window_counter": ("estimates a sliding window from two fixed windows", '''
"""Sliding window counter: the previous window's count, weighted by overlap, plus this one."""

from __future__ import annotations


class SlidingWindowCounter:
    def __init__(self, limit: int, window: float):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.current_start: float | None = None
        self.current = 0
        self.previous = 0

    def allow(self, now: float) -> bool:
        """Admit a request at ``now`` if the weighted estimate stays under ``limit``."""
        start = now - (now % self.window)
        if self.current_start is None:
            self.current_start = start
        elif start != self.current_start:
            adjacent = start - self.current_start == self.window
            self.previous = self.current if adjacent else 0
            self.current = 0
            self.current_start = start
        weight = 1.0 - (now - start) / self.window
        if self.previous * weight + self.current < self.limit:
            self.current += 1
            return True
        return False
''', '''
from __PKG__.ratelimit.sliding_window_counter import SlidingWindowCounter


def test_limit_within_first_window():
    limiter = SlidingWindowCounter(limit=4, window=10)
    assert [limiter.allow(t) for t in (0, 1, 2, 3, 5)] == [True] * 4 + [False]


def test_previous_window_weighs_by_overlap():
    limiter = SlidingWindowCounter(limit=4, window=10)
    for t in (0, 1, 2, 3):
        limiter.allow(t)
    assert [limiter.allow(15) for _ in range(3)] == [True, True, False]


def test_gap_of_two_windows_forgets_everything():
    limiter = SlidingWindowCounter(limit=2, window=10)
    limiter.allow(0)
    limiter.allow(1)
    assert limiter.allow(25) and limiter.allow(25)
'''),
}


def units(pkg: str) -> list[Unit]:
    out = []
    for name, (title, body, known) in BACKOFF.items():
        source = BACKOFF_SOURCE.replace("__TITLE__", title).replace("__BODY__", body)
        test = BACKOFF_TEST.replace("__MOD__", name).replace("__KNOWN__", known)
        out.append(code_unit(pkg, f"backoff.{name}", f"backoff.{name}", source, test, stage=1,
                             package_doc="Retry backoff strategies: delays before each retry.",
                             summary=f"{title} backoff: backoff.{name}.delays(attempts, base, cap)",
                             title=f"add {title.lower()} retry backoff"))
    for name, (what, source, test) in RATELIMIT.items():
        out.append(code_unit(pkg, f"ratelimit.{name}", f"ratelimit.{name}", source, test, stage=2,
                             package_doc="Rate limiters: admit or refuse requests at a time.",
                             summary=f"ratelimit.{name} {what}",
                             title=f"add a {name.replace('_', ' ')} rate limiter"))
    return out
