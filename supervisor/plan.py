"""The phase plan (pure): which agents run in which phase, when each phase starts and
ends in session time, and the checkpoint schedule. Used by the runner and --dry-run."""

from __future__ import annotations

from dataclasses import dataclass

from supervisor.config.schema import Config


@dataclass(frozen=True)
class AgentSlot:
    agent_id: str
    role: str
    index: int  # 0-based among all agents of the session


@dataclass(frozen=True)
class PlannedPhase:
    index: int
    name: str
    start_s: float  # session seconds from the start of the session
    end_s: float
    agents: tuple[AgentSlot, ...]
    checkpoint_interval_s: float
    objectives: tuple[str, ...] = ()
    success_criteria: tuple[str, ...] = ()
    all_roles_fallback: bool = False  # no agent had a role of the phase: every agent runs

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def assign_agents(cfg: Config) -> tuple[AgentSlot, ...]:
    """Agent i takes role ``roles[i % len(roles)]``; ids are stable: ``coder-2``."""
    roles = cfg.agent.roles or ("Agent",)
    slots = []
    for i in range(cfg.session.agent_count):
        role = roles[i % len(roles)]
        slots.append(AgentSlot(agent_id=f"{_slug(role)}-{i + 1}", role=role, index=i))
    return tuple(slots)


def _slug(role: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in role).strip("-")
    return out or "agent"


def plan_phases(cfg: Config) -> tuple[PlannedPhase, ...]:
    slots = assign_agents(cfg)
    phases = []
    t = 0.0
    for i, spec in enumerate(cfg.phases):
        dur = spec.duration_minutes * 60.0
        if spec.roles:
            wanted = set(spec.roles)
            agents = tuple(s for s in slots if s.role in wanted)
        else:
            agents = slots
        fallback = not agents
        if fallback:
            agents = slots
        interval = spec.checkpoint_interval_minutes or cfg.checkpoint.interval_minutes
        phases.append(
            PlannedPhase(
                index=i,
                name=spec.name,
                start_s=t,
                end_s=t + dur,
                agents=agents,
                checkpoint_interval_s=interval * 60.0,
                objectives=spec.objectives,
                success_criteria=spec.success_criteria,
                all_roles_fallback=fallback,
            )
        )
        t += dur
    return tuple(phases)


def total_seconds(plan: tuple[PlannedPhase, ...]) -> float:
    return plan[-1].end_s if plan else 0.0


def locate(plan: tuple[PlannedPhase, ...], elapsed: float) -> int:
    """Index of the phase that session time ``elapsed`` falls in (len(plan) when past the end)."""
    for p in plan:
        if elapsed < p.end_s:
            return p.index
    return len(plan)


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m" if not s else f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s" if s else f"{m}m"
    return f"{s}s"


def render_plan(cfg: Config, session_id: str) -> str:
    """The text ``run_mega_test --dry-run`` prints."""
    plan = plan_phases(cfg)
    total = total_seconds(plan)
    scale = cfg.session.time_scale
    lines = [
        f"session     {session_id}",
        f"config      {cfg.source}",
        f"project     {cfg.session.project_type} ({cfg.project.name}, "
        f"target {cfg.project.target.lines_of_code:,} LOC)",
        f"duration    {fmt_duration(total)} session time"
        + (f", {fmt_duration(total / scale)} wall at time scale {scale:g}" if scale != 1 else ""),
        f"agents      {cfg.session.agent_count}: "
        + ", ".join(f"{s.agent_id}" for s in assign_agents(cfg)),
        "agent cmd   "
        + (" ".join(cfg.agent.command) if cfg.agent.command else "simulated agent (python -m supervisor.agents.sim)"),
        "",
        "phases:",
    ]
    for p in plan:
        note = "  (no agent has a role of this phase: all agents)" if p.all_roles_fallback else ""
        lines.append(
            f"  {p.index + 1}. {p.name:<14} {fmt_duration(p.start_s):>8} -> {fmt_duration(p.end_s):<8}"
            f" ({fmt_duration(p.duration_s)}), {len(p.agents)} agents: "
            + ", ".join(s.agent_id for s in p.agents)
            + note
        )
    ck = cfg.checkpoint
    lines += ["", "checkpoints:"]
    if not ck.enabled:
        lines.append("  disabled")
    else:
        for p in plan:
            n = int(p.duration_s // p.checkpoint_interval_s) if p.checkpoint_interval_s > 0 else 0
            lines.append(
                f"  {p.name:<14} every {fmt_duration(p.checkpoint_interval_s)} ({n} timed) + at phase end"
            )
        lines.append(
            f"  also every {ck.tool_call_threshold:,} tool calls and every {ck.token_threshold:,} tokens;"
            f" keep last {ck.keep_last} + phase ends"
        )
    lim = cfg.limits
    lines += [
        "",
        "budgets:",
        f"  tokens      {lim.total_token_budget:,} total (alert at {lim.budget_alert_fraction:.0%}),"
        f" {lim.tokens_per_agent_per_hour:,}/agent/hour",
        f"  tool calls  {lim.tool_calls_per_agent_per_hour:,}/agent/hour",
        f"  context     {lim.max_context_size:,} tokens/agent",
        f"  disk        {lim.disk_space_limit_gb:g} GB for the session directory",
        f"  idle        {lim.idle_timeout_minutes:g} min before an agent counts as hung",
        f"  tests       {lim.max_test_runtime_min:g} min max test runtime",
    ]
    return "\n".join(lines)
