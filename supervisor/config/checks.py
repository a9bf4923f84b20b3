"""Value rules of the config: ranges, allowed values, patterns, aliases. Pure data.

Keys are schema paths: the TOML key path without array indices or table-of-values keys
(``phases.duration_minutes``, ``agent.command``). Each check takes a converted value and
returns a message, or ``None`` when the value is fine. Rules that relate two keys
(``agent_count <= max_parallel_agents``, phase roles) live in ``validate.py``.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Iterable
from typing import Any

from supervisor.config.schema import (
    ACTION_ALIASES,
    ACTIONS,
    BACKOFF_STRATEGIES,
    FAILURE_TYPES,
    PLACEHOLDERS,
    PROJECT_TYPES,
    SEVERITIES,
)

Check = Callable[[Any], str | None]

NOTIFICATION_EVENTS = ("checkpoint", "phase_complete", "error", "complete")
CONSENSUS_STRATEGIES = ("unanimous", "majority", "weighted", "priority")
LOG_LEVELS = ("trace", "debug", "info", "warn", "error")
METRICS_FORMATS = ("json", "prometheus")
CLASSIFICATIONS = ("auto", "manual")
SESSION_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PHASE_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def greater(bound: float) -> Check:
    return lambda v: None if v > bound else f"must be > {bound:g}, got {v!r}"


def at_least(bound: float) -> Check:
    return lambda v: None if v >= bound else f"must be >= {bound:g}, got {v!r}"


def between(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be between {lo:g} and {hi:g}, got {v!r}"


def one_of(choices: Iterable[str]) -> Check:
    allowed = tuple(choices)

    def check(v: Any) -> str | None:
        if v in allowed:
            return None
        return f"must be one of: {', '.join(allowed)} (got {v!r}){suggest(str(v), allowed)}"

    return check


def non_empty(v: Any) -> str | None:
    return None if len(v) > 0 else "must not be empty"


def unique(v: tuple[Any, ...]) -> str | None:
    dups = sorted({x for x in v if v.count(x) > 1})
    return f"has duplicates: {', '.join(map(str, dups))}" if dups else None


def session_id(v: str) -> str | None:
    if v == "auto" or SESSION_ID_RE.fullmatch(v):
        return None
    return (
        "must be 'auto' or 1-100 characters of letters, digits, '.', '_', '-' "
        f"starting with a letter or digit, got {v!r}"
    )


def phase_name(v: str) -> str | None:
    if PHASE_NAME_RE.fullmatch(v):
        return None
    return f"must be non-empty letters, digits, '_' or '-', got {v!r}"


def regex(v: str) -> str | None:
    try:
        re.compile(v)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    return None


def template(v: str) -> str | None:
    """A command-template argument: placeholders must be known, braces balanced."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
    except ValueError as exc:
        return f"bad template {v!r}: {exc} (write '{{{{' for a literal brace)"
    for name in fields:
        if name not in PLACEHOLDERS:
            known = " ".join("{" + p + "}" for p in PLACEHOLDERS)
            return f"unknown placeholder '{{{name}}}'{suggest(name, PLACEHOLDERS)} (known: {known})"
    return None


def env_name(v: str) -> str | None:
    return None if v and "=" not in v and "\0" not in v else f"bad environment name {v!r}"


def failure_type(v: str) -> str | None:
    if v in FAILURE_TYPES:
        return None
    return f"unknown failure type{suggest(v, FAILURE_TYPES)}; one of: {', '.join(FAILURE_TYPES)}"


def canonical_action(v: str) -> str:
    return ACTION_ALIASES.get(v, v)


POSITIVE = greater(0)
COUNT = at_least(1)
NON_NEGATIVE = at_least(0)
FRACTION = between(0, 1)
PORT = between(0, 65535)

