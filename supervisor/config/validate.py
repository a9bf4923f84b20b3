"""Rules that relate two or more keys, checked on the merged config (all layers applied).

Each problem is reported where the offending value came from (the file and its line,
or the command line), found through the ``origins`` the decoders recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.config.checks import suggest
from supervisor.config.schema import Config
from supervisor.config.toml_lines import join_key
from supervisor.errors import Problem

Report = Callable[[str, str], None]


def cross_check(cfg: Config, report: Report) -> None:
    """Call ``report(key_path, message)`` for every cross-key rule ``cfg`` breaks."""
    _agents(cfg, report)
    _backoffs(cfg, report)
    _phases(cfg, report)
    _scheduled_faults(cfg, report)


def _agents(cfg: Config, report: Report) -> None:
    limit = cfg.limits.max_parallel_agents
    if cfg.session.agent_count > limit:
        report(
            "session.agent_count",
            f"must be <= limits.max_parallel_agents ({limit}), got {cfg.session.agent_count}",
        )
    concurrent = cfg.agent.concurrent_agents
    if concurrent > limit and concurrent != cfg.session.agent_count:  # else reported above
        report(
            "agent.concurrent_agents",
            f"must be <= limits.max_parallel_agents ({limit}), got {concurrent}",
        )
    if cfg.agent.min_trust_score > cfg.agent.max_trust_score:
        report(
            "agent.min_trust_score",
            f"must be <= agent.max_trust_score ({cfg.agent.max_trust_score:g}), "
            f"got {cfg.agent.min_trust_score:g}",
        )


def _backoffs(cfg: Config, report: Report) -> None:
    cp = cfg.checkpoint
    if cp.backoff_max_seconds < cp.backoff_initial_seconds:
        report(
            "checkpoint.backoff_max_seconds",
            f"must be >= backoff_initial_seconds ({cp.backoff_initial_seconds:g}), "
            f"got {cp.backoff_max_seconds:g}",
        )
    for rule in cfg.recovery.rules:
        b = rule.backoff
        if b.max_seconds < b.initial_seconds:
            report(
                f"recovery.{rule.failure}.backoff_max_seconds",
                f"must be >= backoff_initial_seconds ({b.initial_seconds:g}), got {b.max_seconds:g}",
            )


def _phases(cfg: Config, report: Report) -> None:
    seen: dict[str, int] = {}
    declared = cfg.agent.roles
    for i, phase in enumerate(cfg.phases):
        if phase.name in seen:
            report(
                f"phases[{i}].name",
                f"duplicate phase name '{phase.name}' (also phases[{seen[phase.name]}])",
            )
        else:
            seen[phase.name] = i
        for j, role in enumerate(phase.roles):
            if role not in declared:
                report(
                    f"phases[{i}].roles[{j}]",
                    f"role '{role}' is not declared in [agent] roles{suggest(role, declared)} "
                    f"(declared: {', '.join(declared)})",
                )


def _scheduled_faults(cfg: Config, report: Report) -> None:
    by_name = {p.name: p for p in cfg.phases}
    for i, fault in enumerate(cfg.simulation.faults.scheduled):
        path = f"simulation.faults.scheduled[{i}]"
        phase = by_name.get(fault.phase)
        if phase is None:
            report(
                join_key(path, "phase"),
                f"no phase named '{fault.phase}'{suggest(fault.phase, by_name)} "
                f"(phases: {', '.join(by_name)})",
            )
        elif fault.at_minutes >= phase.duration_minutes > 0:
            report(
                join_key(path, "at_minutes"),
                f"must be within the phase: less than {phase.name}'s duration_minutes "
                f"({phase.duration_minutes:g}), got {fault.at_minutes:g}",
            )


def reporter(
    problems: list[Problem],
    origins: dict[str, tuple[str, int | None]],
    fallback: Callable[[str], tuple[str, int | None]],
) -> Report:
    """A ``Report`` that files each problem under the source its key came from."""

    def report(path: str, message: str) -> None:
        source, line = origins.get(path) or fallback(path)
        problems.append(Problem(source, path, message, line))

    return report
