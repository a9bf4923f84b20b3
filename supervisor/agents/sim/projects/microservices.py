"""Project type ``microservices``: ServiceMesh, discovery, balancing, tracing (package servicemesh)."""

from __future__ import annotations

from . import (
    family_codecs,
    family_hardening,
    family_resilience,
    family_widgets,
    mesh_balancing,
    mesh_health,
    mesh_tracing,
)
from .builder import code_unit, suite_unit
from .microservices_core import BALANCER, REGISTRY, TRACING
from .microservices_edge import CIRCUIT, ROUTER
from .roles import ProjectInfo, role_units, scaffold
from .units import Unit

PKG = "servicemesh"
INFO = ProjectInfo(
    pkg=PKG,
    name="ServiceMesh",
    description="a service mesh toolkit: discovery with health checks, load balancing, tracing.",
    components=(
        ("registry", "service registry with leases and health checks"),
        ("balancer", "round-robin and least-connections balancing"),
        ("tracing", "trace spans with parents, rendered as trees"),
        ("circuit", "circuit breaker for failing dependencies"),
        ("router", "longest-prefix path routing"),
        ("gateway", "routes a request to a healthy instance"),
        ("strategies", "more load-balancing strategies"),
        ("health", "health-check evaluators"),
        ("propagation", "trace-context propagation formats"),
        ("exporters", "span exporters"),
    ),
    decisions=(
        ("client-side-balancing", "Balance on the client side",
         "Callers pick an instance from the registry; no central proxy sits in the path."),
        ("w3c-trace-context", "Propagate W3C trace context",
         "traceparent is the primary format; B3 and Jaeger headers are accepted too."),
    ),
)
VOTE_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("design.discovery", ("registry", "dns")),
    ("design.balancing", ("least-connections", "round-robin")),
    ("design.trace_format", ("w3c", "b3")),
    ("release.version", ("0.1.0", "1.0.0")),
)

GATEWAY = ('''
"""The gateway: a request path goes to a healthy instance of the service that owns it."""

from __future__ import annotations

from __PKG__.balancer import RoundRobin
from __PKG__.registry import Instance, Registry
from __PKG__.router import Router


class NoRoute(LookupError):
    """No route, or no healthy instance, for a path."""


class Gateway:
    def __init__(self, registry: Registry, router: Router):
        self.registry = registry
        self.router = router
        self._balancers: dict[str, RoundRobin] = {}

    def resolve(self, path: str, now: float) -> tuple[Instance, str]:
        """(instance, path within the service) for ``path``."""
        match = self.router.match(path)
        if match is None:
            raise NoRoute(f"no route for {path}")
        service, rest = match
        instances = self.registry.instances(service, now)
        if not instances:
            raise NoRoute(f"no healthy instance of {service}")
        balancer = self._balancers.setdefault(service, RoundRobin())
        chosen = balancer.pick([i.instance_id for i in instances])
        return next(i for i in instances if i.instance_id == chosen), rest
''', '''
import pytest

from __PKG__.gateway import Gateway, NoRoute
from __PKG__.registry import Registry
from __PKG__.router import Router


def _gateway():
    registry, router = Registry(ttl=10), Router()
    router.add("/orders", "orders")
    for i in (1, 2):
        registry.register("orders", f"orders-{i}", f"10.0.0.{i}:80", now=0)
    return Gateway(registry, router)


def test_requests_rotate_over_instances():
    gw = _gateway()
    picks = [gw.resolve("/orders/7", now=1)[0].instance_id for _ in range(4)]
    assert picks == ["orders-1", "orders-2", "orders-1", "orders-2"]
    assert gw.resolve("/orders/7", now=1)[1] == "/7"


def test_unhealthy_instances_are_skipped():
    gw = _gateway()
    gw.registry.set_health("orders-1", False)
    assert {gw.resolve("/orders", now=1)[0].instance_id for _ in range(3)} == {"orders-2"}


def test_no_route_and_no_instance():
    gw = _gateway()
    with pytest.raises(NoRoute):
        gw.resolve("/users", now=1)
    with pytest.raises(NoRoute):
        gw.resolve("/orders", now=100)
''')

