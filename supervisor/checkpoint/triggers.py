"""Checkpoint triggers as pure state: counters and ``now`` in, "fire?" out.

Any one trigger fires; each counts from the previous checkpoint (whatever fired it):
time (the phase's interval, in session time, so pauses do not count), tool calls,
tokens. Phase completion and forced checkpoints are taken directly by the session.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TriggerSpec:
    enabled: bool
    interval_s: float  # 0 or less: no time trigger
    tool_call_threshold: int  # 0: off
    token_threshold: int  # 0: off


@dataclass
class TriggerState:
    last_t: float = 0.0
    last_tool_calls: int = 0
    last_tokens: int = 0

    def reset(self, now: float, tool_calls: int, tokens: int) -> None:
        """A checkpoint was taken (by any trigger): count again from here."""
        self.last_t = now
        self.last_tool_calls = tool_calls
        self.last_tokens = tokens

    def to_dict(self) -> dict[str, float | int]:
        return {"last_t": self.last_t, "last_tool_calls": self.last_tool_calls,
                "last_tokens": self.last_tokens}

    @classmethod
    def from_dict(cls, d: dict[str, float | int]) -> TriggerState:
        return cls(float(d.get("last_t", 0.0)), int(d.get("last_tool_calls", 0)),
                   int(d.get("last_tokens", 0)))


def due(spec: TriggerSpec, state: TriggerState, now: float, tool_calls: int,
        tokens: int) -> str | None:
    """The trigger that fires now (``time``, ``tool_calls`` or ``tokens``), or None."""
    if not spec.enabled:
        return None
    if spec.interval_s > 0 and now - state.last_t >= spec.interval_s:
        return "time"
    if spec.tool_call_threshold > 0 and tool_calls - state.last_tool_calls >= spec.tool_call_threshold:
        return "tool_calls"
    if spec.token_threshold > 0 and tokens - state.last_tokens >= spec.token_threshold:
        return "tokens"
    return None
