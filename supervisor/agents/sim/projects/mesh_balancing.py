"""ServiceMesh family: load-balancing strategies, one module each."""

from __future__ import annotations

from .builder import code_unit
from .units import Unit

STRATEGIES: dict[str, tuple[str, str, str]] = {
    "random_choice": ("picks a backend uniformly at random (seeded)", '''
"""Random balancing: every backend equally likely; seeded for reproducibility."""

from __future__ import annotations

import random
from collections.abc import Sequence


class RandomChoice:
    def __init__(self, seed: int = 0):
        self._rng = random.Random(seed)

    def pick(self, backends: Sequence[str], key: str = "") -> str:
        if not backends:
            raise LookupError("no backends")
        return self._rng.choice(list(backends))
''', '''
from collections import Counter

from __PKG__.strategies.random_choice import RandomChoice


def test_same_seed_same_choices():
    a, b = RandomChoice(seed=4), RandomChoice(seed=4)
    assert [a.pick("xyz") for _ in range(20)] == [b.pick("xyz") for _ in range(20)]


def test_roughly_uniform():
    picker = RandomChoice(seed=1)
    counts = Counter(picker.pick(["a", "b", "c"]) for _ in range(3000))
    assert all(800 < n < 1200 for n in counts.values())
'''),
    "weighted_round_robin": ("smooth weighted round robin (as nginx)", '''
"""Smooth weighted round robin: heavier backends more often, never in long bursts."""

from __future__ import annotations


class WeightedRoundRobin:
    def __init__(self, weights: dict[str, int]):
        if not weights or any(w <= 0 for w in weights.values()):
            raise ValueError("weights must be positive")
        self.weights = dict(weights)
        self.current = {backend: 0 for backend in weights}

    def pick(self, backends: object = None, key: str = "") -> str:
        total = sum(self.weights.values())
        for backend, weight in self.weights.items():
            self.current[backend] += weight
        best = max(self.current, key=lambda b: self.current[b])
        self.current[best] -= total
        return best
''', '''
from collections import Counter

import pytest

from __PKG__.strategies.weighted_round_robin import WeightedRoundRobin


def test_smooth_sequence():
    wrr = WeightedRoundRobin({"a": 5, "b": 1, "c": 1})
    assert "".join(wrr.pick() for _ in range(7)) == "aabacaa"


def test_shares_follow_weights():
    wrr = WeightedRoundRobin({"a": 3, "b": 1})
    assert Counter(wrr.pick() for _ in range(400)) == {"a": 300, "b": 100}


def test_rejects_zero_weights():
    with pytest.raises(ValueError):
        WeightedRoundRobin({"a": 0})
'''),
    "ip_hash": ("pins each client address to one backend by hash", '''
"""Hash balancing: a client key always maps to the same backend (while the set is fixed)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


class IpHash:
    def pick(self, backends: Sequence[str], key: str = "") -> str:
        if not backends:
            raise LookupError("no backends")
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        return backends[int.from_bytes(digest[:8], "big") % len(backends)]
''', '''
from __PKG__.strategies.ip_hash import IpHash


def test_same_client_same_backend():
    picker, backends = IpHash(), ["a", "b", "c"]
    assert len({picker.pick(backends, "10.0.0.7") for _ in range(10)}) == 1


def test_clients_spread_over_backends():
    picker = IpHash()
    used = {picker.pick(["a", "b", "c"], f"10.0.0.{i}") for i in range(50)}
    assert used == {"a", "b", "c"}
'''),
    "power_of_two": ("samples two backends and takes the less loaded", '''
"""Power of two choices: sample two backends, send to the one with less load."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence


class PowerOfTwo:
    def __init__(self, seed: int = 0):
        self._rng = random.Random(seed)
        self.load: Counter[str] = Counter()

    def pick(self, backends: Sequence[str], key: str = "") -> str:
        if not backends:
            raise LookupError("no backends")
        if len(backends) == 1:
            choice = backends[0]
        else:
            a, b = self._rng.sample(list(backends), 2)
            choice = a if self.load[a] <= self.load[b] else b
        self.load[choice] += 1
        return choice

    def done(self, backend: str) -> None:
        self.load[backend] = max(0, self.load[backend] - 1)
''', '''
from __PKG__.strategies.power_of_two import PowerOfTwo


def test_load_stays_balanced():
    picker = PowerOfTwo(seed=2)
    backends = [f"b{i}" for i in range(5)]
    for _ in range(500):
        picker.pick(backends)
    assert max(picker.load.values()) - min(picker.load.values()) <= 2


def test_done_releases_load():
    picker = PowerOfTwo()
    choice = picker.pick(["only"])
    picker.done(choice)
    assert picker.load["only"] == 0
'''),
    "consistent_hash": ("maps keys onto a hash ring with virtual nodes", '''
"""Consistent hashing: removing a backend moves only the keys it owned."""

from __future__ import annotations

import bisect
import hashlib


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


class ConsistentHash:
    def __init__(self, backends: list[str], replicas: int = 64):
        if replicas < 1:
            raise ValueError("replicas must be >= 1")
        self.replicas = replicas
        self._ring: list[tuple[int, str]] = []
        for backend in backends:
            self.add(backend)

    def add(self, backend: str) -> None:
        for i in range(self.replicas):
            bisect.insort(self._ring, (_hash(f"{backend}#{i}"), backend))

    def remove(self, backend: str) -> None:
        self._ring = [(h, b) for h, b in self._ring if b != backend]

    def pick(self, backends: object = None, key: str = "") -> str:
        if not self._ring:
            raise LookupError("no backends")
        i = bisect.bisect(self._ring, (_hash(key), "")) % len(self._ring)
        return self._ring[i][1]
''', '''
from __PKG__.strategies.consistent_hash import ConsistentHash


def test_keys_are_stable():
    ring = ConsistentHash(["a", "b", "c"])
    assert all(ring.pick(key=f"k{i}") == ring.pick(key=f"k{i}") for i in range(100))


def test_removing_a_backend_moves_only_its_keys():
    ring = ConsistentHash(["a", "b", "c"])
    before = {f"k{i}": ring.pick(key=f"k{i}") for i in range(500)}
    ring.remove("b")
    after = {k: ring.pick(key=k) for k in before}
    moved = [k for k in before if before[k] != after[k]]
    assert moved and all(before[k] == "b" for k in moved)
    assert "b" not in after.values()
'''),
    "least_response_time": ("prefers the backend with the lowest average latency", '''
"""Least response time: an exponentially weighted average latency per backend."""

from __future__ import annotations

from collections.abc import Sequence


class LeastResponseTime:
    def __init__(self, alpha: float = 0.3):
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.latency: dict[str, float] = {}

    def observe(self, backend: str, seconds: float) -> None:
        old = self.latency.get(backend)
        self.latency[backend] = seconds if old is None else old + self.alpha * (seconds - old)

    def pick(self, backends: Sequence[str], key: str = "") -> str:
        """Unmeasured backends first (to measure them), then the fastest."""
        if not backends:
            raise LookupError("no backends")
        return min(backends, key=lambda b: self.latency.get(b, -1.0))
''', '''
import pytest

from __PKG__.strategies.least_response_time import LeastResponseTime


def test_unmeasured_backends_are_tried_first():
    lrt = LeastResponseTime()
    lrt.observe("a", 0.1)
    assert lrt.pick(["a", "b"]) == "b"


def test_fastest_wins_and_average_moves():
    lrt = LeastResponseTime(alpha=0.5)
    lrt.observe("a", 0.2)
    lrt.observe("b", 0.1)
    assert lrt.pick(["a", "b"]) == "b"
    lrt.observe("b", 0.5)
    assert lrt.latency["b"] == pytest.approx(0.3)
    assert lrt.pick(["a", "b"]) == "a"
'''),
    "sticky": ("keeps each session on the backend it started on", '''
"""Sticky sessions: a session stays on its backend until that backend goes away."""

from __future__ import annotations

from collections.abc import Sequence


class Sticky:
    def __init__(self) -> None:
        self.assigned: dict[str, str] = {}
        self._turn = 0

    def pick(self, backends: Sequence[str], key: str = "") -> str:
        if not backends:
            raise LookupError("no backends")
        current = self.assigned.get(key)
        if current in backends:
            return current
        backend = backends[self._turn % len(backends)]
        self._turn += 1
        self.assigned[key] = backend
        return backend
''', '''
from __PKG__.strategies.sticky import Sticky


def test_sessions_stick():
    sticky = Sticky()
    first = sticky.pick(["a", "b"], "session-1")
    assert all(sticky.pick(["a", "b"], "session-1") == first for _ in range(5))
    assert sticky.pick(["a", "b"], "session-2") != first


def test_session_moves_when_its_backend_leaves():
    sticky = Sticky()
    first = sticky.pick(["a", "b"], "s")
    remaining = [b for b in ["a", "b"] if b != first]
    assert sticky.pick(remaining, "s") == remaining[0]
'''),
    "weighted_random": ("picks at random in proportion to weights", '''
"""Weighted random balancing over cumulative weights."""

from __future__ import annotations

import bisect
import itertools
import random


class WeightedRandom:
    def __init__(self, weights: dict[str, float], seed: int = 0):
        if not weights or any(w <= 0 for w in weights.values()):
            raise ValueError("weights must be positive")
        self.backends = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))
        self._rng = random.Random(seed)

    def pick(self, backends: object = None, key: str = "") -> str:
        point = self._rng.random() * self.cumulative[-1]
        return self.backends[bisect.bisect_right(self.cumulative, point)]
''', '''
from collections import Counter

from __PKG__.strategies.weighted_random import WeightedRandom


def test_shares_follow_weights():
    picker = WeightedRandom({"a": 1, "b": 3}, seed=9)
    counts = Counter(picker.pick() for _ in range(4000))
    assert 850 < counts["a"] < 1150 and counts["a"] + counts["b"] == 4000
'''),
}


def units(pkg: str) -> list[Unit]:
    return [
        code_unit(pkg, f"strategies.{name}", f"strategies.{name}", source, test, stage=1,
                  package_doc="Load-balancing strategies: pick(backends, key) -> backend.",
                  summary=f"strategies.{name} {what}",
                  title=f"add {name.replace('_', ' ')} balancing")
        for name, (what, source, test) in STRATEGIES.items()
    ]
