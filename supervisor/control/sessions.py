"""Finding sessions for the ``supervisor`` verbs: by id, unique prefix, path, or the newest
running one; and what a listing shows of each."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.clock import monotonic, sleep_real, wall_time
from supervisor.errors import UsageError
from supervisor.session.layout import SessionLayout
from supervisor.session.lock import stale_pid, supervisor_pid
from supervisor.session.status import read_status_json, read_status_word


@dataclass
class SessionInfo:
    layout: SessionLayout
    status: str
    pid: int | None  # live supervisor, or None
    snapshot: dict[str, Any] | None
    mtime: float

    @property
    def session_id(self) -> str:
        return self.layout.session_id

    @property
    def alive(self) -> bool:
        return self.pid is not None

    @property
    def effective_status(self) -> str:
        """``running`` with a dead supervisor is reported as ``crashed``."""
        if self.status in ("running", "paused", "recovering", "starting") and not self.alive:
            return "crashed"
        return self.status

    @property
    def stale_pid(self) -> int | None:
        """The pid a leftover pidfile names when no supervisor holds the session."""
        return None if self.alive else stale_pid(self.layout)

    def row(self) -> dict[str, Any]:
        s = self.snapshot or {}
        ph = s.get("phase") or {}
        return {"session_id": self.session_id, "status": self.effective_status,
                "phase": ph.get("name"), "progress_percent": s.get("progress_percent"),
                "pid": self.pid, "stale_pid": self.stale_pid,
                "age_seconds": round(wall_time() - self.mtime, 1),
                "path": str(self.layout.root)}


def is_session_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "events.wal").is_file()


def info(root: Path) -> SessionInfo:
    layout = SessionLayout(root)
    try:
        mtime = (root / "config.json").stat().st_mtime
    except OSError:
        mtime = root.stat().st_mtime if root.exists() else 0.0
    return SessionInfo(layout, read_status_word(root) or "unknown", supervisor_pid(layout),
                       read_status_json(root), mtime)


def all_sessions(test_runs: Path) -> list[SessionInfo]:
    if not test_runs.is_dir():
        return []
    out = [info(p) for p in test_runs.iterdir() if p.is_dir() and is_session_dir(p)]
    out.sort(key=lambda i: i.mtime)
    return out


def find_session(test_runs: Path, ref: str | None, want_running: bool = False) -> SessionInfo:
    """Resolve SESSION: a path, an id, a unique id prefix, or None for the newest running."""
    if ref is None:
        running = [s for s in all_sessions(test_runs) if s.alive]
        if not running:
            hint = "" if want_running else " (name one: `supervisor list` shows them)"
            raise UsageError(f"no running session in {test_runs}{hint}")
        return running[-1]
    path = Path(ref)
    if (os.sep in ref or ref.startswith(".")) and path.is_dir():
        if not is_session_dir(path):
            raise UsageError(f"{ref} is not a session directory")
        return info(path)
    exact = test_runs / ref
    if exact.is_dir() and is_session_dir(exact):
        return info(exact)
    matches = [s for s in all_sessions(test_runs) if s.session_id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no session {ref!r} in {test_runs}")
    raise UsageError(f"{ref!r} matches {len(matches)} sessions: "
                     + ", ".join(m.session_id for m in matches[:5]) + " (give more of the id)")


def fresh_status(found: SessionInfo, timeout: float = 2.0,
                 poll: float = 0.02) -> dict[str, Any] | None:
    """A live session's status, just rewritten: SIGUSR1, then wait (at most ``timeout``
    seconds) for ``status.json`` to change. A session that is not running: its last one."""
    root = found.layout.root
    before = read_status_json(root)
    if not (found.alive and found.pid and found.pid > 0):
        return before
    try:
        os.kill(found.pid, signal.SIGUSR1)
    except OSError:
        return before
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        cur = read_status_json(root)
        if cur and (before is None or cur.get("updated_wall") != before.get("updated_wall")):
            return cur
        sleep_real(poll)
    return read_status_json(root) or before
