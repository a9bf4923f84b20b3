"""Fault injection of the simulated agent: schedule, targeting and each fault's effect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supervisor.agents.sim.agent import SimAgent
from supervisor.agents.sim.faults import (
    DEADLOCK_ERROR_AFTER,
    ERROR_FAULTS,
    FaultPlan,
    MemoryHog,
    targets_me,
)
from supervisor.agents.sim.settings import ScheduledFault, SimSettings
from supervisor.agents.sim.workspace import Workspace


def settings(root: Path, *faults: ScheduledFault, **overrides: Any) -> SimSettings:
    values: dict[str, Any] = {"agent_id": "coder-1", "role": "Coder", "phase": "development",
                              "project_dir": str(root), "seed": 3, "scheduled_faults": faults}
    values.update(overrides)
    return SimSettings(**values)


def agent_with(root: Path, failure: str, at_minutes: float = 10, **overrides: Any) -> SimAgent:
    s = settings(root, ScheduledFault(failure, "development", at_minutes, "coder-1"), **overrides)
    return SimAgent(s, Workspace(s.project_dir), hog=MemoryHog(chunk_bytes=1 << 20))


@pytest.mark.parametrize("failure", sorted(ERROR_FAULTS))
def test_error_faults_fire_at_their_time(tmp_path: Path, failure: str) -> None:
    """An error fault is one error event at its scheduled minute, with a stderr note."""
    agent = agent_with(tmp_path, failure, at_minutes=10)
    before = agent.advance(599)
    assert not any(e["type"] == "error" for e in before)
    errors = [e for e in agent.advance(601) if e["type"] == "error"]
    message, fatal = ERROR_FAULTS[failure]
    expected: dict[str, Any] = {"type": "error", "kind": failure, "message": message}
    if fatal:
        expected["fatal"] = True
    assert errors == [expected]
    assert f"sim: injecting {failure}" in agent.take_stderr()
    assert agent.exit_code is None


def test_targeting_by_id_role_and_index(tmp_path: Path) -> None:
    """A scheduled fault names an agent id or role; empty means agent index 0; phase must match."""
    s = settings(tmp_path, agent_index=2)
    assert targets_me(ScheduledFault("llm_error", "development", 1, "Coder"), s)
    assert targets_me(ScheduledFault("llm_error", "development", 1, "CODER-1"), s)
    assert not targets_me(ScheduledFault("llm_error", "development", 1, ""), s)
    assert targets_me(ScheduledFault("llm_error", "*", 1, ""), settings(tmp_path, agent_index=0))
    assert not targets_me(ScheduledFault("llm_error", "refinement", 1, "coder"), s)
    assert not targets_me(ScheduledFault("llm_error", "development", 1, "tester"), s)


def test_rate_faults_follow_their_rate(tmp_path: Path) -> None:
    """Rates are faults per agent-hour: 2/h over 100 h gives about 200, deterministically."""
    s = settings(tmp_path, fault_rates=(("network_timeout", 2.0),))
    times = [at for at, _ in FaultPlan(s).pop_due(100 * 3600)]
    assert len(times) == pytest.approx(200, rel=0.2)
    assert times == sorted(times)
    assert times == [at for at, _ in FaultPlan(s).pop_due(100 * 3600)]


def test_resumed_plans_skip_past_and_done_faults(tmp_path: Path) -> None:
    """Faults before the resume point, or already injected, are not injected again."""
    s = settings(tmp_path, ScheduledFault("agent_crash", "development", 5),
                 ScheduledFault("llm_error", "development", 20),
                 ScheduledFault("rate_limit", "development", 30), agent_index=0)
    plan = FaultPlan(s, start=600, done=[("llm_error", 1200.0)])
    assert plan.pop_due(10_000) == [(1800.0, "rate_limit")]


def test_crash_exits_1_with_a_traceback_and_no_state(tmp_path: Path) -> None:
    """agent_crash: a RuntimeError traceback on stderr, exit code 1, no final state."""
    agent = agent_with(tmp_path, "agent_crash", at_minutes=1)
    agent.advance(61)
    assert agent.exit_code == 1
    stderr = "\n".join(agent.take_stderr())
    assert "Traceback" in stderr and "RuntimeError: simulated crash" in stderr
    assert agent.final_events() == []


def test_hang_goes_silent_until_stopped(tmp_path: Path) -> None:
    """agent_hang: no events at all (no heartbeats), no answers; stop ends it quietly."""
    agent = agent_with(tmp_path, "agent_hang", at_minutes=1)
    agent.advance(61)
    assert agent.advance(10 * 3600) == [] and agent.next_wakeup() is None
    assert agent.command({"cmd": "quiesce"}, 36_001) == []
    assert agent.command({"cmd": "stop"}, 36_002) == [] and agent.exit_code == 0


def test_memory_pressure_grows_context_and_memory_until_compressed(tmp_path: Path) -> None:
    """memory_pressure: context passes max_context_size and memory is held; compress ends it."""
    agent = agent_with(tmp_path, "memory_pressure", at_minutes=1, max_context=20_000)
    agent.advance(60 * 30)
    contexts = [e["context"] for e in agent.advance(60 * 40) if e["type"] == "tokens"]
    assert max(contexts) > 20_000 and agent.hog.held >= 20 << 20
    agent.command({"cmd": "compress_context"}, 60 * 40)
    assert agent.hog.held == 0
    later = [e["context"] for e in agent.advance(60 * 50) if e["type"] == "tokens"]
    assert later and max(later) < 20_000


def test_test_failure_reports_failed_tests_without_breaking_files(tmp_path: Path) -> None:
    """test_failure: a failing run_tests and a test_result with failed > 0; no file changed."""
    agent = agent_with(tmp_path, "test_failure", at_minutes=30)
    agent.advance(60 * 30 - 1)
    snapshot = {p: Workspace(str(tmp_path)).read(p) for p in Workspace(str(tmp_path)).files()}
    events = agent.advance(60 * 30)
    result = next(e for e in events if e["type"] == "test_result")
    assert result["failed"] > 0 and result["passed"] >= 0
    assert {"type": "tool_call", "name": "run_tests", "ok": False} in [
        {k: e[k] for k in ("type", "name", "ok")} for e in events if e["type"] == "tool_call"]
    assert {p: Workspace(str(tmp_path)).read(p) for p in snapshot} == snapshot


def test_consensus_deadlock_alternates_then_errors(tmp_path: Path) -> None:
    """consensus_deadlock: votes on one topic alternate; unanswered, an error follows."""
    agent = agent_with(tmp_path, "consensus_deadlock", at_minutes=1)
    agent.advance(60)
    assert agent.deadlock is not None
    events = agent.advance(60 + 30 * DEADLOCK_ERROR_AFTER)
    votes = [e for e in events if e["type"] == "vote"]
    assert len({v["topic"] for v in votes}) == 1
    choices = [v["choice"] for v in votes]
    assert len(choices) >= 4 and len(set(choices)) == 2
    assert all(a != b for a, b in zip(choices, choices[1:], strict=False))
    assert [e["kind"] for e in events if e["type"] == "error"] == ["consensus_deadlock"]


def test_consensus_deadlock_ends_when_the_supervisor_acts(tmp_path: Path) -> None:
    """Any command during a deadlock ends it: no deadlock error follows."""
    agent = agent_with(tmp_path, "consensus_deadlock", at_minutes=1)
    agent.advance(100)
    agent.command({"cmd": "throttle", "seconds": 1}, 100)
    later = agent.advance(3600)
    assert not any(e["type"] == "error" for e in later)


def test_memory_hog_holds_real_chunks() -> None:
    """The hog grows by whole chunks up to its limit and lets go on release."""
    hog = MemoryHog(chunk_bytes=1 << 20)
    for _ in range(10):
        hog.grow(3 << 20)
    assert hog.held == 3 << 20
    hog.release()
    assert hog.held == 0
