"""The recovery policy, pure: a failure and the history before it in, a ``Decision`` out.

The table (``[recovery]``, one rule per failure type) gives severity, action, attempts and
backoff; an ``[[error_handling.rules]]`` match may dictate the action instead. Loops are
bounded twice (DESIGN.md section 7): past ``max_attempts`` for one failure type of one
agent, or past ``max_consecutive_errors`` failures with no success between them, the
decision is ``escalate``: the runner pauses the session for a human.

Use: ``d = decide(failure, history, ...)`` with the history *before* this failure, then
``history.record_failure(failure, now)``; on a step that succeeds again,
``history.record_success(agent_id, failure_type, now)`` ends the episode; after a human
resumes an escalated session, ``history.record_human_resume(now)``.
Degraded failures (``test_failure``: log and continue) never escalate and do not count as
consecutive errors.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supervisor.config.schema import (
    FAILURE_TYPES,
    BackoffSpec,
    CheckpointSpec,
    ErrorHandlingSpec,
    RecoveryRuleSpec,
    RecoverySpec,
)
from supervisor.errors import CheckpointCorrupt, CheckpointVersionError
from supervisor.recovery.backoff import wait_for_attempt
from supervisor.recovery.classify import DEFAULT_TABLE, Failure

HISTORY_SCHEMA = 1
NETWORK_TIMEOUT_ATTEMPTS = 3
DEFAULT_JITTER = 0.1

# Actions that are a step of a loop: bounded by max_attempts.
BOUNDED_ACTIONS = frozenset({
    "retry", "throttle_retry", "switch_model", "modify_prompt", "compress_context",
    "restart_agent", "restore_checkpoint",
})
# Actions the runner waits the backoff before carrying out (retries and relaunches).
WAITING_ACTIONS = frozenset({
    "retry", "throttle_retry", "switch_model", "modify_prompt", "restart_agent",
    "restore_checkpoint",
})


def default_recovery_rules(checkpoint: CheckpointSpec) -> tuple[RecoveryRuleSpec, ...]:
    """The DESIGN.md table, one rule per failure type, backoff and attempts from [checkpoint]."""
    backoff = BackoffSpec(
        strategy=checkpoint.backoff_strategy,
        initial_seconds=checkpoint.backoff_initial_seconds,
        max_seconds=checkpoint.backoff_max_seconds,
        jitter=DEFAULT_JITTER,
    )
    rules = []
    for failure_type in FAILURE_TYPES:
        severity, action = DEFAULT_TABLE[failure_type]
        attempts = (NETWORK_TIMEOUT_ATTEMPTS if failure_type == "network_timeout"
                    else checkpoint.max_recovery_attempts)
        rules.append(RecoveryRuleSpec(failure_type, severity, action, attempts, backoff))
    return tuple(rules)


_BUILTIN = {r.failure: r for r in default_recovery_rules(CheckpointSpec())}


def rule_for(failure_type: str, recovery: RecoverySpec) -> RecoveryRuleSpec:
    """The configured rule for a failure type, else the built-in default row."""
    rule = recovery.rule(failure_type)
    if rule is not None:
        return rule
    return _BUILTIN.get(failure_type) or recovery.rule("unknown") or _BUILTIN["unknown"]


def episode_key(agent_id: str | None, failure_type: str) -> str:
    return f"{agent_id or '*'}:{failure_type}"


def counts_as_error(failure: Failure) -> bool:
    """Whether a failure is part of a loop (degraded ones are logged and flagged only)."""
    return failure.severity != "degraded" and failure.action != "log_continue"


@dataclass
class RecoveryHistory:
    """What has failed so far; goes into checkpoints (``to_dict``/``from_dict``)."""

    attempts: dict[str, int] = field(default_factory=dict)  # episode key -> attempts
    consecutive_errors: int = 0
    total_failures: int = 0
    total_recovered: int = 0
    escalations: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    last_failure_at: float | None = None
    last_success_at: float | None = None

    def attempts_for(self, agent_id: str | None, failure_type: str) -> int:
        return self.attempts.get(episode_key(agent_id, failure_type), 0)

    def record_failure(self, failure: Failure, now: float, escalated: bool = False) -> int:
        """Count a failure (after ``decide``); returns its attempt number in the episode."""
        self.total_failures += 1
        self.by_type[failure.type] = self.by_type.get(failure.type, 0) + 1
        self.last_failure_at = now
        if escalated:
            self.escalations += 1
        if not counts_as_error(failure):
            return 0
        self.consecutive_errors += 1
        key = episode_key(failure.agent_id, failure.type)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.attempts[key]

    def record_success(self, agent_id: str | None, failure_type: str | None = None,
                       now: float | None = None) -> int:
        """A step succeeded: end the episode (all of the agent's when no type is given)."""
        prefix = f"{agent_id or '*'}:"
        if failure_type is not None:
            keys = [episode_key(agent_id, failure_type)]
        else:
            keys = [k for k in self.attempts if k.startswith(prefix)]
        closed = sum(1 for k in keys if self.attempts.pop(k, 0) > 0)
        self.total_recovered += closed
        self.consecutive_errors = 0
        if now is not None:
            self.last_success_at = now
        return closed

    def record_human_resume(self, now: float) -> None:
        """A human resumed after an escalation: every loop starts afresh."""
        self.attempts.clear()
        self.consecutive_errors = 0
        self.last_success_at = now

    def copy(self) -> RecoveryHistory:
        return RecoveryHistory.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": HISTORY_SCHEMA,
            "attempts": dict(self.attempts),
            "consecutive_errors": self.consecutive_errors,
            "total_failures": self.total_failures,
            "total_recovered": self.total_recovered,
            "escalations": self.escalations,
            "by_type": dict(self.by_type),
            "last_failure_at": self.last_failure_at,
            "last_success_at": self.last_success_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<recovery history>",
                  ) -> RecoveryHistory:
        if not isinstance(data, Mapping):
            raise CheckpointCorrupt(source, "recovery history is not a mapping")
        if data.get("schema") != HISTORY_SCHEMA:
            raise CheckpointVersionError(
                source, f"recovery history schema {data.get('schema')!r}, "
                        f"this supervisor reads {HISTORY_SCHEMA}")
        try:
            return cls(
                attempts=_int_map(data.get("attempts", {})),
                consecutive_errors=int(data.get("consecutive_errors", 0)),
                total_failures=int(data.get("total_failures", 0)),
                total_recovered=int(data.get("total_recovered", 0)),
                escalations=int(data.get("escalations", 0)),
                by_type=_int_map(data.get("by_type", {})),
                last_failure_at=_opt_float(data.get("last_failure_at")),
                last_success_at=_opt_float(data.get("last_success_at")),
            )
        except (TypeError, ValueError, AttributeError) as err:
            raise CheckpointCorrupt(source, f"malformed recovery history: {err}") from err


