"""What a running session shows: progress, health and the ``status.json`` snapshot.

Pure reads of the runner's state; the runner decides when to write them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from supervisor.metrics import health_score
from supervisor.session.status import eta

if TYPE_CHECKING:
    from supervisor.runner import SessionRunner


def progress(r: SessionRunner) -> float:
    return min(1.0, r.timer.elapsed() / r.total_s) if r.total_s else 1.0


def health(r: SessionRunner) -> tuple[float, dict[str, float]]:
    running = [h for h in r.hosts.values() if h.alive]
    limit = r.cfg.limits.idle_timeout_minutes * 60
    now = r.timer.elapsed()
    idle = 0
    for h in running:
        last = r.counters.agent(h.agent_id).last_activity_t
        if now - (last if last is not None else h.started_t) > limit:
            idle += 1
    return health_score(r.counters, now, progress(r), r.cfg.limits.total_token_budget,
                        len(running), idle)


def status_snapshot(r: SessionRunner) -> dict[str, Any]:
    elapsed = r.timer.elapsed()
    ph = r.phase
    c = r.counters
    phase: dict[str, Any] = {}
    if ph is not None:
        done = (elapsed - ph.start_s) / ph.duration_s if ph.duration_s else 1.0
        phase = {"index": ph.index, "name": ph.name, "of": len(r.plan),
                 "progress": round(min(1.0, max(0.0, done)), 4),
                 "start_s": ph.start_s, "end_s": ph.end_s}
    agents = []
    for aid, a in c.agents.items():
        host = r.hosts.get(aid)
        last = a.last_activity_t
        active = c.active_seconds(aid, elapsed)
        agents.append({
            "id": aid, "role": a.role, "state": str(host.state) if host else "idle",
            "pid": host.pid if host else None, "model": host.model if host else None,
            "tokens": a.tokens, "tool_calls": a.tool_calls, "tasks_completed": a.tasks_completed,
            "errors": a.errors, "restarts": a.restarts,
            "utilization": round(min(1.0, active / elapsed), 3) if elapsed > 0 else 0.0,
            "idle_seconds": round(elapsed - last, 1) if last is not None else None,
            **r.resources.get(aid, {}),
        })
    score, parts = health(r)
    return {
        "schema_version": 1,
        "session_id": r.session_id,
        "status": str(r.status),
        "pid": os.getpid(),
        "project_type": r.cfg.session.project_type,
        "time_scale": r.cfg.session.time_scale,
        "phase": phase,
        "phases": [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s} for p in r.plan],
        "elapsed_seconds": round(elapsed, 1),
        "planned_seconds": r.total_s,
        "wall_seconds": round(r.timer.wall_elapsed(), 1),
        "progress_percent": round(100 * progress(r), 2),
        "eta": eta(r.total_s, elapsed, r.cfg.session.time_scale),
        "paused": r.paused,
        "totals": c.totals(),
        "tokens_per_minute": r.recorder.last.get("tokens_per_minute"),
        "lines_of_code": r.loc,
        "health": {"score": score, "parts": parts},
        "last_checkpoint": r.checkpoints.last,
        "recent_errors": r.recent_errors[-10:],
        "agents": agents,
        "updated_wall": round(r.clock.wall(), 3),
    }
