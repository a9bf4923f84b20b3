"""Phase plan, session layout and state transitions."""

from __future__ import annotations

import dataclasses

import pytest

from supervisor.config.schema import Config, PhaseSpec, SessionSpec
from supervisor.errors import SessionError
from supervisor.plan import assign_agents, fmt_duration, locate, plan_phases, render_plan
from supervisor.session.layout import SessionLayout, new_session_id, valid_session_id
from supervisor.session.state import SessionStatus, check_transition

PHASES = (
    PhaseSpec("bootstrap", 60, roles=("Architect", "DevOps", "Coder"), checkpoint_interval_minutes=15),
    PhaseSpec("development", 120, checkpoint_interval_minutes=20),
    PhaseSpec("refinement", 120),
    PhaseSpec("finalization", 60, roles=("Nobody",)),
)


def cfg(agents: int = 6, phases: tuple[PhaseSpec, ...] = PHASES) -> Config:
    return Config(session=SessionSpec(agent_count=agents), phases=phases)


def test_agents_take_roles_round_robin_with_stable_ids() -> None:
    """Agent i gets role i mod roles and an id like coder-2."""
    slots = assign_agents(cfg(8))
    assert [s.agent_id for s in slots][:3] == ["architect-1", "coder-2", "tester-3"]
    assert slots[6].role == "Architect" and slots[6].agent_id == "architect-7"


@pytest.mark.parametrize("elapsed,index", [(0, 0), (3599, 0), (3600, 1), (10799, 1),
                                           (18000, 3), (21600, 4)])
def test_plan_times_and_locate(elapsed: float, index: int) -> None:
    """Phases follow each other in config order; locate maps time to a phase."""
    plan = plan_phases(cfg())
    assert [(p.start_s, p.end_s) for p in plan] == [(0, 3600), (3600, 10800), (10800, 18000),
                                                    (18000, 21600)]
    assert locate(plan, elapsed) == index


def test_phase_roles_select_agents_and_fallback_to_all() -> None:
    """A phase runs the agents of its roles; with none matching, every agent runs."""
    plan = plan_phases(cfg())
    assert [s.role for s in plan[0].agents] == ["Architect", "Coder", "DevOps"]
    assert len(plan[1].agents) == 6
    assert plan[3].all_roles_fallback and len(plan[3].agents) == 6


def test_checkpoint_interval_override_per_phase() -> None:
    """A phase's own checkpoint interval wins over the session default."""
    plan = plan_phases(cfg())
    assert plan[0].checkpoint_interval_s == 900
    assert plan[2].checkpoint_interval_s == 600  # default 10 minutes


def test_render_plan_mentions_every_phase_and_budget() -> None:
    """The dry-run text names each phase with its agents and the token budget."""
    text = render_plan(cfg(), "mega-x")
    for name in ("bootstrap", "development", "refinement", "finalization", "5,000,000"):
        assert name in text


@pytest.mark.parametrize("secs,text", [(0, "0s"), (59, "59s"), (60, "1m"), (3600, "1h00m"),
                                       (5400, "1h30m"), (3661, "1h01m01s")])
def test_fmt_duration(secs: float, text: str) -> None:
    """Durations print compactly."""
    assert fmt_duration(secs) == text


def test_session_ids() -> None:
    """Generated ids look like mega-YYYYMMDD-HHMMSS-xxxxxxxx; bad ids are refused."""
    sid = new_session_id(wall=1_795_000_000, token="1a2b3c4d")
    assert sid.startswith("mega-2026") and sid.endswith("-1a2b3c4d") and len(sid) == 29
    assert valid_session_id(sid)
    for bad in ("", "..", "../x", "a/b", "-x", "x" * 101):
        assert not valid_session_id(bad)


def test_layout_paths() -> None:
    """The layout puts every file where DESIGN.md section 5 says."""
    lay = SessionLayout.of("/tmp/runs", "s1")
    assert str(lay.journal) == "/tmp/runs/s1/events.wal"
    assert str(lay.agent_state("coder-2")) == "/tmp/runs/s1/agents/coder-2/state.json"
    assert str(lay.metrics_history) == "/tmp/runs/s1/metrics/history.jsonl"


def test_state_transitions() -> None:
    """A finished session can only restart; a running one can end any way."""
    check_transition(SessionStatus.RUNNING, SessionStatus.PAUSED)
    check_transition(SessionStatus.COMPLETED, SessionStatus.STARTING)
    with pytest.raises(SessionError):
        check_transition(SessionStatus.COMPLETED, SessionStatus.RUNNING)
    assert dataclasses.is_dataclass(cfg())