@dataclass(frozen=True)
class Decision:
    action: str  # one of ACTIONS; "escalate" when escalate is set
    failure: Failure
    attempt: int  # 1-based attempt in the episode (0 for degraded failures)
    max_attempts: int
    wait_seconds: float  # session seconds to wait (backoff / throttle) before acting
    escalate: bool  # pause for a human (action "escalate")
    reason: str
    backoff: BackoffSpec | None = None  # for the runner's tenacity.AsyncRetrying


def decide(
    failure: Failure,
    history: RecoveryHistory,
    recovery: RecoverySpec,
    error_handling: ErrorHandlingSpec,
    auto_recovery: bool = True,
    rng: random.Random | None = None,
) -> Decision:
    """The action for ``failure`` given the history before it. Pure; rng only for jitter."""
    rule = rule_for(failure.type, recovery)
    action = failure.action or rule.action
    who = failure.agent_id or "the session"
    base = f"{failure.type} ({failure.severity}, {failure.source}) for {who}"
    if not counts_as_error(failure):
        return Decision(action, failure, 0, rule.max_attempts, 0.0, False,
                        f"{base}: {action}, flagged in the report", rule.backoff)
    attempt = history.attempts_for(failure.agent_id, failure.type) + 1
    consecutive = history.consecutive_errors + 1
    limit = error_handling.max_consecutive_errors

    def escalation(reason: str) -> Decision:
        return Decision("escalate", failure, attempt, rule.max_attempts, 0.0, True,
                        f"{base}: {reason}; pausing for a human", rule.backoff)

    if action == "stop":
        return Decision("stop", failure, attempt, rule.max_attempts, 0.0, False,
                        f"{base}: stop the session", rule.backoff)
    if action in BOUNDED_ACTIONS and attempt > rule.max_attempts:
        return escalation(f"{action} attempts exhausted ({rule.max_attempts}/"
                          f"{rule.max_attempts})")
    if consecutive > limit:
        return escalation(f"{consecutive} consecutive errors exceed "
                          f"max_consecutive_errors={limit}")
    if action == "escalate":
        return escalation("the table escalates")
    if not auto_recovery and action in BOUNDED_ACTIONS:
        return escalation(f"auto_recovery is off ({action} not attempted)")
    wait = wait_for_attempt(rule.backoff, attempt, rng) if action in WAITING_ACTIONS else 0.0
    return Decision(action, failure, attempt, rule.max_attempts, wait, False,
                    f"{base}: {action}, attempt {attempt}/{rule.max_attempts}"
                    + (f" after {wait:.1f}s" if wait else ""), rule.backoff)


def _int_map(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return {str(k): int(v) for k, v in value.items()}


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
