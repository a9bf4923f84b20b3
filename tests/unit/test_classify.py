"""Classification of error events, stderr lines, exits and monitor readings."""

from __future__ import annotations

import pytest

from supervisor.config.schema import (
    FAILURE_TYPES,
    CheckpointSpec,
    ErrorHandlingSpec,
    ErrorRuleSpec,
    RecoveryRuleSpec,
    RecoverySpec,
)
from supervisor.errors import ConfigError
from supervisor.recovery.classify import Classifier, Failure, normalize_action
from supervisor.recovery.policy import default_recovery_rules

# The [[error_handling.rules]] of shared/fixtures/selfware_mega_test_config.toml, as written.
SEED_RULES = (
    ErrorRuleSpec("timeout", "transient", "retry_immediate"),
    ErrorRuleSpec("rate.?limit", "recoverable", "retry_with_backoff"),
    ErrorRuleSpec("parse.?error", "recoverable", "retry_with_modification"),
    ErrorRuleSpec("disk.?full", "critical", "pause_and_alert"),
    ErrorRuleSpec("permission.?denied", "critical", "pause_and_alert"),
    ErrorRuleSpec("out.?of.?memory", "critical", "compress_and_retry"),
)
RECOVERY = RecoverySpec(default_recovery_rules(CheckpointSpec()))


def classifier(rules: tuple[ErrorRuleSpec, ...] = (), manual: bool = False,
               recovery: RecoverySpec = RECOVERY) -> Classifier:
    mode = "manual" if manual else "auto"
    return Classifier(ErrorHandlingSpec(classification=mode, rules=rules), recovery)


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [(t, "boom", t) for t in FAILURE_TYPES if t != "unknown"]
    + [
        ("timeout", "", "network_timeout"),
        ("rate_limited", "slow down", "rate_limit"),
        ("Rate-Limited", "", "rate_limit"),
        ("oom", "", "memory_pressure"),
        ("ENOSPC", "", "disk_full"),
        ("json", "", "parse_failure"),
        ("crash", "", "agent_crash"),
        ("deadlock", "", "consensus_deadlock"),
        ("overloaded", "", "llm_error"),
    ],
)
def test_error_kind_names_the_failure(kind: str, message: str, expected: str) -> None:
    """An error kind that is a failure type or a known alias decides the type."""
    failure = classifier().from_error_event("a1", kind, message)
    assert (failure.type, failure.source, failure.agent_id) == (expected, "event", "a1")
    assert failure.action is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("request timed out after 30s", "network_timeout"),
        ("HTTP 429 from provider", "rate_limit"),
        ("Rate limit reached for requests", "rate_limit"),
        ("OSError: [Errno 28] No space left on device", "disk_full"),
        ("ENOSPC while writing", "disk_full"),
        ("MemoryError", "memory_pressure"),
        ("CUDA out of memory", "memory_pressure"),
        ("Expecting value: JSON could not be decoded", "parse_failure"),
        ("failed to parse tool arguments", "parse_failure"),
        ("503 service unavailable", "llm_error"),
        ("sqlite: database disk image is malformed", "data_corruption"),
        ("something odd happened", "unknown"),
    ],
)
def test_keyword_heuristics_read_the_message(message: str, expected: str) -> None:
    """An unhelpful kind falls back to keywords in the message, else unknown."""
    failure = classifier().from_error_event("a1", "error", message)
    assert failure.type == expected
    assert failure.source == "event"


def test_severity_comes_from_the_table() -> None:
    """A classified failure carries its table severity; unknown has its own row."""
    c = classifier()
    assert c.from_error_event(None, "disk_full", "").severity == "critical"
    assert c.from_error_event(None, "network_timeout", "").severity == "transient"
    assert c.from_error_event(None, "weird", "odd").severity == "recoverable"


def test_configured_severity_overrides_the_default() -> None:
    """A [recovery] row with another severity is what the classifier reports."""
    rules = tuple(
        RecoveryRuleSpec(r.failure, "critical", r.action) if r.failure == "llm_error" else r
        for r in RECOVERY.rules
    )
    failure = classifier(recovery=RecoverySpec(rules)).from_error_event("a", "llm_error", "x")
    assert failure.severity == "critical"


