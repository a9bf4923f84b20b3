"""Budgets and rate limits: pure verdicts from observations and session time."""

from __future__ import annotations

import pytest

from supervisor.config.schema import LimitsSpec
from supervisor.errors import CheckpointCorrupt, CheckpointVersionError
from supervisor.limits import GIB, MIB, MIN_FREE_BYTES, OK, Limits, LimitVerdict

SPEC = LimitsSpec(
    total_token_budget=1000,
    budget_alert_fraction=0.8,
    tokens_per_agent_per_hour=400,
    tool_calls_per_agent_per_hour=10,
    max_context_size=500,
    disk_space_limit_gb=2.0,
    max_test_runtime_min=30.0,
    idle_timeout_minutes=10.0,
    max_parallel_agents=8,
    agent_memory_limit_mb=100.0,
)


def kinds(verdicts: list[LimitVerdict]) -> list[tuple[str, str]]:
    return [(v.kind, v.reason) for v in verdicts]


def test_budget_alert_once_at_the_fraction_then_stop_at_full() -> None:
    """The alert fires once on reaching 80%; reaching 100% says budget_exhausted."""
    limits = Limits(SPEC)
    agents = ["a", "b", "c", "d", "e"]
    seen = [kinds(limits.observe_tokens(a, 150, float(i))) for i, a in enumerate(agents)]
    assert seen == [[], [], [], [], []]  # 750 tokens: under 80%
    assert kinds(limits.observe_tokens("f", 50, 10.0)) == [("alert", "budget_alert")]
    assert kinds(limits.observe_tokens("g", 100, 11.0)) == []  # 900: alerted already
    assert kinds(limits.observe_tokens("h", 100, 12.0)) == [("stop", "budget_exhausted")]
    assert limits.budget.exhausted and limits.budget.remaining == 0
    assert kinds(limits.observe_tokens("h", 1, 13.0)) == [("stop", "budget_exhausted")]


def test_jump_straight_past_the_budget_stops() -> None:
    """One observation that crosses both thresholds stops (no separate alert needed)."""
    limits = Limits(SPEC)
    assert kinds(limits.observe_tokens("a", 1200, 0.0))[0] == ("stop", "budget_exhausted")


def test_hourly_token_limit_throttles_with_seconds_until_it_frees() -> None:
    """Reaching 400 tokens in an hour throttles until the oldest tokens leave the window."""
    limits = Limits(LimitsSpec(total_token_budget=10**9, tokens_per_agent_per_hour=400))
    assert limits.observe_tokens("a", 200, 0.0) == []
    assert limits.observe_tokens("a", 100, 1000.0) == []
    [v] = limits.observe_tokens("a", 100, 2000.0)
    assert (v.kind, v.reason, v.agent_id) == ("throttle", "tokens_per_hour", "a")
    assert v.amount == 1600.0  # the 200 tokens of t=0 expire at t=3600
    assert limits.observe_tokens("b", 100, 2000.0) == []  # per agent


def test_hourly_token_window_slides() -> None:
    """Tokens older than an hour stop counting."""
    limits = Limits(LimitsSpec(total_token_budget=10**9, tokens_per_agent_per_hour=400))
    limits.observe_tokens("a", 300, 0.0)
    assert limits.agent_tokens_last_hour("a", 3599.0) == 300
    assert limits.agent_tokens_last_hour("a", 3600.0) == 0
    assert limits.observe_tokens("a", 300, 3600.0) == []
    assert limits.agent_tokens_last_hour("a", 3600.0) == 300


def test_tool_calls_batch_hint_then_throttle() -> None:
    """8 of 10 calls gives one batching hint; the 10th throttles until the 1st call expires."""
    limits = Limits(SPEC)
    seen = [kinds(limits.observe_tool_call("a", 100.0 * i)) for i in range(10)]
    assert seen[:7] == [[]] * 7
    assert seen[7] == [("batch_hint", "tool_calls_per_hour")]
    assert seen[8] == []  # hinted once per hour
    assert seen[9] == [("throttle", "tool_calls_per_hour")]
    [v] = limits.observe_tool_call("a", 950.0)
    assert v.kind == "throttle"
    assert v.amount == 100.0 + 3600.0 - 950.0  # 11 calls: two must expire, the second at 100


def test_tool_call_window_frees_after_an_hour() -> None:
    """Calls an hour old stop counting, so the throttle lifts."""
    limits = Limits(SPEC)
    for i in range(10):
        limits.observe_tool_call("a", float(i))
    [v] = limits.observe_tool_call("a", 3600.0)  # the call of t=0 is out; 10 in the window
    assert (v.kind, v.amount) == ("throttle", 1.0)
    assert limits.observe_tool_call("a", 3605.0) == []  # 6..9, 3600 and this one: 6


