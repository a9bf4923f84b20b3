"""Clock, FakeClock and SessionTimer: session time, scaling, pauses."""

from __future__ import annotations

import asyncio

import pytest

from supervisor.clock import Clock, FakeClock
from supervisor.session.timer import SessionTimer


def test_fake_clock_scales_session_time() -> None:
    """At time scale 720 one real second is 720 session seconds."""
    c = FakeClock(time_scale=720)
    c.advance(720)
    assert c.monotonic() == pytest.approx(1.0)
    assert c.now() == pytest.approx(720)


def test_fake_clock_sleep_wakes_only_when_advanced() -> None:
    """A sleeper wakes when time passes its deadline, not before."""

    async def main() -> list[str]:
        c = FakeClock()
        woke: list[str] = []

        async def sleeper(name: str, s: float) -> None:
            await c.sleep(s)
            woke.append(name)

        t1 = asyncio.create_task(sleeper("a", 10))
        t2 = asyncio.create_task(sleeper("b", 5))
        await asyncio.sleep(0)
        c.advance(4)
        await asyncio.sleep(0)
        assert woke == []
        c.advance(1)
        await asyncio.sleep(0)
        assert woke == ["b"]
        c.advance(5)
        await asyncio.gather(t1, t2)
        return woke

    assert asyncio.run(main()) == ["b", "a"]


def test_clock_rejects_nonpositive_scale() -> None:
    """A time scale of zero is refused."""
    with pytest.raises(ValueError):
        Clock(0)


def test_timer_excludes_held_time_and_continues_from_base() -> None:
    """Paused time does not count; a resumed session starts from its base."""
    c = FakeClock()
    t = SessionTimer(c, base=100.0)
    c.advance(10)
    assert t.elapsed() == pytest.approx(110)
    t.hold()
    c.advance(50)
    assert t.elapsed() == pytest.approx(110)
    assert t.release() == pytest.approx(50)
    c.advance(5)
    assert t.elapsed() == pytest.approx(115)
    assert t.held_total == pytest.approx(50)
