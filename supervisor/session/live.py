"""What a running session shows: progress, ETA, health and the ``status.json`` snapshot.

Progress is by session time (pauses, phase changes and wind-down excluded) against the
phase plan. The ETA is what is left of the plan, in session seconds, and in wall seconds
at the pace the session has really kept so far (wall seconds per session second, paused
time left out, never faster than the time scale): so phase changes and checkpoints, which
take real time, are allowed for, and a pause moves the finish time back by its length.
While paused the finish time is unknown (``finish_wall`` is null).

``progress``, ``phase_rows`` and ``eta`` are pure; the snapshot reads the runner's state.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from supervisor.metrics import health_score

if TYPE_CHECKING:
    from supervisor.plan import PlannedPhase
    from supervisor.runner import SessionRunner

SCHEMA_VERSION = 1
PACE_MIN_SESSION_S = 60.0  # below this much session time the observed pace means little
PACE_MIN_FRACTION = 0.02


def progress_of(elapsed_s: float, total_s: float) -> float:
    return min(1.0, max(0.0, elapsed_s / total_s)) if total_s > 0 else 1.0


def phase_rows(plan: Sequence[PlannedPhase], current: int | None,
               elapsed_s: float) -> list[dict[str, Any]]:
    """Each phase of the plan with its own progress and state (done, running, pending)."""
    rows = []
    for p in plan:
        dur = p.end_s - p.start_s
        done = progress_of(elapsed_s - p.start_s, dur) if dur > 0 else float(elapsed_s >= p.end_s)
        if current is not None and p.index < current:
            state, done = "done", 1.0
        elif current is not None and p.index == current:
            state = "done" if elapsed_s >= p.end_s else "running"
        elif current is None and elapsed_s >= p.end_s:
            state = "done"
        else:
            state, done = "pending", 0.0
        rows.append({"index": p.index, "name": p.name, "start_s": p.start_s, "end_s": p.end_s,
                     "state": state, "progress": round(done, 4)})
    return rows


def eta(total_s: float, elapsed_s: float, time_scale: float, wall_running_s: float,
        paused: bool, now_wall: float) -> dict[str, Any]:
    """Time left of the plan. ``wall_running_s``: wall seconds this supervisor has run the
    session, paused time excluded. The pace (wall per session second) is the observed one
    once enough session time has passed, else ``1 / time_scale``."""
    left = max(0.0, total_s - elapsed_s)
    nominal = 1.0 / time_scale if time_scale > 0 else 1.0
    pace = nominal
    observed = False
    if elapsed_s >= max(PACE_MIN_SESSION_S, PACE_MIN_FRACTION * total_s) and wall_running_s > 0:
        pace = max(nominal, wall_running_s / elapsed_s)
        observed = True
    wall_left = left * pace
    return {
        "session_seconds_left": round(left, 1),
        "wall_seconds_left": round(wall_left, 1),
        "pace": round(pace, 6),
        "pace_observed": observed,
        "finish_wall": None if paused else round(now_wall + wall_left, 1),
        "on_hold": paused,
    }


def progress(r: SessionRunner) -> float:
    return progress_of(r.timer.elapsed(), r.total_s)


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


def paused_wall(r: SessionRunner) -> tuple[float | None, float]:
    """(since when the session is paused, or None; wall seconds paused before that)."""
    since = getattr(r, "paused_since_wall", None) if r.paused else None
    return since, float(getattr(r, "paused_wall_total", 0.0) or 0.0)


def _agents(r: SessionRunner, elapsed: float) -> list[dict[str, Any]]:
    c = r.counters
    out = []
    for aid, a in c.agents.items():
        host = r.hosts.get(aid)
        last = a.last_activity_t
        active = c.active_seconds(aid, elapsed)
        out.append({
            "id": aid, "role": a.role, "state": str(host.state) if host else "idle",
            "pid": host.pid if host else None, "model": host.model if host else None,
            "tokens": a.tokens, "tool_calls": a.tool_calls, "tasks_completed": a.tasks_completed,
            "errors": a.errors, "restarts": a.restarts,
            "utilization": round(min(1.0, active / elapsed), 3) if elapsed > 0 else 0.0,
            "idle_seconds": round(elapsed - last, 1) if last is not None else None,
            **r.resources.get(aid, {}),
        })
    return out


def status_snapshot(r: SessionRunner) -> dict[str, Any]:
    elapsed = r.timer.elapsed()
    now_wall = r.clock.wall()
    ph = r.phase
    c = r.counters
    phases = phase_rows(r.plan, ph.index if ph is not None else None, elapsed)
    phase: dict[str, Any] = {}
    if ph is not None:
        phase = {"index": ph.index, "name": ph.name, "of": len(r.plan),
                 "progress": phases[ph.index]["progress"] if ph.index < len(phases) else 1.0,
                 "start_s": ph.start_s, "end_s": ph.end_s,
                 "session_seconds_left": round(max(0.0, ph.end_s - elapsed), 1)}
    since, paused_before = paused_wall(r)
    paused_now = now_wall - since if since is not None else 0.0
    wall = r.timer.wall_elapsed()
    score, parts = health(r)
    minutes = elapsed / 60.0
    inbox = getattr(r, "signal_inbox", None)
    http = getattr(r, "http", None)
    return {
        "schema_version": SCHEMA_VERSION,
        "session_id": r.session_id,
        "status": str(r.status),
        "pid": os.getpid(),
        "project_type": r.cfg.session.project_type,
        "time_scale": r.cfg.session.time_scale,
        "phase": phase,
        "phases": phases,
        "elapsed_seconds": round(elapsed, 1),
        "planned_seconds": r.total_s,
        "wall_seconds": round(wall, 1),
        "progress_percent": round(100 * progress_of(elapsed, r.total_s), 2),
        "eta": eta(r.total_s, elapsed, r.cfg.session.time_scale,
                   wall - paused_before - paused_now, r.paused, now_wall),
        "paused": r.paused,
        "paused_since_wall": round(since, 3) if since is not None else None,
        "paused_wall_seconds": round(paused_before + paused_now, 1),
        "totals": c.totals(),
        "tokens_per_minute": r.recorder.last.get("tokens_per_minute"),
        "tool_calls_per_minute": round(c.tool_calls / minutes, 1) if minutes > 0 else 0.0,
        "lines_of_code": r.loc,
        "health": {"score": score, "parts": parts},
        "last_checkpoint": r.checkpoints.last,
        "recent_errors": r.recent_errors[-10:],
        "recovery": r.recovery.status_view() if getattr(r, "recovery", None) else None,
        "agents": _agents(r, elapsed),
        "control": {"http_url": getattr(http, "url", None),
                    "signals": inbox.stats() if inbox is not None else None},
        "updated_wall": round(now_wall, 3),
    }


def status_line(snap: dict[str, Any]) -> dict[str, Any]:
    """The fields of the ``status`` log line (SIGUSR1) from a snapshot."""
    ph = snap.get("phase") or {}
    tot = snap.get("totals") or {}
    eta_ = snap.get("eta") or {}
    return {"status": snap.get("status"), "phase": ph.get("name"),
            "progress": snap.get("progress_percent"),
            "session_seconds": snap.get("elapsed_seconds"),
            "eta_wall_seconds": eta_.get("wall_seconds_left"),
            "tokens": tot.get("tokens"), "tool_calls": tot.get("tool_calls"),
            "errors": tot.get("errors"), "health": (snap.get("health") or {}).get("score"),
            "agents": {a["id"]: a["state"] for a in snap.get("agents") or []}}
