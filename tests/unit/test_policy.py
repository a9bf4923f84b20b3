"""The recovery policy table and the pure decision."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from supervisor.config import load_config
from supervisor.config.schema import (
    FAILURE_TYPES,
    BackoffSpec,
    CheckpointSpec,
    ErrorHandlingSpec,
    RecoveryRuleSpec,
    RecoverySpec,
)
from supervisor.errors import CheckpointCorrupt, CheckpointVersionError
from supervisor.recovery.classify import Classifier, Failure
from supervisor.recovery.policy import (
    Decision,
    RecoveryHistory,
    decide,
    default_recovery_rules,
    rule_for,
)

NO_JITTER = CheckpointSpec(backoff_initial_seconds=30, backoff_max_seconds=300)
EH = ErrorHandlingSpec(max_consecutive_errors=5)


def no_jitter_rules(checkpoint: CheckpointSpec = NO_JITTER) -> RecoverySpec:
    """The default table with jitter 0, so waits are exact."""
    rules = default_recovery_rules(checkpoint)
    return RecoverySpec(tuple(
        RecoveryRuleSpec(r.failure, r.severity, r.action, r.max_attempts,
                         BackoffSpec(r.backoff.strategy, r.backoff.initial_seconds,
                                     r.backoff.max_seconds, 0.0))
        for r in rules
    ))


RECOVERY = no_jitter_rules()
CLASSIFIER = Classifier(EH, RECOVERY)


def failure(kind: str, agent: str | None = "a1") -> Failure:
    return CLASSIFIER.from_error_event(agent, kind, "")


def run(f: Failure, history: RecoveryHistory, **kw: object) -> Decision:
    return decide(f, history, RECOVERY, EH, **kw)  # type: ignore[arg-type]


# failure type -> severity, action, attempts, first wait (exponential 30s, checkpoint defaults)
DEFAULT_ROWS = {
    "network_timeout": ("transient", "retry", 3, 30.0),
    "rate_limit": ("recoverable", "throttle_retry", 5, 30.0),
    "llm_error": ("recoverable", "switch_model", 5, 30.0),
    "parse_failure": ("recoverable", "modify_prompt", 5, 30.0),
    "test_failure": ("degraded", "log_continue", 5, 0.0),
    "memory_pressure": ("recoverable", "compress_context", 5, 0.0),
    "disk_full": ("critical", "pause_alert", 5, 0.0),
    "consensus_deadlock": ("critical", "escalate", 5, 0.0),
    "agent_hang": ("recoverable", "restart_agent", 5, 30.0),
    "agent_crash": ("fatal", "restore_checkpoint", 5, 30.0),
    "data_corruption": ("fatal", "stop", 5, 0.0),
    "unknown": ("recoverable", "retry", 5, 30.0),
}


def test_default_table_covers_every_failure_type() -> None:
    """default_recovery_rules has exactly one rule per failure type, in order."""
    rules = default_recovery_rules(CheckpointSpec())
    assert tuple(r.failure for r in rules) == FAILURE_TYPES


def test_default_table_takes_backoff_and_attempts_from_checkpoint() -> None:
    """Backoff and attempts come from [checkpoint]; network_timeout keeps 3 attempts."""
    cp = CheckpointSpec(max_recovery_attempts=7, backoff_strategy="linear",
                        backoff_initial_seconds=10, backoff_max_seconds=90)
    rules = {r.failure: r for r in default_recovery_rules(cp)}
    assert rules["llm_error"].max_attempts == 7
    assert rules["network_timeout"].max_attempts == 3
    assert rules["agent_crash"].backoff == BackoffSpec("linear", 10, 90, 0.1)


@pytest.mark.parametrize("failure_type", FAILURE_TYPES)
def test_each_default_row(failure_type: str) -> None:
    """Each failure type gets its DESIGN.md severity, action, attempts and first wait."""
    severity, action, attempts, wait = DEFAULT_ROWS[failure_type]
    f = CLASSIFIER.make(failure_type, "event", "x", "a1")
    d = run(f, RecoveryHistory())
    assert f.severity == severity
    assert d.action == action
    assert d.max_attempts == attempts
    assert d.wait_seconds == wait
    assert d.escalate == (action == "escalate")


def test_network_timeout_retries_three_times_then_escalates() -> None:
    """Retries wait 30, 60, 120 s; the fourth timeout in a row escalates with a reason."""
    history, waits = RecoveryHistory(), []
    for now in (0.0, 100.0, 200.0):
        d = run(failure("network_timeout"), history)
        assert d.action == "retry"
        waits.append(d.wait_seconds)
        history.record_failure(d.failure, now)
    assert waits == [30.0, 60.0, 120.0]
    d = run(failure("network_timeout"), history)
    assert d.escalate and d.action == "escalate"
    assert d.attempt == 4
    assert "attempts exhausted (3/3)" in d.reason


def test_attempts_are_counted_per_agent() -> None:
    """Another agent's timeouts do not use up this agent's attempts."""
    history = RecoveryHistory()
    for _ in range(3):
        history.record_failure(failure("network_timeout", "a1"), 0.0)
    d = run(failure("network_timeout", "a2"), history)
    assert (d.action, d.attempt) == ("retry", 1)


def test_consecutive_errors_past_max_escalate() -> None:
    """The sixth failure with no success between them escalates (max 5)."""
    history = RecoveryHistory()
    kinds = ["network_timeout", "llm_error", "parse_failure", "rate_limit", "unknown"]
    for i, kind in enumerate(kinds):
        d = run(failure(kind), history)
        assert not d.escalate, d.reason
        history.record_failure(d.failure, float(i))
    d = run(failure("llm_error"), history)
    assert d.escalate
    assert "6 consecutive errors exceed max_consecutive_errors=5" in d.reason


def test_success_resets_the_episode() -> None:
    """A success ends the episode: attempts and consecutive errors start again."""
    history = RecoveryHistory()
    for _ in range(3):
        history.record_failure(failure("network_timeout"), 0.0)
    assert history.record_success("a1", "network_timeout", 10.0) == 1
    assert (history.consecutive_errors, history.total_recovered) == (0, 1)
    d = run(failure("network_timeout"), history)
    assert (d.action, d.attempt, d.wait_seconds) == ("retry", 1, 30.0)


def test_success_without_type_ends_all_the_agents_episodes() -> None:
    """record_success with no type closes every open episode of that agent only."""
    history = RecoveryHistory()
    history.record_failure(failure("llm_error", "a1"), 0.0)
    history.record_failure(failure("rate_limit", "a1"), 0.0)
    history.record_failure(failure("rate_limit", "a2"), 0.0)
    assert history.record_success("a1") == 2
    assert history.attempts == {"a2:rate_limit": 1}


def test_human_resume_clears_every_loop() -> None:
    """After a human resumes, nothing counts as exhausted any more."""
    history = RecoveryHistory(attempts={"a1:network_timeout": 9}, consecutive_errors=9)
    history.record_human_resume(50.0)
    assert run(failure("network_timeout"), history).action == "retry"


def test_degraded_failures_never_escalate_nor_count() -> None:
    """Test failures are logged and flagged however many there are."""
    history = RecoveryHistory()
    for i in range(20):
        d = run(failure("test_failure"), history)
        assert (d.action, d.escalate) == ("log_continue", False)
        history.record_failure(d.failure, float(i))
    assert history.consecutive_errors == 0
    assert history.total_failures == 20 and history.by_type == {"test_failure": 20}


def test_data_corruption_stops_even_past_limits() -> None:
    """A stop is never turned into an escalation."""
    history = RecoveryHistory(consecutive_errors=50)
    assert run(failure("data_corruption"), history).action == "stop"


def test_unknown_failure_has_its_own_default() -> None:
    """An unknown failure retries with the unknown row's attempts."""
    d = run(CLASSIFIER.from_error_event("a1", "weird", "odd"), RecoveryHistory())
    assert (d.failure.type, d.action, d.max_attempts) == ("unknown", "retry", 5)


