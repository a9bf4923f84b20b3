"""The final report (``final_report.json``, schema 1) built from a recorded session.

Everything here is computed from ``SessionRecord`` (journal replay, metrics history, the
final test run), never from the live process, so ``supervisor report`` on a finished or
crashed session gives the same numbers as the session itself wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supervisor import __version__
from supervisor.config import config_hash
from supervisor.plan import plan_phases, total_seconds
from supervisor.report.record import SessionRecord, load_record
from supervisor.session.files import write_json_atomic
from supervisor.session.layout import SessionLayout

SCHEMA_VERSION = 1
SERIES_KEYS = ("total_tokens", "tool_calls", "lines_of_code", "test_coverage",
               "errors_encountered", "tokens_per_minute")


def build_report(rec: SessionRecord, status: str | None = None) -> dict[str, Any]:
    cfg = rec.cfg
    c = rec.counters
    plan = plan_phases(cfg)
    planned = total_seconds(plan)
    session_seconds = rec.last_t
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "session": {
            "id": cfg.session.id, "project_type": cfg.session.project_type,
            "project_name": cfg.project.name, "config_source": cfg.source,
            "config_hash": config_hash(cfg), "supervisor_version": __version__,
            "started_wall": rec.started_wall, "ended_wall": rec.ended_wall,
            "time_scale": cfg.session.time_scale, "seed": cfg.session.seed,
            "hours": cfg.session.duration_hours, "agents": cfg.session.agent_count,
            "resumes": rec.resumes,
        },
        "status": status or rec.status,
        "config_summary": {
            "hours": cfg.session.duration_hours, "agents": cfg.session.agent_count,
            "roles": list(cfg.agent.roles), "phases": [p.name for p in cfg.phases],
            "token_budget": cfg.limits.total_token_budget,
            "checkpoint_interval_minutes": cfg.checkpoint.interval_minutes,
            "agent_command": list(cfg.agent.command) or ["<simulated agent>"],
        },
        "duration": {"session_seconds": round(session_seconds, 3),
                     "wall_seconds": round(rec.wall_seconds, 3),
                     "planned_session_seconds": planned},
        "phases": [_phase(p, plan) for p in c.phases],
        "totals": c.totals(),
        "agents": [_agent(aid, a, session_seconds) for aid, a in sorted(c.agents.items())],
        "code": _code(rec),
        "timeline": rec.timeline,
        "series": _series(rec.history),
        "checkpoints": [_checkpoint(x) for x in rec.checkpoints],
        "failures": _failures(rec),
    }
    return report


def _phase(p: Any, plan: Any) -> dict[str, Any]:
    spec = plan[p.index] if p.index < len(plan) else None
    return {
        "name": p.name, "index": p.index, "planned_seconds": p.planned_seconds,
        "start_t": p.start_t, "end_t": p.end_t, "status": p.status, "agents": p.agents,
        "tokens": p.tokens, "tool_calls": p.tool_calls, "tasks_completed": p.tasks_completed,
        "errors": p.errors, "tests": p.tests,
        "objectives": list(spec.objectives) if spec else [],
        "success_criteria": list(spec.success_criteria) if spec else [],
    }


def _agent(aid: str, a: Any, session_seconds: float) -> dict[str, Any]:
    return {
        "id": aid, "role": a.role, "tokens": a.tokens, "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens, "tool_calls": a.tool_calls,
        "tool_calls_failed": a.tool_calls_failed, "tasks_started": a.tasks_started,
        "tasks_completed": a.tasks_completed, "tasks_failed": a.tasks_failed,
        "errors": a.errors, "restarts": a.restarts, "launches": a.launches,
        "garbage_lines": a.garbage, "active_seconds": round(a.active_seconds, 1),
        "utilization": round(a.active_seconds / session_seconds, 3) if session_seconds else 0.0,
        "models": a.models, "exits": a.exits,
    }


def _code(rec: SessionRecord) -> dict[str, Any]:
    t = rec.final_tests or {}
    return {
        "lines_of_code": t.get("lines_of_code"),
        "loc_by_language": t.get("loc_by_language"),
        "files": t.get("files"),
        "tests": {k: t.get(k) for k in ("passed", "failed", "errors", "skipped", "pass_rate",
                                         "coverage", "duration_s", "exit_code")} if t else None,
    }


def _series(history: list[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"t": [h.get("elapsed_seconds") for h in history]}
    names = {"total_tokens": "tokens", "lines_of_code": "loc", "test_coverage": "coverage",
             "errors_encountered": "errors"}
    for k in SERIES_KEYS:
        out[names.get(k, k)] = [h.get(k) for h in history]
    return out


def _checkpoint(x: dict[str, Any]) -> dict[str, Any]:
    keys = ("number", "t", "phase", "trigger", "duration_ms", "size_bytes", "files", "held_ms")
    return {k: x.get(k) for k in keys}


def _failures(rec: SessionRecord) -> list[dict[str, Any]]:
    out = []
    for f in rec.failures:
        out.append({k: f.get(k) for k in ("t", "agent", "type", "severity", "action", "outcome",
                                          "attempts", "recovery_seconds", "message", "source")})
    return out


def write_report(layout: SessionLayout, report: dict[str, Any]) -> None:
    write_json_atomic(layout.final_report_json, report)
    try:
        from supervisor.report.html import write_html
    except ImportError:
        return
    write_html(report, layout.final_report_html)


def report_for(root: Path, status: str | None = None) -> dict[str, Any]:
    return build_report(load_record(root), status)
