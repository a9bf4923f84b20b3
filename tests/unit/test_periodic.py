"""Periodic session jobs run in session time, driven here by a FakeClock (no sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from supervisor.clock import FakeClock
from supervisor.session.periodic import Periodic, interval_in_session


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_job_runs_every_interval_of_session_time() -> None:
    """At scale 720 a 30 s job runs once per 30 session seconds advanced, not before."""

    async def main() -> list[float]:
        clock = FakeClock(time_scale=720)
        seen: list[float] = []

        async def job() -> None:
            seen.append(clock.now())

        task = asyncio.create_task(Periodic(clock, "metrics", 30.0, job).run())
        await _settle()
        clock.advance(29.0)
        await _settle()
        assert seen == []
        for _ in range(3):
            clock.advance(1.0 if not seen else 30.0)
            await _settle()
        task.cancel()
        return seen

    assert asyncio.run(main()) == pytest.approx([30.0, 60.0, 90.0])


def test_missed_runs_are_coalesced_and_a_failing_run_does_not_stop_it() -> None:
    """A jump of five intervals gives one run (four coalesced); a job that raises is
    logged and the schedule goes on."""

    async def main() -> tuple[int, int, int]:
        clock = FakeClock()
        calls = 0

        async def job() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("first run fails")

        p = Periodic(clock, "tick", 10.0, job)
        task = asyncio.create_task(p.run())
        await _settle()
        clock.advance(50.0)
        await _settle()
        clock.advance(10.0)
        await _settle()
        task.cancel()
        return calls, p.runs, p.coalesced

    calls, runs, coalesced = asyncio.run(main())
    assert (calls, runs, coalesced) == (2, 2, 4)


def test_intervals_are_bounded_in_wall_time() -> None:
    """The bounds are wall seconds whatever the scale: at 3600x a 5 s job would run every
    1.4 ms of wall time, so it runs every 20 ms (72 session seconds) instead."""
    clock = FakeClock(time_scale=3600)
    assert interval_in_session(clock, 5.0) == pytest.approx(0.02 * 3600)
    assert interval_in_session(clock, 36_000.0, max_real=5.0) == pytest.approx(5.0 * 3600)
    assert interval_in_session(FakeClock(), 30.0) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="interval must be > 0"):
        Periodic(clock, "bad", 0.0, _noop)


async def _noop() -> None:
    return None
