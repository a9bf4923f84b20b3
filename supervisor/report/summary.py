"""The final report (``final_report.json``, schema 1) built from a recorded session.

Everything here is computed from ``SessionRecord`` (journal replay, metrics history, the
final test run, the ``quality`` records) plus the verification of the checkpoint files,
never from the live process, so ``supervisor report`` on a finished or crashed session
gives the same numbers as the session itself wrote. ``build_report`` is pure;
``report_for`` does the I/O (checkpoint verification, and the build and security checks
when the journal has none: see ``checks.py``).

Sections (``supervisor/report/sample.py`` is a complete example): session, status,
config_summary, duration, phases, totals, agents, code (LOC, tests, build, security),
timeline, series, checkpoints (with ``valid``), failures (the error log), recovery (per
failure type), interventions, criteria, verdict, efficiency, cost, recommendations.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervisor import __version__
from supervisor.config import config_hash
from supervisor.plan import plan_phases, total_seconds
from supervisor.report import criteria as crit
from supervisor.report import efficiency as eff
from supervisor.report.checks import (
    CHECK_TIMEOUT_S,
    checkpoint_validity,
    quality_checks,
    verify_checkpoint_files,
)
from supervisor.report.record import RECOVERED, SessionRecord, load_record, pair_failures
from supervisor.session.files import write_json_atomic
from supervisor.session.layout import SessionLayout

SCHEMA_VERSION = 1
SERIES_KEYS = ("total_tokens", "tool_calls", "lines_of_code", "test_coverage",
               "errors_encountered", "tokens_per_minute")
QUALITY_CHECKS = ("build", "security")


def build_report(rec: SessionRecord, status: str | None = None,
                 quality: Mapping[str, Mapping[str, Any]] | None = None,
                 checkpoint_files: Mapping[int, Mapping[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """The whole report. ``quality``: build/security results (default: the recorded ones);
    ``checkpoint_files``: verified files by number (None: not verified)."""
    cfg = rec.cfg
    c = rec.counters
    plan = plan_phases(cfg)
    session_seconds = rec.last_t
    status = status or rec.status
    quality = dict(rec.quality if quality is None else quality)
    agents = [_agent(aid, a, session_seconds) for aid, a in sorted(c.agents.items())]
    failures = pair_failures(rec.incidents,
                             {r.failure: r.severity for r in cfg.recovery.rules})
    if checkpoint_files is None:
        checkpoints = [{**x, "valid": None, "error": "not verified"} for x in rec.checkpoints]
    else:
        checkpoints = checkpoint_validity(rec.checkpoints, checkpoint_files,
                                          cfg.checkpoint.keep_last)
    code = _code(rec, quality)
    facts = crit.Facts(
        status=status, session_seconds=session_seconds, wall_seconds=rec.wall_seconds,
        tokens=c.tokens, prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
        tool_calls=c.tool_calls, tool_calls_failed=c.tool_calls_failed,
        tasks_completed=c.tasks_completed, restarts=c.restarts, garbage_lines=c.garbage_lines,
        lines_of_code=code["lines_of_code"], tests=rec.final_tests,
        build=quality.get("build"), security=quality.get("security"),
        checkpoints_enabled=cfg.checkpoint.enabled or bool(rec.checkpoints),
        checkpoints=checkpoints, checkpoint_failures=len(rec.checkpoint_failures),
        failures=failures, interventions=rec.interventions,
        critical_bugs=crit.open_critical_bugs(c.memory), trust=crit.trust_scores(c.memory),
        agents=agents)
    targets = crit.Targets.from_config(cfg)
    criteria = crit.evaluate(facts, targets)
    efficiency = eff.efficiency(facts, targets)
    return {
        "schema_version": SCHEMA_VERSION,
        "session": {
            "id": cfg.session.id, "project_type": cfg.session.project_type,
            "project_name": cfg.project.name, "config_source": cfg.source,
            "config_hash": config_hash(cfg), "supervisor_version": __version__,
            "started_wall": rec.started_wall, "ended_wall": rec.ended_wall,
            "time_scale": cfg.session.time_scale, "seed": cfg.session.seed,
            "hours": cfg.session.duration_hours, "agents": cfg.session.agent_count,
            "resumes": rec.resumes, "journal_skipped_lines": rec.skipped_lines,
        },
        "status": status,
        "config_summary": {
            "hours": cfg.session.duration_hours, "agents": cfg.session.agent_count,
            "roles": list(cfg.agent.roles), "phases": [p.name for p in cfg.phases],
            "token_budget": cfg.limits.total_token_budget,
            "checkpoint_interval_minutes": cfg.checkpoint.interval_minutes,
            "agent_command": list(cfg.agent.command) or ["<simulated agent>"],
        },
        "duration": {"session_seconds": round(session_seconds, 3),
                     "wall_seconds": round(rec.wall_seconds, 3),
                     "planned_session_seconds": total_seconds(plan)},
        "phases": [_phase(p, plan) for p in c.phases],
        "totals": c.totals(),
        "agents": agents,
        "code": code,
        "timeline": rec.timeline,
        "series": _series(rec.history),
        "checkpoints": [_checkpoint(x) for x in checkpoints],
        "checkpoint_failures": [{k: x.get(k) for k in ("t", "trigger", "error")}
                                for x in rec.checkpoint_failures],
        "failures": failures,
        "recovery": recovery_stats(failures),
        "interventions": rec.interventions,
        "criteria": criteria,
        "verdict": crit.verdict(criteria),
        "efficiency": efficiency,
        "cost": eff.cost(facts, cfg.pricing),
        "recommendations": eff.recommendations(facts, targets, criteria, efficiency),
    }


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


def _code(rec: SessionRecord, quality: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    t = rec.final_tests or {}
    return {
        "lines_of_code": t.get("lines_of_code"),
        "loc_by_language": t.get("loc_by_language"),
        "files": t.get("files"),
        "tests": {k: t.get(k) for k in ("passed", "failed", "errors", "skipped", "pass_rate",
                                         "coverage", "duration_s", "exit_code", "timed_out",
                                         "command")}
        if t else None,
        "build": dict(quality["build"]) if "build" in quality else None,
        "security": dict(quality["security"]) if "security" in quality else None,
    }


def _series(history: list[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"t": [h.get("elapsed_seconds") for h in history]}
    names = {"total_tokens": "tokens", "lines_of_code": "loc", "test_coverage": "coverage",
             "errors_encountered": "errors"}
    for k in SERIES_KEYS:
        out[names.get(k, k)] = [h.get(k) for h in history]
    return out


def _checkpoint(x: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("number", "t", "phase", "trigger", "duration_ms", "size_bytes", "files", "held_ms",
            "valid", "error")
    return {k: x.get(k) for k in keys}


def recovery_stats(failures: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per failure type: failures, recovered, rate, mean time to recover (session s)."""
    out: dict[str, dict[str, Any]] = {}
    for f in failures:
        s = out.setdefault(str(f.get("type")), {"failures": 0, "recovered": 0, "_secs": []})
        s["failures"] += 1
        if f.get("outcome") == RECOVERED:
            s["recovered"] += 1
            if isinstance(f.get("recovery_seconds"), int | float):
                s["_secs"].append(float(f["recovery_seconds"]))
    for s in out.values():
        secs = s.pop("_secs")
        s["rate"] = round(s["recovered"] / s["failures"], 3)
        s["mean_recovery_seconds"] = round(sum(secs) / len(secs), 3) if secs else None
    return dict(sorted(out.items()))


def write_report(layout: SessionLayout, report: dict[str, Any], html: bool = True) -> None:
    write_json_atomic(layout.final_report_json, report)
    if html:
        from supervisor.report.html import write_html

        write_html(report, layout.final_report_html)


def gather_quality(rec: SessionRecord, measure: bool) -> dict[str, dict[str, Any]]:
    """The recorded checks; the missing ones measured now (``"when": "report"``) if asked."""
    quality = dict(rec.quality)
    missing = [k for k in QUALITY_CHECKS if k not in quality]
    if missing and measure:
        timeout = min(CHECK_TIMEOUT_S, rec.cfg.limits.max_test_runtime_min * 60)
        for result in quality_checks(rec.layout.project_dir, timeout):
            if result["check"] in missing:
                quality[result["check"]] = {**result, "when": "report"}
    return quality


def report_for(root: Path, status: str | None = None, measure: bool = True) -> dict[str, Any]:
    """Load, verify and build: the report of the session in ``root``."""
    rec = load_record(root)
    return build_report(rec, status, gather_quality(rec, measure),
                        verify_checkpoint_files(rec.layout))
