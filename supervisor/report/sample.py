"""Sample final reports (schema version 1) for tests and for working on the HTML page.

``sample_report`` is a realistic six-hour, six-agent session with checkpoints, failures,
recoveries and a pause; ``interrupted_report`` is a session stopped in its first minute,
with almost nothing in it. Both are deterministic for a seed.
"""

from __future__ import annotations

import random
from typing import Any

SCHEMA_VERSION = 1
_PHASES = (("bootstrap", 1.0, 150_000), ("development", 2.0, 200_000),
           ("refinement", 2.0, 180_000), ("finalization", 1.0, 100_000))
_ROLES = ("Architect", "Coder", "Tester", "Reviewer", "Security", "DevOps")
# (at fraction of the session, failure type, severity, action, outcome, attempts)
_FAILURES = (
    (0.07, "network_timeout", "transient", "retry", "recovered", 2),
    (0.19, "rate_limit", "recoverable", "throttle_retry", "recovered", 1),
    (0.28, "parse_failure", "recoverable", "modify_prompt", "recovered", 1),
    (0.36, "llm_error", "recoverable", "switch_model", "recovered", 1),
    (0.47, "agent_hang", "recoverable", "restart_agent", "recovered", 1),
    (0.55, "test_failure", "degraded", "log_continue", "flagged", 1),
    (0.63, "consensus_deadlock", "critical", "escalate", "resumed by operator", 1),
    (0.71, "agent_crash", "fatal", "restore_checkpoint", "recovered", 1),
    (0.84, "memory_pressure", "recoverable", "compress_context", "recovered", 1),
    (0.92, "network_timeout", "transient", "retry", "gave up after 3 attempts", 3),
)


def sample_report(seed: int = 7, hours: float = 6.0, agents: int = 6,
                  time_scale: float = 720.0, step_seconds: float = 30.0) -> dict[str, Any]:
    """A complete, realistic report of a finished session (status ``completed``)."""
    rng = random.Random(seed)
    scale = hours / 6.0
    phases, bounds = _phases(rng, scale, agents)
    end = bounds[-1][1]
    failures = _failures(rng, end, agents)
    checkpoints = _checkpoints(rng, bounds, end)
    series = _series(rng, bounds, failures, end, step_seconds)
    _fill_phases(phases, series)
    agent_rows = _agents(rng, agents, series["tokens"][-1], series["tool_calls"][-1], failures)
    started = 1_767_261_600.0 + rng.randrange(0, 86_400)
    loc = int(series["loc"][-1])
    coverage = series["coverage"][-1]
    tokens = int(series["tokens"][-1])
    return {
        "schema_version": SCHEMA_VERSION,
        "session": {"id": f"mega-20260101-{rng.randrange(100000, 999999)}-{rng.getrandbits(32):08x}",
                    "project_type": "task_queue", "project_name": "Distributed task queue",
                    "config_source": "configs/mega_test_config.toml",
                    "config_hash": f"{rng.getrandbits(64):016x}", "supervisor_version": "0.1.0",
                    "started_wall": started, "ended_wall": started + end / time_scale,
                    "time_scale": time_scale, "seed": seed, "hours": hours, "agents": agents,
                    "resumes": 0},
        "status": "completed",
        "config_summary": {"hours": hours, "agents": agents, "roles": list(_ROLES[:agents]),
                           "phases": [p[0] for p in _PHASES], "token_budget": 5_000_000,
                           "checkpoint_interval_minutes": 30,
                           "agent_command": ["<simulated agent>"]},
        "duration": {"session_seconds": end, "wall_seconds": end / time_scale + 1.8,
                     "planned_session_seconds": hours * 3600},
        "phases": phases,
        "totals": {"tokens": tokens, "prompt_tokens": int(tokens * 0.71),
                   "completion_tokens": tokens - int(tokens * 0.71),
                   "tool_calls": int(series["tool_calls"][-1]), "tool_calls_failed": 37,
                   "tasks_started": 64, "tasks_completed": 58, "tasks_failed": 4,
                   "errors": len(failures), "events": 41_233, "garbage_lines": 12,
                   "checkpoints": len(checkpoints), "restarts": 2},
        "agents": agent_rows,
        "code": {"lines_of_code": loc,
                 "loc_by_language": {"Python": int(loc * 0.82), "TOML": int(loc * 0.03),
                                     "Markdown": int(loc * 0.11), "YAML": int(loc * 0.04)},
                 "files": 47,
                 "tests": {"passed": 212, "failed": 3, "errors": 0, "skipped": 4,
                           "pass_rate": 212 / 215, "coverage": coverage, "duration_s": 14.2,
                           "exit_code": 1, "command": "python -m pytest -q --cov"}},
        "timeline": _timeline(phases, checkpoints, failures, end),
        "series": series,
        "checkpoints": checkpoints,
        "failures": failures,
        "criteria": _criteria(coverage, len(checkpoints), tokens),
        "efficiency": _efficiency(tokens / max(loc, 1), series["tool_calls"][-1] / 58),
        "cost": {"tokens_usd": round(tokens / 1e6 * 3.0, 2), "compute_usd": round(0.31 * hours, 2),
                 "total_usd": round(tokens / 1e6 * 3.0 + 0.31 * hours, 2),
                 "detail": "tokens at $3.00 per million; compute 4 cores + 8 GB at $0.31/h"},
        "recommendations": [
            "Coverage reached 81% but stays under the 90% bonus target: give the Tester role "
            "more of the refinement phase.",
            "One network timeout gave up after 3 attempts: raise the retry budget or the backoff.",
            "A consensus deadlock needed an operator: add a tie-breaker role to the vote.",
        ],
    }


