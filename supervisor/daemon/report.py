"""What ``supervisor daemon status`` shows: the daemon, its schedules (last and next run),
queued runs, running sessions and resume attempts, from its state file and test_runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from supervisor.clock import Clock
from supervisor.control.sessions import all_sessions
from supervisor.daemon.launcher import process_alive
from supervisor.daemon.pidfile import daemon_pid
from supervisor.daemon.state import load_state, parse_iso, state_path


def daemon_status(test_runs: Path, now_wall: float | None = None) -> dict[str, Any]:
    now = Clock().wall() if now_wall is None else now_wall
    pid = daemon_pid(test_runs)
    state = load_state(test_runs)
    sessions = [s.row() for s in all_sessions(test_runs) if s.alive]
    up = {r["session_id"] for r in sessions}
    for run in state.runs:
        if run.state == "launched" and run.session_id not in up \
                and process_alive(run.pid, run.create_time):
            sessions.append({"session_id": run.session_id, "status": "starting", "phase": None,
                             "progress_percent": None, "pid": run.pid, "age_seconds": None,
                             "path": str(Path(test_runs) / run.session_id)})
    schedules = []
    for name, rec in state.schedules.items():
        schedules.append({"name": name, "trigger": rec.trigger, "last_fire": rec.last_fire,
                          "last_run": rec.last_run, "last_outcome": rec.last_outcome,
                          "next_fire": rec.next_fire,
                          "next_in_seconds": _until(rec.next_fire, now)})
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


def _until(iso_text: str | None, now: float) -> float | None:
    if not iso_text:
        return None
    return round(parse_iso(iso_text).timestamp() - now, 1)


def _when(iso_text: str | None) -> str:
    return iso_text[:19].replace("T", " ") + " UTC" if iso_text else "-"


def _rel(seconds: float | None) -> str:
    from supervisor.plan import fmt_duration

    if seconds is None:
        return ""
    days, rest = divmod(abs(seconds), 86400)
    text = (f"{int(days)}d " if days else "") + fmt_duration(rest)
    return f"in {text}" if seconds >= 0 else f"{text} overdue"


def render_status(report: dict[str, Any], console: Console | None = None) -> None:
    out = console or Console()
    d = report["daemon"]
    if d["running"]:
        out.print(f"daemon: running (pid {d['pid']}) since {_when(d.get('started'))}; "
                  f"schedules from {d.get('schedules_file', '?')}")
    elif d["has_state"]:
        out.print(f"daemon: not running (last stopped {_when(d.get('stopped'))}); the next "
                  "runs below are as of its last save")
    else:
        out.print("daemon: not running, and it has never run for this test_runs directory")
    rl = report["reload"]
    if rl.get("count"):
        out.print(f"last reload {_when(rl.get('time'))}: "
                  + ("ok" if rl.get("ok") else f"FAILED, old schedules kept: {rl.get('error')}"))
    if report["schedules"]:
        t = Table(box=None, header_style="bold", title="schedules", title_justify="left")
        for col in ("schedule", "trigger", "last run", "outcome", "next run", ""):
            t.add_column(col)
        for s in report["schedules"]:
            t.add_row(s["name"], s["trigger"] or "-", _when(s["last_fire"]),
                      s["last_outcome"] or "-", _when(s["next_fire"]) if s["next_fire"]
                      else "disabled", _rel(s["next_in_seconds"]))
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