def test_config_overridden_row() -> None:
    """A [recovery] row from TOML replaces the default action, attempts and backoff."""
    rules = tuple(
        RecoveryRuleSpec("llm_error", "recoverable", "retry", 2, BackoffSpec("fixed", 10, 60, 0))
        if r.failure == "llm_error" else r for r in RECOVERY.rules
    )
    recovery = RecoverySpec(rules)
    history = RecoveryHistory()
    for _ in range(2):
        d = decide(failure("llm_error"), history, recovery, EH)
        assert (d.action, d.wait_seconds) == ("retry", 10.0)
        history.record_failure(d.failure, 0.0)
    assert decide(failure("llm_error"), history, recovery, EH).escalate


def test_missing_row_falls_back_to_builtin_default() -> None:
    """A table without a row for a type uses the built-in row for it."""
    assert rule_for("agent_hang", RecoverySpec()).action == "restart_agent"
    d = decide(failure("rate_limit"), RecoveryHistory(), RecoverySpec(), EH,
               rng=random.Random(1))
    assert d.action == "throttle_retry"


def test_rule_action_overrides_table_action() -> None:
    """An error_handling rule's action is carried out instead of the table's."""
    f = Failure("unknown", "critical", "rule", "permission denied", "a1", "pause_alert")
    d = run(f, RecoveryHistory())
    assert (d.action, d.wait_seconds, d.escalate) == ("pause_alert", 0.0, False)


