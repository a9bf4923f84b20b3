"""Backoff waits from BackoffSpec through tenacity's wait strategies."""

from __future__ import annotations

import asyncio
import random

import pytest
import tenacity

from supervisor.clock import FakeClock
from supervisor.config.schema import BackoffSpec
from supervisor.errors import ConfigError
from supervisor.recovery.backoff import build_wait, wait_for_attempt


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("fixed", [30.0, 30.0, 30.0, 30.0, 30.0, 30.0]),
        ("linear", [30.0, 60.0, 90.0, 120.0, 150.0, 180.0]),
        ("exponential", [30.0, 60.0, 120.0, 200.0, 200.0, 200.0]),
    ],
)
def test_waits_without_jitter_are_exact(strategy: str, expected: list[float]) -> None:
    """fixed/linear/exponential give exact waits for attempts 1..6, capped at max."""
    spec = BackoffSpec(strategy, 30.0, 200.0, 0.0)
    assert [wait_for_attempt(spec, n) for n in range(1, 7)] == expected


def test_linear_is_capped_by_max() -> None:
    """Linear backoff stops growing at max_seconds."""
    assert wait_for_attempt(BackoffSpec("linear", 30.0, 100.0, 0.0), 10) == 100.0


def test_fixed_initial_above_max_is_capped() -> None:
    """A fixed wait larger than max waits max."""
    assert wait_for_attempt(BackoffSpec("fixed", 500.0, 300.0, 0.0), 1) == 300.0


def test_huge_attempt_numbers_do_not_overflow() -> None:
    """Attempt 5000 of an exponential backoff waits max, without overflow."""
    assert wait_for_attempt(BackoffSpec("exponential", 30.0, 300.0, 0.0), 5000) == 300.0


def test_seeded_jitter_is_deterministic_and_within_the_fraction() -> None:
    """Same seed, same waits; each within +-jitter of the plain wait and never above max."""
    spec = BackoffSpec("exponential", 30.0, 300.0, 0.2)
    plain = [wait_for_attempt(BackoffSpec("exponential", 30.0, 300.0, 0.0), n)
             for n in range(1, 9)]
    first = [wait_for_attempt(spec, n, random.Random(42)) for n in range(1, 9)]
    again = [wait_for_attempt(spec, n, random.Random(42)) for n in range(1, 9)]
    assert first == again
    for w, p in zip(first, plain, strict=True):
        assert 0.8 * p <= w <= min(1.2 * p, 300.0)
    assert first != plain


def test_unseeded_jitter_varies() -> None:
    """Without an rng the jitter is random: 20 waits are not all the same."""
    wait = build_wait(BackoffSpec("fixed", 100.0, 300.0, 0.5))
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    assert len({wait(state) for _ in range(20)}) > 1


@pytest.mark.parametrize(
    "spec",
    [BackoffSpec("cubic"), BackoffSpec(initial_seconds=-1), BackoffSpec(jitter=2.0)],
)
def test_bad_spec_is_a_config_error(spec: BackoffSpec) -> None:
    """An unknown strategy, negative wait or jitter outside 0..1 is a ConfigError."""
    with pytest.raises(ConfigError):
        build_wait(spec)


def test_attempt_must_be_positive() -> None:
    """Attempts are 1-based."""
    with pytest.raises(ValueError):
        wait_for_attempt(BackoffSpec(), 0)


def test_same_wait_object_drives_tenacity_on_a_fake_clock() -> None:
    """AsyncRetrying with build_wait sleeps 30, 60, 120 session seconds on the clock."""
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    async def main() -> int:
        calls = 0
        with pytest.raises(tenacity.RetryError):
            async for attempt in tenacity.AsyncRetrying(
                wait=build_wait(BackoffSpec("exponential", 30.0, 300.0, 0.0)),
                sleep=sleep, stop=tenacity.stop_after_attempt(4),
            ):
                with attempt:
                    calls += 1
                    raise RuntimeError("still failing")
        return calls

    assert asyncio.run(main()) == 4
    assert slept == [30.0, 60.0, 120.0]
    assert clock.now() == 210.0