def interrupted_report() -> dict[str, Any]:
    """A session interrupted 42 session-seconds in: a header, one phase start, two samples."""
    return {
        "schema_version": SCHEMA_VERSION,
        "session": {"id": "mega-20260101-000001-0badc0de", "project_type": "task_queue",
                    "project_name": None, "started_wall": 1_767_261_600.0, "ended_wall": None,
                    "time_scale": 1.0, "hours": 6, "agents": 6},
        "status": "interrupted",
        "duration": {"session_seconds": 42.0, "wall_seconds": 42.3,
                     "planned_session_seconds": 21_600},
        "phases": [{"name": "bootstrap", "planned_seconds": 3600, "start_t": 0.0, "end_t": None,
                    "status": "interrupted", "agents": ["architect-1"], "tokens": 812}],
        "totals": {"tokens": 812, "tool_calls": 3, "errors": 0, "checkpoints": 0},
        "agents": [], "code": None,
        "timeline": [{"t": 0.0, "kind": "phase_start", "label": "bootstrap start", "detail": ""},
                     {"t": 42.0, "kind": "stop", "label": "SIGINT", "detail": "stopped by user"}],
        "series": {"t": [0.0, 30.0], "tokens": [0, 812], "tool_calls": [0, 3], "loc": [0, 0],
                   "coverage": [None, None], "errors": [0, 0]},
        "checkpoints": [], "failures": [], "criteria": [], "efficiency": [], "cost": None,
        "recommendations": [],
    }


def _phases(rng: random.Random, scale: float, agents: int
            ) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    phases, bounds, start = [], [], 0.0
    for i, (name, hours, _rate) in enumerate(_PHASES):
        planned = hours * 3600 * scale
        end = start + planned + rng.uniform(-0.02, 0.05) * planned
        members = [f"{role.lower()}-1" for role in _ROLES[: max(1, min(agents, 2 + i * 2))]]
        phases.append({"name": name, "planned_seconds": planned, "start_t": round(start, 1),
                       "end_t": round(end, 1), "status": "completed", "agents": members,
                       "tokens": 0, "tool_calls": 0, "tasks_completed": rng.randrange(6, 20),
                       "errors": 0, "objectives": [f"{name} objective {k + 1}" for k in range(3)],
                       "success_criteria": [f"{name} deliverables reviewed"],
                       "tests": {"passed": 40 * (i + 1), "failed": 3 - min(i, 3),
                                 "coverage": 0.45 + 0.12 * i}})
        bounds.append((round(start, 1), round(end, 1)))
        start = end
    return phases, bounds


def _failures(rng: random.Random, end: float, agents: int) -> list[dict[str, Any]]:
    rows = []
    for frac, kind, severity, action, outcome, attempts in _FAILURES:
        role = _ROLES[rng.randrange(min(agents, len(_ROLES)))]
        rows.append({"t": round(frac * end + rng.uniform(-60, 60), 1), "agent": f"{role.lower()}-1",
                     "type": kind, "severity": severity, "action": action, "outcome": outcome,
                     "attempts": attempts,
                     "recovery_seconds": round(rng.uniform(8, 240) if kind != "consensus_deadlock"
                                               else 1260.0, 1),
                     "message": f"{kind.replace('_', ' ')}: upstream said 'try again' "
                                f"(#{rng.randrange(1000)})", "source": "event"})
    return rows


