"""Counters are a fold over journal records: totals, per agent, per phase, persistence."""

from __future__ import annotations

from supervisor.counters import Counters


def fold() -> Counters:
    c = Counters()
    c.apply_record("session_plan", {"phases": [{"name": "a", "seconds": 10},
                                               {"name": "b", "seconds": 20}],
                                    "agents": {"coder-1": "Coder"}}, 0)
    c.apply_record("phase_start", {"index": 0, "agents": ["coder-1"]}, 0)
    c.apply_record("agent_start", {"agent": "coder-1", "model": "m1"}, 0)
    c.apply_event("coder-1", "tokens", {"prompt": 30, "completion": 10, "model": "m1"}, 1)
    c.apply_event("coder-1", "tool_call", {"name": "x", "ok": False}, 2)
    c.apply_event("coder-1", "task", {"id": "t1", "status": "started"}, 2)
    c.apply_event("coder-1", "task", {"id": "t1", "status": "completed"}, 3)
    c.apply_record("phase_end", {"index": 0, "status": "completed"}, 10)
    c.apply_record("phase_start", {"index": 1, "agents": ["coder-1"]}, 10)
    c.apply_event("coder-1", "tokens", {"prompt": 5, "completion": 5, "model": "m2"}, 11)
    c.apply_event("coder-1", "error", {"kind": "rate_limit", "message": "x"}, 12)
    c.apply_event("coder-1", "test_result", {"passed": 9, "failed": 1, "coverage": 0.5}, 12)
    c.apply_record("agent_exit", {"agent": "coder-1", "how": "exit 0"}, 20)
    return c


def test_totals_per_agent_and_per_phase() -> None:
    """Tokens, tool calls, tasks and errors add up per session, agent and phase."""
    c = fold()
    assert c.tokens == 50 and c.prompt_tokens == 35
    assert c.tool_calls == 1 and c.tool_calls_failed == 1
    assert c.tasks_completed == 1 and c.errors == 1
    a = c.agents["coder-1"]
    assert a.role == "Coder" and a.models == ["m1", "m2"] and a.active_seconds == 20
    assert [p.tokens for p in c.phases] == [40, 10]
    assert c.phases[0].status == "completed" and c.phases[1].errors == 1
    assert c.test_pass_rate == 0.9


def test_round_trip_through_dict() -> None:
    """to_dict/from_dict keeps every counter (checkpoints store them)."""
    c = fold()
    d = Counters.from_dict(c.to_dict())
    assert d.to_dict() == c.to_dict()
