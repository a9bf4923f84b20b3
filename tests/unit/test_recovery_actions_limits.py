"""Limits carried out (budget, rates), consensus tracking, and alerts with their webhook.
No processes, no sleeping: FakeClock, and an in-process aiohttp server for the webhook."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from supervisor.config.schema import Config, ConsensusSpec, NotificationsSpec
from supervisor.recovery.consensus import VoteTracker
from supervisor.recovery.notify import Notifier
from supervisor.session.state import AgentState, SessionStatus
from tests.unit.test_recovery_actions_support import FakeRunner, advance, ev, settle, with_cfg


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_budget_alerts_at_80_percent_and_stops_at_100(tmp_path: Path) -> None:
    """The token budget: one alert at 80%, then a graceful stop as budget_exhausted."""

    async def main() -> None:
        r = FakeRunner(tmp_path, with_cfg(Config(), limits={"total_token_budget": 1000}))
        r.event("coder-1", "tokens", prompt=700, completion=150, model="m")
        await settle(r)
        assert [x["action"] for x in r.records("limit")] == ["alert"]
        assert r.recovery.status_view()["alerts"][-1]["kind"] == "token_budget"
        assert not r.stops
        r.event("tester-2", "tokens", prompt=100, completion=60, model="m")
        await settle(r)
        assert [x["action"] for x in r.records("limit")] == ["alert", "stop"]
        assert r.stops == [(r.stops[0][0], SessionStatus.BUDGET_EXHAUSTED, 1)]
        assert "budget exhausted" in r.stops[0][0]
        r.event("tester-2", "tokens", prompt=100, completion=60, model="m")
        await settle(r)
        assert len(r.stops) == 1  # stopping once is enough

    run(main())


def test_tokens_per_hour_throttles_the_agent_until_its_window_clears(tmp_path: Path) -> None:
    """Over tokens_per_agent_per_hour: throttle {seconds} sent, agent shown as throttled."""

    async def main() -> None:
        r = FakeRunner(tmp_path, with_cfg(Config(), limits={"tokens_per_agent_per_hour": 500}))
        host = r.hosts["coder-1"]
        r.event("coder-1", "tokens", prompt=400, completion=200, model="m")
        await settle(r)
        assert host.commands() == ["throttle"]
        seconds = host.sent[0][1]["seconds"]
        assert 3500 <= seconds <= 3600
        assert host.state == AgentState.THROTTLED
        assert r.recovery.status_view()["throttled"]["coder-1"] > 3000
        assert r.records("limit")[0]["reason"] == "tokens_per_hour"
        await advance(r, seconds + 1)
        assert host.state == AgentState.RUNNING and r.recovery.status_view()["throttled"] == {}
        # a throttled, silent agent is not hung (the other one, silent for an hour, is)
        assert [f["agent"] for f in r.records("failure")] == ["tester-2"]

    run(main())


def test_tool_calls_get_a_batching_hint_then_a_throttle(tmp_path: Path) -> None:
    """At 80% of tool_calls_per_agent_per_hour a batching hint, at 100% a throttle."""

    async def main() -> None:
        r = FakeRunner(tmp_path, with_cfg(Config(), limits={"tool_calls_per_agent_per_hour": 10}),
                       caps=("quiesce", "prompt_hint"))
        host = r.hosts["coder-1"]
        for _ in range(8):
            r.event("coder-1", "tool_call", name="edit", ok=True, duration_ms=1)
        await settle(r)
        assert host.commands() == ["prompt_hint"]
        assert "Batch operations" in (r.layout.agent_dir("coder-1") / "prompt_hint.txt").read_text()
        for _ in range(2):
            r.event("coder-1", "tool_call", name="edit", ok=True, duration_ms=1)
        await settle(r)
        assert host.commands() == ["prompt_hint", "throttle"]
        assert [x["action"] for x in r.records("limit")] == ["batch_hint", "throttle"]

    run(main())


def test_contested_votes_past_the_timeout_are_a_deadlock(tmp_path: Path) -> None:
    """An agent flip-flopping on a topic past vote_timeout_secs: consensus_deadlock, escalated."""

    async def main() -> None:
        cfg = with_cfg(Config(), consensus={"vote_timeout_secs": 60.0})
        r = FakeRunner(tmp_path, cfg)
        host = r.hosts["coder-1"]
        for i in range(4):
            r.recovery.on_event(host, ev("vote", topic="db", choice="ab"[i % 2]),
                                r.timer.elapsed())
            r.progress("coder-1")
            r.progress("tester-2")
            await advance(r, 25)
        f = r.records("failure")
        assert [x["type"] for x in f] == ["consensus_deadlock"] and f[0]["agent"] is None
        assert r.paused and r.recovery.votes.contested() == {}

    run(main())


def test_vote_tracker_decides_by_strategy_and_drops_uncontested_topics() -> None:
    """Quorum and share per strategy; a topic that never reaches quorum is no deadlock."""
    spec = ConsensusSpec(min_votes=3, vote_timeout_secs=100, strategy="majority")
    v = VoteTracker(spec)
    assert v.observe("a", "t", "x", 0, voters_available=3) is None
    assert v.observe("b", "t", "y", 1, 3) is None
    out = v.observe("c", "t", "x", 2, 3)
    assert out is not None and out.choice == "x" and out.voters == 3 and "t" not in v.topics
    u = VoteTracker(ConsensusSpec(min_votes=2, strategy="unanimous"))
    u.observe("a", "t", "x", 0, 2)
    assert u.observe("b", "t", "y", 0, 2) is None and u.contested() == {"t": 0}
    lone = VoteTracker(ConsensusSpec(min_votes=3, vote_timeout_secs=10))
    lone.observe("a", "q", "x", 0, 3)
    assert lone.contested() == {} and lone.expire(11) == ["q"] and lone.topics == {}
    assert VoteTracker.from_dict(spec, u.to_dict()).contested() == {"t": 0}


def test_webhook_is_retried_and_a_dead_one_never_raises(tmp_path: Path) -> None:
    """Alerts POST to the webhook with tenacity retries (500 then 200); an unreachable
    webhook is logged and counted, never raised; info alerts are not posted."""

    async def main() -> None:
        got: list[dict[str, Any]] = []
        answers = [500, 200]

        async def hook(request: web.Request) -> web.Response:
            got.append(await request.json())
            return web.Response(status=answers.pop(0) if answers else 200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        slept: list[float] = []

        async def no_sleep(s: float) -> None:
            slept.append(s)

        spec = NotificationsSpec(enabled=True, webhook_url=f"http://127.0.0.1:{port}/hook")
        records: list[dict[str, Any]] = []
        n = Notifier(spec, "s1", record=records.append, sleep=no_sleep)
        n.alert("disk_full", "disk is full", "critical", None, 12.0, 1.0)
        n.alert("resumed", "resumed", "info")
        await n.flush(5)
        assert n.sent == 1 and len(got) == 2 and len(slept) == 1
        assert got[1]["kind"] == "disk_full" and got[1]["session_id"] == "s1"
        assert [x["kind"] for x in records] == ["disk_full", "resumed"]
        await runner.cleanup()
        dead = Notifier(spec, "s1", sleep=no_sleep)
        dead.alert("disk_full", "again", "critical")
        await dead.flush(5)
        assert dead.failed == 1 and dead.sent == 0
        off = Notifier(NotificationsSpec(enabled=False, webhook_url=spec.webhook_url), "s1")
        assert not off.webhook_enabled

    run(main())


def test_recovering_status_shows_while_an_episode_runs(tmp_path: Path) -> None:
    """status goes to recovering during an episode and back to running after; status.json's
    recovery section lists the active episode."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        r.recovery.on_error_event(r.hosts["coder-1"], ev("error", kind="rate_limit",
                                                         message="429"), 0)
        await settle(r)
        view = r.recovery.status_view()
        assert r.status == SessionStatus.RECOVERING
        assert view["active"][0]["type"] == "rate_limit" and view["active"][0]["state"] == "waiting"
        await advance(r, 40)
        r.progress("coder-1")
        await settle(r)
        assert r.status == SessionStatus.RUNNING and r.recovery.status_view()["active"] == []
        assert r.statuses == [SessionStatus.RECOVERING, SessionStatus.RUNNING]

    run(main())
