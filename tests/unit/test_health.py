"""The 0-100 health score, progress by session time, per-phase progress and the ETA."""

from __future__ import annotations

import pytest

from supervisor.counters import AgentCounters, Counters
from supervisor.metrics import health_score
from supervisor.plan import PlannedPhase
from supervisor.session.live import eta, phase_rows, progress_of


def counters(errors: int = 0, failures: int = 0, recoveries: int = 0, tokens: int = 0,
             agents: int = 2, active_hours: float = 1.0) -> Counters:
    c = Counters(errors=errors, failures=failures, recoveries=recoveries, prompt_tokens=tokens)
    for i in range(agents):
        c.agents[f"a{i}"] = AgentCounters(active_seconds=active_hours * 3600)
    return c


# budget 1,000,000 tokens; 2 agents active 1 hour each = 2 agent-hours; 1 hour elapsed
@pytest.mark.parametrize(
    ("kw", "progress", "running", "idle", "score", "parts"),
    [
        ({}, 0.5, 2, 0, 100.0, {"errors": 0, "recovery": 0, "budget": 0, "idle": 0}),
        # 4 errors in 2 agent-hours: 3 x 2 per agent-hour = 6
        ({"errors": 4}, 0.5, 2, 0, 94.0, {"errors": 6.0}),
        # the error part stops at 30
        ({"errors": 400}, 0.5, 2, 0, 70.0, {"errors": 30.0}),
        # 4 failures, 1 recovered: 25 x 3/4 (the score is rounded to 0.1)
        ({"failures": 4, "recoveries": 1}, 0.5, 2, 0, 81.2, {"recovery": 18.75}),
        ({"failures": 4, "recoveries": 4}, 0.5, 2, 0, 100.0, {"recovery": 0.0}),
        # 60% of the budget at 40% progress: burn 1.5 -> 25 x 0.5
        ({"tokens": 600_000}, 0.4, 2, 0, 87.5, {"budget": 12.5}),
        # spending at the plan's pace costs nothing
        ({"tokens": 400_000}, 0.4, 2, 0, 100.0, {"budget": 0.0}),
        # the budget part stops at 25
        ({"tokens": 5_000_000}, 0.4, 2, 0, 75.0, {"budget": 25.0}),
        # 1 of 2 running agents idle: 20 x 1/2
        ({}, 0.5, 2, 1, 90.0, {"idle": 10.0}),
        # everything wrong at once: 100 - 30 - 25 - 25 - 20 = 0
        ({"errors": 400, "failures": 3, "tokens": 5_000_000}, 0.4, 2, 2, 0.0,
         {"errors": 30.0, "recovery": 25.0, "budget": 25.0, "idle": 20.0}),
    ],
)
def test_health_score_formula(kw: dict[str, int], progress: float, running: int, idle: int,
                              score: float, parts: dict[str, float]) -> None:
    """Score = 100 - errors - recovery - budget - idle, each part as the docstring says."""
    got, got_parts = health_score(counters(**kw), 3600.0, progress, 1_000_000, running, idle)
    assert got == score
    for k, v in parts.items():
        assert got_parts[k] == pytest.approx(v)
    assert set(got_parts) == {"errors", "recovery", "budget", "idle"}


def test_budget_burn_is_not_judged_in_the_first_two_percent() -> None:
    """Early in a session the burn rate means little: no budget penalty before 2%."""
    _, parts = health_score(counters(tokens=900_000), 60.0, 0.01, 1_000_000, 2, 0)
    assert parts["budget"] == 0.0


def test_no_budget_means_no_budget_penalty() -> None:
    """A token budget of 0 (unlimited) never lowers the score."""
    score, _ = health_score(counters(tokens=10**9), 3600.0, 0.5, 0, 2, 0)
    assert score == 100.0


def plan() -> list[PlannedPhase]:
    spans = [("bootstrap", 0, 600), ("development", 600, 1800), ("finalization", 1800, 2400)]
    return [PlannedPhase(i, n, a, b, (), 600.0) for i, (n, a, b) in enumerate(spans)]


def test_progress_is_session_time_over_the_plan() -> None:
    """Progress is elapsed session time over the plan's total, clamped to 0..1."""
    assert progress_of(600, 2400) == 0.25
    assert progress_of(3000, 2400) == 1.0
    assert progress_of(-1, 2400) == 0.0
    assert progress_of(5, 0) == 1.0


def test_phase_rows_show_done_running_pending() -> None:
    """Phases before the current one are done, the current one has its own progress."""
    rows = phase_rows(plan(), 1, 1200.0)
    assert [(r["name"], r["state"], r["progress"]) for r in rows] == [
        ("bootstrap", "done", 1.0), ("development", "running", 0.5),
        ("finalization", "pending", 0.0)]


def test_current_phase_past_its_end_is_done() -> None:
    """The last phase, its time used up (winding down, or finished), reads as done."""
    rows = phase_rows(plan(), 2, 2400.0)
    assert [r["state"] for r in rows] == ["done", "done", "done"]


def test_phase_rows_before_and_after_the_run() -> None:
    """Before any phase all are pending; after the plan (no current phase) all are done."""
    assert {r["state"] for r in phase_rows(plan(), None, 0.0)} == {"pending"}
    assert {r["state"] for r in phase_rows(plan(), None, 2400.0)} == {"done"}


def test_eta_early_uses_the_time_scale() -> None:
    """Before enough session time has passed, the wall ETA is what is left / time scale."""
    e = eta(7200, 30, 360, 5.0, False, 1000.0)
    assert e["session_seconds_left"] == 7170
    assert e["wall_seconds_left"] == pytest.approx(7170 / 360, abs=0.1)
    assert e["pace_observed"] is False and e["finish_wall"] == pytest.approx(1000 + 7170 / 360,
                                                                             abs=0.1)


def test_eta_later_uses_the_observed_pace() -> None:
    """Phase changes and checkpoints take real time: the pace kept so far is used."""
    # 3600 session seconds took 20 wall seconds (nominal 10 at scale 360): pace 1/180
    e = eta(7200, 3600, 360, 20.0, False, 0.0)
    assert e["pace_observed"] is True
    assert e["wall_seconds_left"] == pytest.approx(20.0)


def test_eta_never_faster_than_the_time_scale() -> None:
    """A pace measured faster than the clock allows is capped at 1 / time scale."""
    e = eta(7200, 3600, 360, 1.0, False, 0.0)
    assert e["wall_seconds_left"] == pytest.approx(10.0)


def test_eta_while_paused_has_no_finish_time() -> None:
    """Paused: the time left is known, the moment it ends is not."""
    e = eta(7200, 3600, 360, 20.0, True, 50.0)
    assert e["on_hold"] is True and e["finish_wall"] is None
    assert e["session_seconds_left"] == 3600