# Checks on a whole converted value.
CHECKS: dict[str, tuple[Check, ...]] = {
    "session.id": (session_id,),
    "session.duration_hours": (POSITIVE,),
    "session.agent_count": (COUNT,),
    "session.project_type": (one_of(PROJECT_TYPES),),
    "session.time_scale": (POSITIVE,),
    "session.test_runs_dir": (non_empty,),
    "checkpoint.interval_minutes": (POSITIVE,),
    "checkpoint.tool_call_threshold": (COUNT,),
    "checkpoint.token_threshold": (COUNT,),
    "checkpoint.max_recovery_attempts": (COUNT,),
    "checkpoint.backoff_strategy": (one_of(BACKOFF_STRATEGIES),),
    "checkpoint.backoff_initial_seconds": (NON_NEGATIVE,),
    "checkpoint.backoff_max_seconds": (NON_NEGATIVE,),
    "checkpoint.keep_last": (COUNT,),
    "checkpoint.quiesce_timeout_secs": (POSITIVE,),
    "agent.max_iterations": (COUNT,),
    "agent.step_timeout_secs": (POSITIVE,),
    "agent.concurrent_agents": (COUNT,),
    "agent.roles": (non_empty, unique),
    "agent.models": (non_empty,),
    "agent.min_trust_score": (FRACTION,),
    "agent.max_trust_score": (FRACTION,),
    "agent.max_total_agents": (COUNT,),
    "agent.stop_grace_secs": (NON_NEGATIVE,),
    "consensus.min_votes": (COUNT,),
    "consensus.vote_timeout_secs": (POSITIVE,),
    "consensus.strategy": (one_of(CONSENSUS_STRATEGIES),),
    "consensus.threshold": (FRACTION,),
    "limits.total_token_budget": (COUNT,),
    "limits.budget_alert_fraction": (FRACTION,),
    "limits.tokens_per_agent_per_hour": (COUNT,),
    "limits.tool_calls_per_agent_per_hour": (COUNT,),
    "limits.max_context_size": (COUNT,),
    "limits.disk_space_limit_gb": (POSITIVE,),
    "limits.max_test_runtime_min": (POSITIVE,),
    "limits.idle_timeout_minutes": (POSITIVE,),
    "limits.max_parallel_agents": (COUNT,),
    "limits.agent_memory_limit_mb": (POSITIVE,),
    "monitoring.health_check_interval": (POSITIVE,),
    "monitoring.metrics_interval_secs": (POSITIVE,),
    "monitoring.metrics_export_interval": (POSITIVE,),
    "monitoring.dashboard_update_interval": (POSITIVE,),
    "monitoring.log_level": (one_of(LOG_LEVELS),),
    "monitoring.metrics_format": (one_of(METRICS_FORMATS),),
    "control.http_port": (PORT,),
    "error_handling.max_consecutive_errors": (COUNT,),
    "error_handling.classification": (one_of(CLASSIFICATIONS),),
    "error_handling.rules.pattern": (regex,),
    "error_handling.rules.severity": (one_of(SEVERITIES),),
    "error_handling.rules.action": (one_of(ACTIONS),),
    "error_handling.rules.failure": (one_of(("", *FAILURE_TYPES)),),
    "recovery.severity": (one_of(SEVERITIES),),
    "recovery.action": (one_of(ACTIONS),),
    "recovery.max_attempts": (COUNT,),
    "recovery.backoff": (one_of(BACKOFF_STRATEGIES),),
    "recovery.backoff_initial_seconds": (NON_NEGATIVE,),
    "recovery.backoff_max_seconds": (NON_NEGATIVE,),
    "recovery.jitter": (FRACTION,),
    "project.name": (non_empty,),
    "project.target.lines_of_code": (COUNT,),
    "project.target.test_coverage": (FRACTION,),
    "project.target.documentation_coverage": (FRACTION,),
    "project.target.max_bugs_critical": (NON_NEGATIVE,),
    "project.target.max_bugs_high": (NON_NEGATIVE,),
    "project.target.max_bugs_medium": (NON_NEGATIVE,),
    "project.performance.build_time_secs": (POSITIVE,),
    "project.performance.test_execution_time_secs": (POSITIVE,),
    "project.performance.memory_usage_mb": (POSITIVE,),
    "project.performance.binary_size_mb": (POSITIVE,),
    "phases.name": (phase_name,),
    "phases.duration_minutes": (POSITIVE,),
    "phases.roles": (unique,),
    "phases.checkpoint_interval_minutes": (POSITIVE,),
    "notifications.email.smtp_port": (PORT,),
    "simulation.tokens_per_agent_hour": (COUNT,),
    "simulation.tool_calls_per_agent_hour": (COUNT,),
    "simulation.faults.scheduled.failure": (one_of(FAILURE_TYPES),),
    "simulation.faults.scheduled.at_minutes": (NON_NEGATIVE,),
    "pricing.prompt_per_million": (NON_NEGATIVE,),
    "pricing.completion_per_million": (NON_NEGATIVE,),
    "pricing.compute_per_hour": (NON_NEGATIVE,),
}

# Checks on each element of an array (or each value of a table of values).
ITEM_CHECKS: dict[str, tuple[Check, ...]] = {
    "agent.command": (template,),
    "agent.roles": (non_empty,),
    "agent.models": (non_empty,),
    "phases.roles": (non_empty,),
    "notifications.events": (one_of(NOTIFICATION_EVENTS),),
    "simulation.faults.rates": (NON_NEGATIVE,),
}

# Checks on the keys of a table of values.
KEY_CHECKS: dict[str, tuple[Check, ...]] = {
    "agent.env": (env_name,),
    "simulation.faults.rates": (failure_type,),
}

# Applied after type conversion, before the checks.
NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "error_handling.rules.action": canonical_action,
    "recovery.action": canonical_action,
}