def _checkpoints(rng: random.Random, bounds: list[tuple[float, float]], end: float
                 ) -> list[dict[str, Any]]:
    marks: list[tuple[float, str]] = [(float(t), "time") for t in range(1800, int(end), 1800)]
    marks += [(b[1], "phase_complete") for b in bounds]
    marks += [(end * 0.41, "tool_calls"), (end * 0.66, "tokens"), (end * 0.5, "forced")]
    rows = []
    for number, (t, trigger) in enumerate(sorted(marks), start=1):
        phase = next((i for i, b in enumerate(bounds) if b[0] <= t <= b[1]), len(bounds) - 1)
        rows.append({"number": number, "t": round(float(t), 1), "phase": _PHASES[phase][0],
                     "trigger": trigger, "duration_ms": rng.randrange(80, 900),
                     "size_bytes": 40_000 + number * rng.randrange(9_000, 30_000),
                     "files": 5 + number * 3, "valid": True, "held_ms": rng.randrange(20, 400)})
    return rows


def _series(rng: random.Random, bounds: list[tuple[float, float]],
            failures: list[dict[str, Any]], end: float, step: float) -> dict[str, list[Any]]:
    t_values = [i * step for i in range(int(end // step) + 1)]
    if t_values[-1] < end:
        t_values.append(round(end, 1))
    tokens, calls, loc, coverage, errors, tpm = [], [], [], [], [], []
    total_tokens = total_calls = 0.0
    pace = 1.0  # slowly wandering activity level, so rates look like a real session
    fail_times = sorted(f["t"] for f in failures)
    for i, t in enumerate(t_values):
        phase = next((k for k, b in enumerate(bounds) if t <= b[1]), len(bounds) - 1)
        dt = t - t_values[i - 1] if i else 0.0
        pace = min(1.8, max(0.3, 0.92 * pace + 0.08 * rng.uniform(0.2, 1.8)))
        rate = _PHASES[phase][2] / 3600 * pace * rng.uniform(0.85, 1.15)
        total_tokens += rate * dt
        total_calls += dt / 60 * 6 * pace
        tokens.append(int(total_tokens))
        calls.append(int(total_calls))
        tpm.append(round(rate * 60, 1))
        progress = t / end
        loc.append(int(3800 * (progress ** 1.4) * (1 + rng.uniform(-0.01, 0.01))))
        measured = t > 2400 and i % 20 == 0
        coverage.append(round(min(0.81, 0.35 + 0.5 * progress), 3) if measured else None)
        errors.append(sum(1 for f in fail_times if f <= t))
    coverage[-1] = 0.81
    return {"t": t_values, "tokens": tokens, "tool_calls": calls, "loc": loc,
            "coverage": coverage, "errors": errors, "tokens_per_minute": tpm}


def _agents(rng: random.Random, count: int, tokens: float, calls: float,
            failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    weights = [rng.uniform(0.6, 1.4) for _ in range(count)]
    for i in range(count):
        role = _ROLES[i % len(_ROLES)]
        agent_id = f"{role.lower()}-{i // len(_ROLES) + 1}"
        share = weights[i] / sum(weights)
        errs = sum(1 for f in failures if f["agent"] == agent_id)
        crashed = any(f["agent"] == agent_id and f["type"] == "agent_crash" for f in failures)
        rows.append({"id": agent_id, "role": role, "tokens": int(tokens * share),
                     "tool_calls": int(calls * share), "tasks_completed": rng.randrange(4, 16),
                     "errors": errs, "restarts": 1 if crashed else 0,
                     "utilization": round(rng.uniform(0.55, 0.97), 3),
                     "models": ["primary-model"] + (["fallback-model"] if i % 3 == 0 else []),
                     "exits": ([{"code": -9, "reason": "crash"}] if crashed else [])
                     + [{"code": 0, "reason": "phase end"}]})
    return rows


def _timeline(phases: list[dict[str, Any]], checkpoints: list[dict[str, Any]],
              failures: list[dict[str, Any]], end: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in phases:
        rows.append({"t": p["start_t"], "kind": "phase_start", "label": f"{p['name']} start",
                     "detail": ""})
        rows.append({"t": p["end_t"], "kind": "phase_end", "label": f"{p['name']} end",
                     "detail": p["status"]})
    for c in checkpoints:
        rows.append({"t": c["t"], "kind": "checkpoint", "label": f"checkpoint {c['number']}",
                     "detail": c["trigger"]})
    for f in failures:
        rows.append({"t": f["t"], "kind": "failure", "label": f["type"], "detail": f["message"]})
        if f["type"] == "consensus_deadlock":
            rows.append({"t": f["t"] + 1, "kind": "pause", "label": "paused",
                         "detail": "waiting for an operator"})
            rows.append({"t": f["t"] + f["recovery_seconds"], "kind": "resume",
                         "label": "resumed", "detail": "supervisor resume"})
        rows.append({"t": round(f["t"] + f["recovery_seconds"], 1), "kind": "recovery",
                     "label": f["action"], "detail": f["outcome"]})
    forced = next(c["t"] for c in checkpoints if c["trigger"] == "forced")
    rows.append({"t": forced - 2, "kind": "command", "label": "checkpoint (signal)",
                 "detail": "SIGUSR2"})
    rows.append({"t": end * 0.6, "kind": "alert", "label": "disk 85% full",
                 "detail": "test_runs partition"})
    rows.append({"t": end, "kind": "session_end", "label": "session end",
                 "detail": "completed"})
    return sorted(rows, key=lambda r: r["t"])


def _fill_phases(phases: list[dict[str, Any]], series: dict[str, list[Any]]) -> None:
    """Per-phase tokens, tool calls and errors: the growth of the cumulative series."""
    for phase in phases:
        inside = [i for i, t in enumerate(series["t"]) if phase["start_t"] <= t <= phase["end_t"]]
        first, last = inside[0], inside[-1]
        for key in ("tokens", "tool_calls", "errors"):
            phase[key] = series[key][last] - series[key][first]


def _criteria(coverage: float, checkpoints: int, tokens: int) -> list[dict[str, Any]]:
    def row(name: str, tier: str, measured: Any, threshold: Any, status: str,
            detail: str = "") -> dict[str, Any]:
        return {"name": name, "tier": tier, "measured": measured, "threshold": threshold,
                "status": status, "detail": detail}

    return [
        row("Session completes without fatal errors", "critical", 0, 0, "pass"),
        row("All checkpoints successfully created", "critical", checkpoints, checkpoints, "pass",
            f"{checkpoints} of {checkpoints} valid"),
        row("Final code compiles and passes tests", "critical", 212 / 215, 1.0, "fail",
            "3 tests failed"),
        row("Recovery from at least 1 failure", "critical", 8, 1, "pass"),
        row("Test coverage ≥ 80%", "important", coverage, 0.8, "pass"),
        row("All critical bugs fixed", "important", None, None, "not_measured",
            "no bug tracker configured"),
        row("Performance within 20% of target", "important", 1.12, 1.2, "pass"),
        row("Security scan clean", "important", 2, 0, "fail", "bandit: 2 medium findings"),
        row("Test coverage ≥ 90%", "bonus", coverage, 0.9, "fail"),
        row("Zero manual interventions", "bonus", 1, 0, "fail", "one escalation"),
        row("Under token budget", "bonus", tokens, 5_000_000, "pass"),
        row("Agent trust scores > 0.8", "bonus", None, 0.8, "not_measured"),
    ]


def _efficiency(tokens_per_loc: float, calls_per_task: float) -> list[dict[str, Any]]:
    def grade(value: float, target: float, good: float, excellent: float) -> str:
        if value < excellent:
            return "excellent"
        if value < good:
            return "good"
        return "target" if value < target else "below"

    return [
        {"name": "Tokens per LOC", "value": round(tokens_per_loc, 1), "unit": "tokens",
         "grade": grade(tokens_per_loc, 500, 300, 200),
         "thresholds": {"target": 500, "good": 300, "excellent": 200}},
        {"name": "Tool calls per task", "value": round(calls_per_task, 1), "unit": "calls",
         "grade": grade(calls_per_task, 50, 30, 20),
         "thresholds": {"target": 50, "good": 30, "excellent": 20}},
        {"name": "Build time", "value": 74.0, "unit": "s", "grade": grade(74, 300, 180, 60),
         "thresholds": {"target": 300, "good": 180, "excellent": 60}},
    ]