def test_fatal_unknown_error_is_an_agent_crash() -> None:
    """A fatal error of no known kind means the agent is going down: a crash."""
    failure = classifier().from_error_event("a1", "error", "giving up", fatal=True)
    assert (failure.type, failure.severity) == ("agent_crash", "fatal")


def test_fatal_flag_raises_the_severity() -> None:
    """A fatal error of a known kind keeps its type but is reported as fatal."""
    failure = classifier().from_error_event("a1", "llm_error", "no models left", fatal=True)
    assert (failure.type, failure.severity) == ("llm_error", "fatal")


def test_auto_mode_kind_wins_over_rules() -> None:
    """With auto classification a kind naming a failure type beats a matching rule."""
    failure = classifier(SEED_RULES).from_error_event("a1", "llm_error", "upstream timeout")
    assert (failure.type, failure.source, failure.action) == ("llm_error", "event", None)


def test_auto_mode_rules_apply_when_the_kind_says_nothing() -> None:
    """With auto classification the rules classify a message whose kind is unknown."""
    failure = classifier(SEED_RULES).from_error_event("a1", "error", "permission denied: /x")
    assert (failure.source, failure.severity, failure.action) == ("rule", "critical",
                                                                  "pause_alert")
    assert failure.type == "unknown"


def test_manual_mode_rules_come_first() -> None:
    """With manual classification a matching rule decides even when the kind is known."""
    failure = classifier(SEED_RULES, manual=True).from_error_event(
        "a1", "llm_error", "upstream timeout")
    assert failure.source == "rule"
    assert (failure.type, failure.severity, failure.action) == ("llm_error", "transient",
                                                                "retry")


def test_manual_mode_without_match_uses_kind_then_heuristics() -> None:
    """With manual classification and no rule match the kind, then keywords, decide."""
    c = classifier(SEED_RULES, manual=True)
    assert c.from_error_event("a", "llm_error", "bad").type == "llm_error"
    assert c.from_error_event("a", "error", "HTTP 503 service unavailable").type == "llm_error"


@pytest.mark.parametrize(
    ("message", "failure_type", "severity", "action"),
    [
        ("connect timeout", "network_timeout", "transient", "retry"),
        ("rate-limit exceeded", "rate_limit", "recoverable", "throttle_retry"),
        ("parse error at line 3", "parse_failure", "recoverable", "modify_prompt"),
        ("DISK FULL", "disk_full", "critical", "pause_alert"),
        ("out of memory", "memory_pressure", "critical", "compress_context"),
    ],
)
def test_seed_rules_and_their_action_aliases(message: str, failure_type: str, severity: str,
                                             action: str) -> None:
    """The seed's rules match case-insensitively and their action names map to ACTIONS."""
    failure = classifier(SEED_RULES, manual=True).from_error_event("a1", "error", message)
    assert (failure.type, failure.severity, failure.action) == (failure_type, severity, action)


def test_rule_with_failure_type_classifies_as_it() -> None:
    """A rule naming a failure type classifies its matches as that type."""
    rule = ErrorRuleSpec("quota", "critical", "stop", failure="data_corruption")
    failure = classifier((rule,)).from_stderr("a2", "Quota exhausted for project")
    assert failure is not None
    assert (failure.type, failure.action, failure.agent_id) == ("data_corruption", "stop", "a2")


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        (ErrorRuleSpec("(unclosed", "critical", "stop"), "error_handling.rules[0].pattern"),
        (ErrorRuleSpec("x", "critical", "dance"), "error_handling.rules[0].action"),
        (ErrorRuleSpec("x", "critical", "stop", failure="meteor"),
         "error_handling.rules[0].failure"),
    ],
)
def test_bad_rules_are_a_config_error(rule: ErrorRuleSpec, key: str) -> None:
    """A bad regex, action or failure type is a ConfigError naming the rule's key."""
    with pytest.raises(ConfigError) as err:
        classifier((rule,))
    assert key in str(err.value)


def test_normalize_action_accepts_canonical_names_and_aliases() -> None:
    """normalize_action maps aliases, keeps ACTIONS, and rejects the rest."""
    assert normalize_action("pause_and_alert") == "pause_alert"
    assert normalize_action("Switch-Model") == "switch_model"
    assert normalize_action("nope") is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Traceback (most recent call last):", None),
        ('  File "x.py", line 3, in <module>', None),
        ("MemoryError", "memory_pressure"),
        ("OSError: [Errno 28] No space left on device", "disk_full"),
        ("Killed", "memory_pressure"),
        ("warning: request timed out, retrying", None),
        ("sqlite3.DatabaseError: database disk image is malformed", "data_corruption"),
    ],
)
def test_stderr_only_strong_signatures_without_rules(line: str, expected: str | None) -> None:
    """Without rules only strong stderr signatures are failures; a Traceback is not."""
    failure = classifier().from_stderr("a1", line)
    assert (failure.type if failure else None) == expected
    if failure is not None:
        assert failure.source == "stderr"