@pytest.mark.parametrize(("context", "compress"), [(499, False), (500, False), (501, True)])
def test_context_over_the_limit_compresses(context: int, compress: bool) -> None:
    """A context over max_context_size asks for compression."""
    limits = Limits(SPEC)
    verdicts = limits.observe_tokens("a", 0, 0.0, context=context)
    assert (("compress", "context_size") in kinds(verdicts)) == compress


def test_compress_is_asked_once_until_the_context_shrinks() -> None:
    """After a compress verdict, another comes only once the context went back under."""
    limits = Limits(SPEC)
    assert kinds(limits.observe_tokens("a", 1, 0.0, context=600)) == [("compress", "context_size")]
    assert limits.observe_tokens("a", 1, 1.0, context=650) == []
    assert limits.observe_tokens("a", 1, 2.0, context=100) == []
    assert kinds(limits.observe_tokens("a", 1, 3.0, context=700)) == [("compress", "context_size")]


def test_idle_agents_are_restarted() -> None:
    """Agents idle past idle_timeout_minutes get a restart verdict; others none."""
    limits = Limits(SPEC)
    verdicts = limits.check_idle({"a": 0.0, "b": 400.0, "c": 1.0}, 601.0)
    assert [(v.kind, v.agent_id, v.amount) for v in verdicts] == [
        ("restart", "a", 601.0)]
    assert limits.check_idle({"a": 0.0}, 600.0) == []


@pytest.mark.parametrize(
    ("session_bytes", "free", "kind"),
    [
        (2 * GIB, None, "ok"),
        (2 * GIB + 1, None, "pause"),
        (10, MIN_FREE_BYTES, "ok"),
        (10, MIN_FREE_BYTES - 1, "pause"),
    ],
)
def test_disk_over_the_limit_pauses(session_bytes: int, free: int | None, kind: str) -> None:
    """The session directory over 2 GiB, or the device nearly full, pauses the session."""
    assert Limits(SPEC).check_disk(session_bytes, free).kind == kind


@pytest.mark.parametrize(("n", "kind"), [(1, "ok"), (8, "ok"), (9, "refuse")])
def test_parallel_agents_above_eight_are_refused(n: int, kind: str) -> None:
    """More than max_parallel_agents (8) at once is refused."""
    assert Limits(SPEC).check_parallel(n).kind == kind


def test_memory_over_the_limit_compresses() -> None:
    """RSS over agent_memory_limit_mb asks the agent to compress."""
    limits = Limits(SPEC)
    assert limits.check_memory("a", 100 * MIB) == OK
    assert limits.check_memory("a", 100 * MIB + 1).kind == "compress"


def test_derived_limits_in_seconds_and_bytes() -> None:
    """Test runtime, idle and sizes come out in seconds and bytes."""
    limits = Limits(SPEC)
    assert limits.test_timeout_seconds() == 1800.0
    assert limits.idle_limit_seconds() == 600.0
    assert limits.disk_limit_bytes() == 2 * GIB
    assert limits.memory_limit_bytes() == 100 * MIB


def test_state_round_trips_through_dict() -> None:
    """A restored Limits gives the same verdicts as the original from then on."""
    limits = Limits(SPEC)
    for i in range(8):
        limits.observe_tool_call("a", float(i))
    limits.observe_tokens("a", 850, 5.0, context=900)
    restored = Limits.from_dict(SPEC, limits.to_dict())
    assert restored.to_dict() == limits.to_dict()
    assert restored.budget == limits.budget
    for lim in (limits, restored):
        assert kinds(lim.observe_tool_call("a", 9.0)) == []
        assert kinds(lim.observe_tool_call("a", 10.0)) == [("throttle", "tool_calls_per_hour")]
        assert lim.observe_tokens("a", 0, 11.0, context=950)[-1].kind == "throttle"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"schema": 2}, CheckpointVersionError),
        ({"schema": 1, "tokens": {"a": [[1.0]]}}, CheckpointCorrupt),
        ([], CheckpointCorrupt),
    ],
)
def test_bad_state_is_refused(data: object, error: type[Exception]) -> None:
    """A state of another schema or malformed is refused with a checkpoint error."""
    with pytest.raises(error):
        Limits.from_dict(SPEC, data)  # type: ignore[arg-type]