INTERFACES = ('''
"""The contracts between ServiceMesh components, as structural types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Strategy(Protocol):
    def pick(self, backends: Sequence[str], key: str = "") -> str: ...


@runtime_checkable
class Propagator(Protocol):
    def inject(self, ctx: dict) -> dict[str, str]: ...

    def extract(self, headers: dict[str, str]) -> dict | None: ...
''', '''
from __PKG__.interfaces import Propagator, Strategy


class _First:
    def pick(self, backends, key=""):
        return backends[0]


def test_strategy_shape():
    assert isinstance(_First(), Strategy)
    assert _First().pick(["a", "b"]) == "a"
    assert not isinstance(object(), Strategy)


def test_propagator_shape():
    class Null:
        def inject(self, ctx):
            return {}

        def extract(self, headers):
            return None

    assert isinstance(Null(), Propagator)
    assert not isinstance(_First(), Propagator)
''')

PROPERTIES_BALANCER = '''
import random

from __PKG__.balancer import LeastConnections, RoundRobin


def test_round_robin_is_fair_over_whole_cycles():
    rr = RoundRobin()
    backends = [f"b{i}" for i in range(7)]
    picks = [rr.pick(backends) for _ in range(7 * 50)]
    assert all(picks.count(b) == 50 for b in backends)


def test_least_connections_always_picks_a_least_loaded_backend():
    rng = random.Random(8)
    lc = LeastConnections()
    backends = ["a", "b", "c", "d"]
    held = []
    for _ in range(1000):
        if held and rng.random() < 0.4:
            lc.release(held.pop(rng.randrange(len(held))))
        else:
            before = {b: lc.active[b] for b in backends}
            chosen = lc.acquire(backends)
            assert before[chosen] == min(before.values())
            held.append(chosen)
        assert sum(lc.active[b] for b in backends) == len(held)
'''

PROPERTIES_REGISTRY = '''
import random

from __PKG__.registry import Registry


def test_live_instances_are_exactly_those_heard_from_recently():
    rng = random.Random(10)
    reg = Registry(ttl=5)
    seen = {}
    for now in range(200):
        for _ in range(rng.randint(0, 3)):
            instance_id = f"i{rng.randrange(30)}"
            if instance_id in seen and reg.heartbeat(instance_id, now):
                seen[instance_id] = now
            else:
                reg.register("svc", instance_id, "addr", now)
                seen[instance_id] = now
        live = {i.instance_id for i in reg.instances("svc", now)}
        assert live == {i for i, t in seen.items() if now - t <= 5}
'''


def catalog() -> list[Unit]:
    units = [scaffold(INFO)]
    for name, (source, test) in (("registry", REGISTRY), ("balancer", BALANCER),
                                 ("tracing", TRACING), ("circuit", CIRCUIT), ("router", ROUTER)):
        units.append(code_unit(PKG, f"core.{name}", name, source, test, stage=0,
                               summary=f"servicemesh.{name}: {dict(INFO.components)[name]}"))
    units.append(code_unit(PKG, "core.interfaces", "interfaces", *INTERFACES, stage=0,
                           owner="Architect", title="define the component interfaces",
                           summary="interfaces: Strategy and Propagator protocols"))
    units.append(code_unit(PKG, "core.gateway", "gateway", *GATEWAY, stage=1,
                           deps=("registry", "router", "balancer"),
                           summary="gateway.Gateway.resolve(path, now) -> (instance, path)"))
    units += mesh_balancing.units(PKG)
    units += mesh_health.units(PKG)
    units += mesh_tracing.units(PKG)
    units += family_resilience.units(PKG)
    units += family_codecs.units(PKG)
    units += family_widgets.units(PKG)
    units += family_hardening.units(PKG)
    units.append(suite_unit(PKG, "test.properties.balancer", "properties_balancer",
                            PROPERTIES_BALANCER, stage=1, owner="Tester", deps=("balancer",),
                            title="property-test the balancers"))
    units.append(suite_unit(PKG, "test.properties.registry", "properties_registry",
                            PROPERTIES_REGISTRY, stage=2, owner="Tester", deps=("registry",),
                            title="property-test registry leases"))
    units += role_units(INFO)
    return units