def test_rules_apply_to_stderr() -> None:
    """A configured rule matching a stderr line makes it a failure with the rule's action."""
    failure = classifier(SEED_RULES).from_stderr("a1", "socket timeout talking to api")
    assert failure == Failure("network_timeout", "transient", "rule",
                              "socket timeout talking to api", "a1", "retry")


@pytest.mark.parametrize(
    ("code", "tail", "expected", "message"),
    [
        (0, [], None, None),
        (1, ["ValueError: bad"], "agent_crash", "exit 1: ValueError: bad"),
        (3, [], "agent_crash", "exit 3"),
        (-9, [], "agent_crash", "killed by SIGKILL"),
        (-9, ["Killed"], "memory_pressure", "killed by SIGKILL: Killed"),
        (-11, ["boom", ""], "agent_crash", "killed by SIGSEGV: boom"),
        (137, ["Killed"], "memory_pressure", "killed by SIGKILL (exit 137): Killed"),
        (137, ["Traceback", "MemoryError"], "memory_pressure",
         "killed by SIGKILL (exit 137): MemoryError"),
        (137, ["fine"], "agent_crash", "killed by SIGKILL (exit 137): fine"),
        (1, ["Traceback", "MemoryError"], "memory_pressure", "exit 1: MemoryError"),
        (1, ["OSError: [Errno 28] No space left on device"], "disk_full",
         "exit 1: OSError: [Errno 28] No space left on device"),
    ],
)
def test_exits_and_signals(code: int, tail: list[str], expected: str | None,
                           message: str | None) -> None:
    """Exit codes and signals classify as crash, memory pressure or nothing."""
    failure = classifier().from_exit("a1", code, tail, expected=False)
    assert (failure.type if failure else None) == expected
    assert (failure.message if failure else None) == message
    if failure is not None:
        assert failure.source == "exit"


def test_expected_exit_is_not_a_failure() -> None:
    """An agent we asked to stop may exit any way it likes."""
    assert classifier().from_exit("a1", -15, [], expected=True) is None


@pytest.mark.parametrize(("idle", "hang"), [(599.0, False), (600.0, False), (600.5, True)])
def test_idle_monitor(idle: float, hang: bool) -> None:
    """Idle strictly past the limit is agent_hang."""
    failure = classifier().idle("a1", idle, 600.0)
    assert (failure is not None) == hang
    if failure:
        assert (failure.type, failure.source, failure.agent_id) == ("agent_hang", "monitor", "a1")


@pytest.mark.parametrize(("rss", "pressure"), [(1023, False), (1024, False), (1025, True)])
def test_memory_monitor(rss: int, pressure: bool) -> None:
    """RSS over the limit is memory_pressure."""
    failure = classifier().memory("a1", rss, 1024)
    assert (failure.type if failure else None) == ("memory_pressure" if pressure else None)


@pytest.mark.parametrize(
    ("used", "free", "full"),
    [(100, None, False), (100, 10, False), (101, None, True), (50, 0, True), (50, 5, True)],
)
def test_disk_monitor(used: int, free: int | None, full: bool) -> None:
    """Disk over the limit, or free space at the floor (ENOSPC), is disk_full."""
    failure = classifier().disk(used, 100, free, min_free_bytes=5)
    assert (failure.type if failure else None) == ("disk_full" if full else None)


@pytest.mark.parametrize(("now", "deadlock"), [(1300.0, False), (1300.5, True)])
def test_consensus_monitor(now: float, deadlock: bool) -> None:
    """Votes open without consensus past vote_timeout_secs are a deadlock naming the topic."""
    failure = classifier().consensus({"schema": 1000.0, "api": 1200.0}, now, 300.0)
    assert (failure is not None) == deadlock
    if failure:
        assert failure.type == "consensus_deadlock" and failure.severity == "critical"
        assert "schema" in failure.message and "api" not in failure.message
