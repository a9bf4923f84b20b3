"""ServiceMesh core modules: registry, balancer, tracing."""

from __future__ import annotations

REGISTRY = ('''
"""Service registry: instances register, heartbeat, and drop out when their lease expires."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Instance:
    service: str
    instance_id: str
    address: str
    last_seen: float
    healthy: bool = True
    metadata: dict[str, str] = field(default_factory=dict)


class Registry:
    def __init__(self, ttl: float = 30.0):
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.ttl = ttl
        self._instances: dict[str, Instance] = {}

    def register(self, service: str, instance_id: str, address: str, now: float,
                 **metadata: str) -> Instance:
        instance = Instance(service, instance_id, address, now, metadata=dict(metadata))
        self._instances[instance_id] = instance
        return instance

    def heartbeat(self, instance_id: str, now: float) -> bool:
        """Renew the lease; False for an unknown (or already expired) instance."""
        instance = self._instances.get(instance_id)
        if instance is None:
            return False
        instance.last_seen = now
        return True

    def deregister(self, instance_id: str) -> bool:
        return self._instances.pop(instance_id, None) is not None

    def set_health(self, instance_id: str, healthy: bool) -> None:
        self._instances[instance_id].healthy = healthy

    def expire(self, now: float) -> list[str]:
        """Drop instances whose lease ran out; their ids."""
        gone = [i for i, inst in self._instances.items() if now - inst.last_seen > self.ttl]
        for instance_id in gone:
            del self._instances[instance_id]
        return sorted(gone)

    def instances(self, service: str, now: float, healthy_only: bool = True) -> list[Instance]:
        """Live instances of ``service`` (healthy ones unless told otherwise), by id."""
        return sorted(
            (i for i in self._instances.values()
             if i.service == service and now - i.last_seen <= self.ttl
             and (i.healthy or not healthy_only)),
            key=lambda i: i.instance_id,
        )

    def services(self) -> list[str]:
        return sorted({i.service for i in self._instances.values()})

    def run_checks(self, probe: Callable[[Instance], bool], now: float) -> dict[str, bool]:
        """Probe every live instance and record the result as its health."""
        results = {}
        for instance in list(self._instances.values()):
            if now - instance.last_seen <= self.ttl:
                instance.healthy = results[instance.instance_id] = bool(probe(instance))
        return results
''', '''
import pytest

from __PKG__.registry import Registry


def test_register_and_list_by_service():
    reg = Registry(ttl=10)
    reg.register("api", "api-2", "10.0.0.2:80", now=0)
    reg.register("api", "api-1", "10.0.0.1:80", now=0, zone="a")
    reg.register("db", "db-1", "10.0.1.1:5432", now=0)
    assert [i.instance_id for i in reg.instances("api", now=1)] == ["api-1", "api-2"]
    assert reg.services() == ["api", "db"]
    assert reg.instances("api", now=1)[0].metadata == {"zone": "a"}


def test_leases_expire_without_heartbeats():
    reg = Registry(ttl=10)
    reg.register("api", "a", "x", now=0)
    reg.register("api", "b", "y", now=0)
    assert reg.heartbeat("a", now=8)
    assert [i.instance_id for i in reg.instances("api", now=15)] == ["a"]
    assert reg.expire(now=15) == ["b"]
    assert not reg.heartbeat("b", now=16)


def test_health_checks_hide_unhealthy_instances():
    reg = Registry()
    reg.register("api", "a", "ok", now=0)
    reg.register("api", "b", "bad", now=0)
    assert reg.run_checks(lambda inst: inst.address == "ok", now=1) == {"a": True, "b": False}
    assert [i.instance_id for i in reg.instances("api", now=1)] == ["a"]
    assert len(reg.instances("api", now=1, healthy_only=False)) == 2


def test_rejects_non_positive_ttl():
    with pytest.raises(ValueError):
        Registry(ttl=0)
''')


