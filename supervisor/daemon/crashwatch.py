"""Crash watch: sessions whose status says running but whose supervisor is dead are
resumed (``supervisor resume SESSION --quiet``, detached), at most
``max_recovery_attempts`` times per session, counted on disk in the daemon state. Past
that, the session's status is set to ``failed`` and an alert goes out.

``plan`` is the pure decision; ``CrashWatch.check`` finds the sessions and carries it out.
An attempt is recorded (and saved) before the resume process starts, so a daemon that
dies right then cannot resume the same crash twice without counting it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor import logs
from supervisor.control.sessions import all_sessions
from supervisor.daemon.launcher import Launched, launch_resume, process_alive
from supervisor.daemon.schedules import CrashWatchSpec
from supervisor.daemon.state import DaemonState, RecoveryRecord
from supervisor.session.layout import SessionLayout
from supervisor.session.status import read_status_json, write_status

log = logs.get("daemon.crashwatch")


@dataclass(frozen=True)
class Crashed:
    session_id: str
    root: Path
    last_update_wall: float  # when its status last changed


def plan(crashed: Crashed, rec: RecoveryRecord | None, spec: CrashWatchSpec, now_wall: float,
         resume_running: bool) -> str:
    """``wait`` (a resume we started is still coming up), ``stale`` (too old to bring back),
    ``give_up`` (attempts used up), or ``resume``."""
    if resume_running:
        return "wait"
    if rec is not None and rec.gave_up:
        return "wait"
    age = now_wall - crashed.last_update_wall
    if spec.max_age_hours > 0 and age > spec.max_age_hours * 3600:
        return "stale"
    if (rec.attempts if rec else 0) >= spec.max_recovery_attempts:
        return "give_up"
    return "resume"


def find_crashed(test_runs: Path) -> list[Crashed]:
    """Sessions whose status word says they run while nobody holds their lock."""
    out = []
    for s in all_sessions(test_runs):
        if s.effective_status != "crashed":
            continue
        try:
            updated = os.stat(s.layout.status).st_mtime
        except OSError:
            updated = s.mtime
        out.append(Crashed(s.session_id, s.layout.root, updated))
    return out


def mark_failed(root: Path, reason: str) -> None:
    """Set a dead session's status to ``failed`` (the word and status.json)."""
    layout = SessionLayout(root)
    snap = read_status_json(root)
    if snap is not None:
        snap = {**snap, "status": "failed", "failed_reason": reason}
    write_status(layout, "failed", snap)


class CrashWatch:
    def __init__(self, test_runs: Path, state: DaemonState, spec: CrashWatchSpec,
                 save: Callable[[], None], alert: Callable[[str, dict[str, Any]], None],
                 launch: Callable[[Path, str, int], Launched] = launch_resume) -> None:
        self.test_runs, self.state, self.spec = test_runs, state, spec
        self.save, self.alert, self.launch = save, alert, launch
        self.children: dict[int, Launched] = {}

    def check(self, now_wall: float) -> list[tuple[str, str]]:
        """One pass: what was decided for each crashed session."""
        if not self.spec.enabled:
            return []
        done: list[tuple[str, str]] = []
        for c in find_crashed(self.test_runs):
            rec = self.state.recoveries.get(c.session_id)
            running = rec is not None and process_alive(rec.pid, rec.create_time)
            action = plan(c, rec, self.spec, now_wall, running)
            if action == "resume":
                self._resume(c, now_wall)
            elif action == "give_up":
                self._give_up(c, rec)
            elif action == "stale" and not (rec and rec.skipped_stale):
                log.warning("crashed_session_too_old", session=c.session_id,
                            age_hours=round((now_wall - c.last_update_wall) / 3600, 1),
                            max_age_hours=self.spec.max_age_hours)
                self.state.recoveries.setdefault(c.session_id, RecoveryRecord()).skipped_stale = True
                self.save()
            if action != "wait":
                done.append((c.session_id, action))
        return done

    def _resume(self, c: Crashed, now_wall: float) -> None:
        rec = self.state.recoveries.setdefault(c.session_id, RecoveryRecord())
        rec.attempts += 1
        rec.last_wall, rec.pid, rec.create_time = now_wall, None, None
        self.save()  # the attempt counts before the process starts
        try:
            launched = self.launch(self.test_runs, c.session_id, rec.attempts)
        except OSError as e:
            log.error("resume_launch_failed", session=c.session_id, error=str(e))
            return
        rec.pid, rec.create_time = launched.pid, launched.create_time
        self.children[launched.pid] = launched
        self.save()
        log.warning("session_resumed", session=c.session_id, attempt=rec.attempts,
                    of=self.spec.max_recovery_attempts, pid=launched.pid, out=str(launched.out))

    def _give_up(self, c: Crashed, rec: RecoveryRecord | None) -> None:
        attempts = rec.attempts if rec else 0
        reason = (f"crashed; {attempts} resume attempt(s) used "
                  f"(crash_watch.max_recovery_attempts = {self.spec.max_recovery_attempts})")
        with contextlib.suppress(OSError):
            mark_failed(c.root, reason)
        self.state.recoveries.setdefault(c.session_id, RecoveryRecord()).gave_up = True
        self.save()
        self.alert("session_failed", {"session": c.session_id, "reason": reason,
                                      "path": str(c.root)})

    def reap(self) -> None:
        """Collect exit codes of the resume processes this daemon started."""
        for pid, launched in list(self.children.items()):
            code = launched.proc.poll()
            if code is not None:
                del self.children[pid]
                log.info("resume_process_exited", pid=pid, exit_code=code, out=str(launched.out))
