"""The recovery manager's state across checkpoints and resumes, and the whole-session
restore of a checkpoint. Fake runner, FakeClock; no processes, no sleeping."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from supervisor.config.schema import Config, RecoveryRuleSpec
from supervisor.recovery.actions import RecoveryManager
from tests.unit.test_recovery_actions_support import FakeRunner, advance, ev, settle, with_cfg


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_state_round_trips_history_limits_and_votes(tmp_path: Path) -> None:
    """A checkpoint's recovery state restores history, token usage and open votes."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["coder-1"]
        r.recovery.on_error_event(host, ev("error", kind="timeout", message="x"), 0)
        r.recovery.on_event(host, ev("vote", topic="db", choice="a"), 0)
        r.event("coder-1", "tokens", prompt=700, completion=300, model="m")
        await settle(r)
        saved = r.recovery.state()
        r2 = FakeRunner(tmp_path / "b")
        m = RecoveryManager(cast(Any, r2), saved)
        assert m.history.total_failures == 1 and m.limits.tokens_used == 1000
        assert "db" in m.votes.topics
        bad = RecoveryManager(cast(Any, r2), {"schema": 1, "history": {"schema": 99}})
        assert bad.history.total_failures == 0  # unreadable part: fresh, no crash

    run(main())


def test_configured_corruption_restore_rolls_the_whole_session_back(tmp_path: Path) -> None:
    """data_corruption with action restore_checkpoint: every agent stopped, project/ made
    like the newest checkpoint, agents relaunched from its states, session_restore record."""
    async def main() -> None:
        rule = RecoveryRuleSpec("data_corruption", "fatal", "restore_checkpoint")
        r = FakeRunner(tmp_path, with_cfg(Config(), recovery={"rules": (rule,)}))
        materialized: list[tuple[object, object]] = []
        r.checkpoints.checkpointer.snapshots = SimpleNamespace(
            materialize=lambda m, p, ex: materialized.append((m, p)))
        info = SimpleNamespace(number=3, path=tmp_path / "checkpoint_003.msgpack")
        r.store.newest = (info, {"manifest": [], "agent_states": {"coder-1": {"step": 3},
                                                                  "tester-2": {"step": 5}}})
        old = dict(r.hosts)
        r.recovery.on_error_event(r.hosts["coder-1"], ev("error", kind="corrupt",
                                                         message="checksum", fatal=True), 0)
        await settle(r)
        await advance(r, 40)
        assert materialized == [([], r.layout.project_dir)]
        assert not any(h.alive for h in old.values())
        assert sorted((a, s) for a, _, s, _ in r.launches) == [
            ("coder-1", {"step": 3}), ("tester-2", {"step": 5})]
        assert r.records("session_restore")[0]["checkpoint"] == 3
        rec = r.records("recovery")[-1]
        assert rec["outcome"] == "recovered" and rec["restored_from"] == "checkpoint 3"
        assert not r.stops

    run(main())


def test_resuming_a_session_that_awaited_a_human_closes_its_escalation(tmp_path: Path) -> None:
    """A checkpoint taken while paused for a human, brought back by `supervisor resume`:
    the escalation is recorded as recovered by a human and the loops start afresh."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        r.recovery.on_error_event(r.hosts["coder-1"], ev("error", kind="deadlock", message="x"), 0)
        await settle(r)
        saved = r.recovery.state()
        assert saved["awaiting_human"][0]["type"] == "consensus_deadlock"
        r2 = FakeRunner(tmp_path / "b")
        r2.recovery = RecoveryManager(cast(Any, r2), saved)
        await r2.recovery.on_tick()
        rec = r2.records("recovery")[-1]
        assert (rec["outcome"], rec["by"], rec["failure_seq"]) == (
            "recovered", "human", saved["awaiting_human"][0]["failure_seq"])
        assert r2.recovery.history.consecutive_errors == 0

    run(main())


def test_reconfigure_applies_new_limits_and_table_keeping_history(tmp_path: Path) -> None:
    """A reloaded config: the new token budget and recovery rules apply from now on; the
    failures counted so far are kept."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        r.recovery.on_event(r.hosts["coder-1"], ev("test_result", passed=1, failed=1), 0)
        await settle(r)
        rule = RecoveryRuleSpec("network_timeout", "critical", "pause_alert")
        new = with_cfg(Config(), limits={"total_token_budget": 100}, recovery={"rules": (rule,)})
        r.cfg = new
        r.recovery.reconfigure(new)
        r.event("coder-1", "tokens", prompt=90, completion=20, model="m")
        await settle(r)
        r.recovery.on_error_event(r.hosts["tester-2"], ev("error", kind="timeout", message="x"), 0)
        await settle(r)
        assert r.stops and r.stops[0][1] is not None and "budget" in r.stops[0][0]
        assert r.records("failure")[-1]["action"] == "pause_alert"
        assert r.recovery.history.total_failures == 2

    run(main())