def test_auto_recovery_off_escalates_recovering_actions() -> None:
    """With auto_recovery off a retry needs a human, a degraded failure still continues."""
    d = run(failure("network_timeout"), RecoveryHistory(), auto_recovery=False)
    assert d.escalate and "auto_recovery is off" in d.reason
    d = run(failure("test_failure"), RecoveryHistory(), auto_recovery=False)
    assert d.action == "log_continue"


def test_seeded_jitter_is_deterministic_and_bounded() -> None:
    """With jitter, a seeded rng gives the same wait twice, within +-10%."""
    recovery = RecoverySpec(default_recovery_rules(CheckpointSpec()))
    waits = [decide(failure("network_timeout"), RecoveryHistory(), recovery, EH,
                    rng=random.Random(7)).wait_seconds for _ in range(2)]
    assert waits[0] == waits[1]
    assert 27.0 <= waits[0] <= 33.0 and waits[0] != 30.0


def test_decide_does_not_touch_the_history() -> None:
    """decide is pure: the history is the same before and after."""
    history = RecoveryHistory(attempts={"a1:llm_error": 2}, consecutive_errors=2)
    before = history.to_dict()
    run(failure("llm_error"), history)
    assert history.to_dict() == before


def test_history_round_trips_through_dict() -> None:
    """to_dict/from_dict keep every counter; copy() is independent."""
    history = RecoveryHistory()
    history.record_failure(failure("llm_error"), 12.5, escalated=True)
    history.record_failure(failure("test_failure"), 13.0)
    restored = RecoveryHistory.from_dict(history.to_dict())
    assert restored == history
    clone = history.copy()
    clone.record_failure(failure("llm_error"), 14.0)
    assert history.attempts == {"a1:llm_error": 1} and clone.attempts == {"a1:llm_error": 2}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"schema": 99}, CheckpointVersionError),
        ({"schema": 1, "attempts": [1, 2]}, CheckpointCorrupt),
        ({"schema": 1, "consecutive_errors": "many"}, CheckpointCorrupt),
    ],
)
def test_bad_history_is_refused(data: dict[str, object], error: type[Exception]) -> None:
    """A history of another schema or malformed is refused with a checkpoint error."""
    with pytest.raises(error):
        RecoveryHistory.from_dict(data)


FIXTURE = Path("/work/shared/fixtures/selfware_mega_test_config.toml")


@pytest.mark.parametrize("path", [None, FIXTURE])
def test_loaded_configs_get_this_default_table(path: Path | None) -> None:
    """The config loader fills [recovery] with default_recovery_rules of its [checkpoint]."""
    if path is not None and not path.exists():
        pytest.skip(f"{path} not present")
    cfg = load_config(path)
    assert cfg.recovery.rules == default_recovery_rules(cfg.checkpoint)
    classifier = Classifier(cfg.error_handling, cfg.recovery)
    f = classifier.from_error_event("a1", "error", "provider says: rate limit hit")
    d = decide(f, RecoveryHistory(), cfg.recovery, cfg.error_handling, rng=random.Random(0))
    assert (f.type, d.action) == ("rate_limit", "throttle_retry")
