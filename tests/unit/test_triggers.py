"""Checkpoint triggers, table-tested with explicit times (no clock, no sleeping)."""

from __future__ import annotations

import pytest

from supervisor.checkpoint.triggers import TriggerSpec, TriggerState, due

SPEC = TriggerSpec(enabled=True, interval_s=900, tool_call_threshold=100, token_threshold=500_000)


@pytest.mark.parametrize(
    "now,tools,tokens,expected",
    [
        (0, 0, 0, None),
        (899.9, 99, 499_999, None),
        (900, 0, 0, "time"),
        (10, 100, 0, "tool_calls"),
        (10, 0, 500_000, "tokens"),
        (900, 100, 500_000, "time"),  # time is reported first when several are due
        (10, 150, 600_000, "tool_calls"),
    ],
)
def test_due_from_a_fresh_state(now: float, tools: int, tokens: int, expected: str | None) -> None:
    """Each trigger fires at its threshold, counted from the last checkpoint."""
    assert due(SPEC, TriggerState(), now, tools, tokens) == expected


def test_counts_restart_after_any_checkpoint() -> None:
    """After a checkpoint (of any trigger) every count starts again from there."""
    st = TriggerState()
    assert due(SPEC, st, 100, 100, 0) == "tool_calls"
    st.reset(100, 100, 0)
    assert due(SPEC, st, 999, 199, 499_999) is None
    assert due(SPEC, st, 1000, 199, 0) == "time"
    assert due(SPEC, st, 999, 200, 0) == "tool_calls"


@pytest.mark.parametrize(
    "spec",
    [
        TriggerSpec(False, 1, 1, 1),
        TriggerSpec(True, 0, 0, 0),
    ],
)
def test_disabled_or_zero_thresholds_never_fire(spec: TriggerSpec) -> None:
    """A disabled spec, or thresholds of zero, never fire."""
    assert due(spec, TriggerState(), 1e9, 10**9, 10**12) is None


def test_state_round_trip() -> None:
    """The trigger state survives a checkpoint round trip."""
    st = TriggerState(12.5, 7, 9)
    assert TriggerState.from_dict(st.to_dict()) == st
