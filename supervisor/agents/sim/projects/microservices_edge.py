"""ServiceMesh edge modules: circuit breaker and path router."""

from __future__ import annotations

CIRCUIT = ('''
"""Circuit breaker: stop calling a failing dependency, probe it again after a pause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class CircuitOpen(RuntimeError):
    """The breaker is open: the call was not attempted."""


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, reset_timeout: float = 30.0):
        if failure_threshold < 1 or reset_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout > 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0

    def allow(self, now: float) -> bool:
        """May a call go through at ``now``? An open breaker half-opens after the timeout."""
        if self.state == "open" and now - self.opened_at >= self.reset_timeout:
            self.state = "half_open"
        return self.state != "open"

    def record_success(self) -> None:
        self.state = "closed"
        self.failures = 0

    def record_failure(self, now: float) -> None:
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            self.state = "open"
            self.opened_at = now

    def call(self, fn: Callable[[], Any], now: float) -> Any:
        if not self.allow(now):
            raise CircuitOpen("circuit open")
        try:
            result = fn()
        except Exception:
            self.record_failure(now)
            raise
        self.record_success()
        return result
''', '''
import pytest

from __PKG__.circuit import CircuitBreaker, CircuitOpen


def _boom():
    raise ConnectionError("down")


def test_opens_after_threshold_failures():
    cb = CircuitBreaker(failure_threshold=2, reset_timeout=10)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            cb.call(_boom, now=0)
    assert cb.state == "open"
    with pytest.raises(CircuitOpen):
        cb.call(lambda: 1, now=5)


def test_half_open_probe_closes_on_success():
    cb = CircuitBreaker(failure_threshold=1, reset_timeout=10)
    with pytest.raises(ConnectionError):
        cb.call(_boom, now=0)
    assert cb.call(lambda: "ok", now=10) == "ok"
    assert cb.state == "closed" and cb.failures == 0


def test_half_open_failure_reopens():
    cb = CircuitBreaker(failure_threshold=3, reset_timeout=10)
    for _ in range(3):
        cb.record_failure(now=0)
    assert cb.allow(now=10) and cb.state == "half_open"
    cb.record_failure(now=10)
    assert cb.state == "open" and not cb.allow(now=15)
''')


ROUTER = ('''
"""Path routing: the longest matching prefix (on segment boundaries) names the service."""

from __future__ import annotations


class Router:
    def __init__(self) -> None:
        self.routes: dict[str, str] = {}

    def add(self, prefix: str, service: str) -> None:
        if not prefix.startswith("/"):
            raise ValueError(f"route prefix must start with '/': {prefix!r}")
        self.routes[prefix.rstrip("/") or "/"] = service

    def match(self, path: str) -> tuple[str, str] | None:
        """(service, remaining path) for ``path``, or None when no route matches."""
        path = path.split("?", 1)[0]
        best = None
        for prefix, service in self.routes.items():
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                if best is None or len(prefix) > len(best[0]):
                    best = (prefix, service)
        if best is None:
            return None
        prefix, service = best
        rest = path if prefix == "/" else path[len(prefix):]
        return service, rest or "/"
''', '''
import pytest

from __PKG__.router import Router


def _router():
    router = Router()
    router.add("/api", "api")
    router.add("/api/orders/", "orders")
    return router


def test_longest_prefix_wins():
    assert _router().match("/api/orders/7?x=1") == ("orders", "/7")
    assert _router().match("/api/users") == ("api", "/users")
    assert _router().match("/api") == ("api", "/")


def test_prefixes_match_whole_segments():
    assert _router().match("/apix") is None


def test_root_route_catches_everything():
    router = _router()
    router.add("/", "web")
    assert router.match("/index.html") == ("web", "/index.html")


def test_rejects_relative_prefixes():
    with pytest.raises(ValueError):
        Router().add("api", "api")
''')
