"""What ``supervisor daemon status`` shows: the daemon, its schedules (last and next run),
queued runs, running sessions and resume attempts, from its state file and test_runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from supervisor.clock import Clock
from supervisor.daemon.pidfile import daemon_pid
from supervisor.daemon.running import running_sessions
from supervisor.daemon.schedules import ScheduleSpec, load_schedules
from supervisor.daemon.state import load_state, parse_iso, state_path
from supervisor.errors import SupervisorError


def daemon_status(test_runs: Path, now_wall: float | None = None) -> dict[str, Any]:
    now = Clock().wall() if now_wall is None else now_wall
    pid = daemon_pid(test_runs)
    state = load_state(test_runs)
    sessions = []
    for r in running_sessions(test_runs, state.runs):
        row = r.info.row() if r.info else {
            "session_id": r.session_id, "status": "starting", "phase": None,
            "progress_percent": None, "pid": r.pid, "age_seconds": None,
            "path": str(Path(test_runs) / r.session_id)}
        sessions.append({**row, "agents": r.agents})
    schedules = []
    for name, rec in state.schedules.items():
        schedules.append({"name": name, "trigger": rec.trigger, "last_fire": rec.last_fire,
                          "last_run": rec.last_run, "last_outcome": rec.last_outcome,
                          "next_fire": rec.next_fire,
                          "next_in_seconds": _until(rec.next_fire, now)})
    for spec in _file_schedules(state.daemon.get("schedules_file")):
        if spec.name not in state.schedules:  # disabled, or never run by a daemon yet
            schedules.append({"name": spec.name, "trigger": spec.trigger_text,
                              "last_fire": None, "last_run": None,
                              "last_outcome": "" if spec.enabled else "disabled",
                              "next_fire": None, "next_in_seconds": None})
    return {
        "daemon": {"running": pid is not None, "pid": pid if pid and pid > 0 else None,
                   **{k: v for k, v in state.daemon.items() if k != "pid"},
                   "state_file": str(state_path(test_runs)),
                   "has_state": state_path(test_runs).exists()},
        "reload": state.reload,
        "schedules": schedules,
        "queued": [{"run": r.run_id, "agents": r.agents} for r in state.queued()],
        "running_sessions": sessions,
        "recent_runs": [{"run": r.run_id, "session": r.session_id, "state": r.state,
                         "session_status": r.session_status, "exit_code": r.exit_code,
                         "error": r.error} for r in state.runs[-10:]],
        "recoveries": [{"session": k, "attempts": v.attempts, "gave_up": v.gave_up}
                       for k, v in state.recoveries.items()],
    }


def _file_schedules(path: str | None) -> list[ScheduleSpec]:
    if not path:
        return []
    try:
        return list(load_schedules(Path(path)).schedules)
    except SupervisorError:
        return []


def _until(iso_text: str | None, now: float) -> float | None:
    if not iso_text:
        return None
    return round(parse_iso(iso_text).timestamp() - now, 1)


def _when(iso_text: str | None) -> str:
    return iso_text[:16].replace("T", " ") if iso_text else "-"


def _rel(seconds: float | None) -> str:
    if seconds is None:
        return ""
    days, rest = divmod(int(abs(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    text = (f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m" if hours
            else f"{rest // 60}m {rest % 60}s" if rest >= 60 else f"{rest}s")
    return f"in {text}" if seconds >= 0 else f"{text} overdue"


def render_status(report: dict[str, Any], console: Console | None = None) -> None:
    out = console or Console()
    d = report["daemon"]
    if d["running"]:
        out.print(f"daemon: running (pid {d['pid']}) since {_when(d.get('started'))} UTC; "
                  f"schedules from {d.get('schedules_file', '?')}")
    elif d["has_state"]:
        out.print(f"daemon: not running (stopped {_when(d.get('stopped'))} UTC); the next "
                  "runs below are as of its last save")
    else:
        out.print("daemon: not running, and it has never run for this test_runs directory")
    rl = report["reload"]
    if rl.get("count"):
        out.print(f"last reload {_when(rl.get('time'))} UTC: "
                  + ("ok" if rl.get("ok") else f"FAILED, old schedules kept: {rl.get('error')}"))
    if report["schedules"]:
        t = Table(box=None, header_style="bold", title="schedules", title_justify="left")
        for col in ("schedule", "when", "last run (UTC)", "next run (UTC)", ""):
            t.add_column(col, no_wrap=col != "when")
        for s in report["schedules"]:
            trig = (s["trigger"] or "-").removeprefix("cron ").strip("'")
            last = _when(s["last_fire"]) + (f" {s['last_outcome']}" if s["last_outcome"] else "")
            t.add_row(s["name"], trig, last, _when(s["next_fire"]), _rel(s["next_in_seconds"]))
        out.print(t)
    if report["queued"]:
        out.print("queued: " + ", ".join(f"{q['run']} ({q['agents']} agents)"
                                         for q in report["queued"]))
    rows = report["running_sessions"]
    if rows:
        t = Table(box=None, header_style="bold", title="running sessions", title_justify="left")
        for col in ("session", "status", "phase", "progress", "pid"):
            t.add_column(col)
        for r in rows:
            pct = r.get("progress_percent")
            t.add_row(r["session_id"], r["status"], r.get("phase") or "-",
                      f"{pct:.1f}%" if isinstance(pct, int | float) else "-", str(r["pid"]))
        out.print(t)
    else:
        out.print("running sessions: none")
    for rec in report["recoveries"]:
        out.print(f"resumed {rec['session']}: {rec['attempts']} attempt(s)"
                  + (" - gave up, marked failed" if rec["gave_up"] else ""))
