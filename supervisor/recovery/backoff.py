"""Backoff waits from a ``BackoffSpec``, built from tenacity's own wait strategies.

The runner passes the same object to
``tenacity.AsyncRetrying(wait=build_wait(spec), sleep=clock.sleep, stop=stop_after_attempt(n))``;
``wait_for_attempt`` asks it for one attempt's wait (session seconds), so policy decisions
and the runner's retries agree on the numbers.

- fixed: ``initial`` every time;
- linear: ``initial * n`` (``wait_incrementing``);
- exponential: ``initial * 2**(n-1)`` (``wait_exponential``);
each capped at ``max_seconds``. Jitter is a fraction of the wait, uniform in +-jitter,
drawn from the given ``random.Random`` (deterministic when seeded), and the result is
capped again so ``max_seconds`` is a hard bound.
"""

from __future__ import annotations

import random

from tenacity import RetryCallState, Retrying
from tenacity.wait import (
    wait_base,
    wait_exponential,
    wait_fixed,
    wait_incrementing,
)

from supervisor.config.schema import BACKOFF_STRATEGIES, BackoffSpec
from supervisor.errors import ConfigError, Problem


class wait_jitter_fraction(wait_base):  # lower case, like tenacity's strategies
    """Scale another wait by ``1 + uniform(-fraction, fraction)``, clamped to [0, max]."""

    def __init__(self, base: wait_base, fraction: float, max_seconds: float,
                 rng: random.Random | None = None):
        self.base = base
        self.fraction = fraction
        self.max_seconds = max_seconds
        self.rng = rng if rng is not None else random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self.base(retry_state))
        wait *= 1.0 + self.rng.uniform(-self.fraction, self.fraction)
        return max(0.0, min(wait, self.max_seconds))


def base_wait(spec: BackoffSpec) -> wait_base:
    """The tenacity strategy for the spec's shape, without jitter, capped at max."""
    _check(spec)
    initial, cap = float(spec.initial_seconds), float(spec.max_seconds)
    if spec.strategy == "fixed":
        return wait_fixed(min(initial, cap))
    if spec.strategy == "linear":
        return wait_incrementing(start=initial, increment=initial, max=cap)
    return wait_exponential(multiplier=initial, max=cap, exp_base=2)


def build_wait(spec: BackoffSpec, rng: random.Random | None = None) -> wait_base:
    """The full wait strategy for the spec: shape, cap and (if any) jitter."""
    base = base_wait(spec)
    if spec.jitter <= 0:
        return base
    return wait_jitter_fraction(base, float(spec.jitter), float(spec.max_seconds), rng)


def retry_state(attempt: int) -> RetryCallState:
    """A tenacity call state after ``attempt`` failed attempts (what a wait is asked with)."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt
    return state


def wait_for_attempt(spec: BackoffSpec, attempt: int, rng: random.Random | None = None) -> float:
    """Session seconds to wait after the ``attempt``-th failed attempt (1-based)."""
    return float(build_wait(spec, rng)(retry_state(attempt)))


def _check(spec: BackoffSpec) -> None:
    problems: list[Problem] = []
    if spec.strategy not in BACKOFF_STRATEGIES:
        problems.append(Problem("<backoff>", "strategy",
                                f"unknown strategy {spec.strategy!r}; expected one of "
                                f"{', '.join(BACKOFF_STRATEGIES)}"))
    if spec.initial_seconds < 0:
        problems.append(Problem("<backoff>", "initial_seconds", "must be >= 0"))
    if spec.max_seconds < 0:
        problems.append(Problem("<backoff>", "max_seconds", "must be >= 0"))
    if not 0 <= spec.jitter <= 1:
        problems.append(Problem("<backoff>", "jitter", "must be between 0 and 1"))
    if problems:
        raise ConfigError(problems)
