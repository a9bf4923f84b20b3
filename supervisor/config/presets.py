"""Built-in plans: the default phase plan, the default recovery table, project presets.

The phase plan and the recovery table are what a config gets when it leaves them out;
``configs/mega_test_config.toml`` spells the same values out. Project presets are the
``[project]`` tables of ``configs/projects/<type>.toml``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from supervisor.config.checks import failure_type
from supervisor.config.fields import INVALID, Decoder, describe
from supervisor.config.schema import (
    DEFAULT_RECOVERY,
    FAILURE_TYPES,
    BackoffSpec,
    CheckpointSpec,
    PhaseSpec,
    ProjectSpec,
    RecoveryRuleSpec,
    RecoverySpec,
)
from supervisor.config.toml_lines import join_key, read_toml

# name, minutes, roles (empty: every role), checkpoint interval, objectives, success criteria
_PLAN: tuple[tuple[str, float, tuple[str, ...], float, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "bootstrap", 60, ("Architect", "DevOps", "Coder"), 15,
        ("Initialize project structure", "Design system architecture",
         "Set up CI/CD pipeline", "Create initial documentation"),
        ("Project compiles successfully", "All modules have defined interfaces",
         "CI pipeline passes", "Architecture document complete"),
    ),
    (
        "development", 120, (), 20,
        ("Implement core functionality", "Add comprehensive tests",
         "Integrate components", "Establish performance baseline"),
        ("Core features functional", "Test coverage >= 70%",
         "Integration tests pass", "No critical security issues"),
    ),
    (
        "refinement", 120, (), 20,
        ("Bug fixes from testing", "Performance optimization",
         "Security hardening", "Documentation completion"),
        ("All critical/high bugs fixed", "Performance targets met",
         "Security scan clean", "E2E tests pass"),
    ),
    (
        "finalization", 60, (), 10,
        ("Final polish", "Documentation completion", "Release preparation", "Final validation"),
        ("Documentation 100% complete", "All tests passing",
         "Release artifacts ready", "Final checkpoint validates"),
    ),
)  # fmt: skip


def default_phases(declared_roles: tuple[str, ...]) -> tuple[PhaseSpec, ...]:
    """The default plan (1h/2h/2h/1h), its role subsets cut down to the declared roles."""
    phases = []
    for name, minutes, roles, interval, objectives, criteria in _PLAN:
        kept = tuple(r for r in roles if r in declared_roles)
        phases.append(PhaseSpec(name, float(minutes), objectives, criteria, kept, float(interval)))
    return tuple(phases)


NETWORK_TIMEOUT_ATTEMPTS = 3

# [recovery.<failure>] keys -> (type, attribute of RecoveryRuleSpec or of its BackoffSpec)
_RECOVERY_KEYS: dict[str, tuple[type, str]] = {
    "severity": (str, "severity"),
    "action": (str, "action"),
    "max_attempts": (int, "max_attempts"),
    "backoff": (str, "strategy"),
    "backoff_initial_seconds": (float, "initial_seconds"),
    "backoff_max_seconds": (float, "max_seconds"),
    "jitter": (float, "jitter"),
}


def default_recovery_rule(failure: str, checkpoint: CheckpointSpec) -> RecoveryRuleSpec:
    """The table's row for ``failure``; backoff and attempts from the ``[checkpoint]`` keys."""
    severity, action = DEFAULT_RECOVERY[failure]
    attempts = checkpoint.max_recovery_attempts
    if failure == "network_timeout":
        attempts = NETWORK_TIMEOUT_ATTEMPTS
    backoff = BackoffSpec(
        strategy=checkpoint.backoff_strategy,
        initial_seconds=checkpoint.backoff_initial_seconds,
        max_seconds=checkpoint.backoff_max_seconds,
    )
    return RecoveryRuleSpec(failure, severity, action, attempts, backoff)


def build_recovery(dec: Decoder, raw: Any, checkpoint: CheckpointSpec) -> RecoverySpec:
    """One rule per failure type: the default table with ``[recovery.<failure>]`` on top."""
    given: dict[str, Any] = {}
    if not isinstance(raw, dict):
        dec.problem("recovery", f"must be a table of failure types, got {describe(raw)}")
    else:
        for failure, table in raw.items():
            message = failure_type(failure)
            if message:
                dec.problem(join_key("recovery", failure), message)
            elif not isinstance(table, dict):
                dec.problem(
                    join_key("recovery", failure), f"must be a table, got {describe(table)}"
                )
            else:
                given[failure] = table
    rules = []
    for failure in FAILURE_TYPES:
        rule = default_recovery_rule(failure, checkpoint)
        top: dict[str, Any] = {
            "severity": rule.severity,
            "action": rule.action,
            "max_attempts": rule.max_attempts,
        }
        backoff: dict[str, Any] = {}
        path = join_key("recovery", failure)
        for key, value in given.get(failure, {}).items():
            if key not in _RECOVERY_KEYS:
                dec.unknown(path, key, list(_RECOVERY_KEYS))
                continue
            tp, attr = _RECOVERY_KEYS[key]
            sub = join_key(path, key)
            converted = dec.convert(tp, value, sub, rules=f"recovery.{key}")
            if converted is not INVALID:
                (backoff if key.startswith(("backoff", "jitter")) else top)[attr] = converted
                dec.origins[sub] = (dec.source, dec.line(sub))
        rules.append(
            RecoveryRuleSpec(
                failure=failure, backoff=dataclasses.replace(rule.backoff, **backoff), **top
            )
        )
    return RecoverySpec(tuple(rules))


def recovery_to_dict(spec: RecoverySpec) -> dict[str, dict[str, Any]]:
    """The ``[recovery.<failure>]`` tables for ``spec`` (the inverse of build_recovery)."""
    return {
        r.failure: {
            "severity": r.severity,
            "action": r.action,
            "max_attempts": r.max_attempts,
            "backoff": r.backoff.strategy,
            "backoff_initial_seconds": r.backoff.initial_seconds,
            "backoff_max_seconds": r.backoff.max_seconds,
            "jitter": r.backoff.jitter,
        }
        for r in spec.rules
    }


def preset_path(configs_dir: Path, project_type: str) -> Path:
    return configs_dir / "projects" / f"{project_type}.toml"


def load_preset(configs_dir: Path, project_type: str, dec_problems: list[Any]) -> ProjectSpec:
    """The ``[project]`` of ``configs/projects/<type>.toml`` over the built-in defaults.

    Problems in the preset go to ``dec_problems`` with the preset's file name.
    """
    path = preset_path(configs_dir, project_type)
    data, lines = read_toml(path, path.name)
    dec = Decoder(path.name, dec_problems, lines)
    for key in data:
        if key != "project":
            dec.unknown("", key, ["project"])
    spec = dec.build(ProjectSpec, data.get("project", {}), "project", ProjectSpec())
    return spec if spec is not INVALID else ProjectSpec()