BALANCER = ('''
"""Load balancers: round robin, and least connections."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


class RoundRobin:
    def __init__(self) -> None:
        self._turn = 0

    def pick(self, backends: Sequence[str]) -> str:
        """The next backend in turn."""
        if not backends:
            raise LookupError("no backends")
        backend = backends[self._turn % len(backends)]
        self._turn += 1
        return backend


class LeastConnections:
    """Sends each request to the backend with the fewest requests in flight."""

    def __init__(self) -> None:
        self.active: Counter[str] = Counter()

    def acquire(self, backends: Sequence[str]) -> str:
        if not backends:
            raise LookupError("no backends")
        backend = min(backends, key=lambda b: self.active[b])
        self.active[backend] += 1
        return backend

    def release(self, backend: str) -> None:
        if self.active[backend] <= 0:
            raise ValueError(f"{backend} has no request in flight")
        self.active[backend] -= 1
''', '''
import pytest

from __PKG__.balancer import LeastConnections, RoundRobin


def test_round_robin_cycles():
    rr = RoundRobin()
    assert [rr.pick(["a", "b", "c"]) for _ in range(5)] == ["a", "b", "c", "a", "b"]


def test_least_connections_prefers_idle_backends():
    lc = LeastConnections()
    assert [lc.acquire(["a", "b"]) for _ in range(3)] == ["a", "b", "a"]
    lc.release("a")
    lc.release("a")
    assert lc.acquire(["a", "b"]) == "a"


def test_errors():
    with pytest.raises(LookupError):
        RoundRobin().pick([])
    with pytest.raises(ValueError):
        LeastConnections().release("a")
''')


TRACING = ('''
"""Distributed tracing: spans with parents, grouped into traces."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: float
    end: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


class Tracer:
    def __init__(self, seed: int = 0):
        self._rng = random.Random(seed)
        self.spans: list[Span] = []

    def _id(self, bits: int) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def start(self, name: str, now: float, parent: Span | None = None, **tags: Any) -> Span:
        """A new span; a root span (no parent) starts a new trace."""
        trace_id = parent.trace_id if parent else self._id(128)
        span = Span(trace_id, self._id(64), parent.span_id if parent else None, name, now,
                    tags=dict(tags))
        self.spans.append(span)
        return span

    def finish(self, span: Span, now: float) -> None:
        if span.end is not None:
            raise ValueError(f"span {span.name} already finished")
        if now < span.start:
            raise ValueError("a span cannot end before it starts")
        span.end = now

    def trace(self, trace_id: str) -> list[Span]:
        return [s for s in self.spans if s.trace_id == trace_id]

    def children(self, span: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_id == span.span_id]

    def render(self, root: Span) -> str:
        """The span tree under ``root`` as indented text with durations."""
        lines: list[str] = []

        def walk(span: Span, depth: int) -> None:
            took = "open" if span.duration is None else f"{span.duration * 1000:.1f}ms"
            lines.append(f"{'  ' * depth}{span.name} ({took})")
            for child in self.children(span):
                walk(child, depth + 1)

        walk(root, 0)
        return "\\n".join(lines)
''', '''
import pytest

from __PKG__.tracing import Tracer


def test_children_share_the_trace():
    tracer = Tracer(seed=1)
    root = tracer.start("GET /orders", now=0.0)
    child = tracer.start("db.query", now=0.01, parent=root, table="orders")
    assert child.trace_id == root.trace_id and child.parent_id == root.span_id
    assert len(root.trace_id) == 32 and len(root.span_id) == 16
    assert tracer.trace(root.trace_id) == [root, child]


def test_durations_and_render():
    tracer = Tracer()
    root = tracer.start("request", now=0.0)
    child = tracer.start("cache", now=0.001, parent=root)
    tracer.finish(child, now=0.003)
    tracer.finish(root, now=0.010)
    assert tracer.render(root) == "request (10.0ms)\\n  cache (2.0ms)"


def test_finish_rules():
    tracer = Tracer()
    span = tracer.start("x", now=5.0)
    with pytest.raises(ValueError):
        tracer.finish(span, now=4.0)
    tracer.finish(span, now=6.0)
    with pytest.raises(ValueError):
        tracer.finish(span, now=7.0)
''')
