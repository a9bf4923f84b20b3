"""One supervisor per session: ``.supervisor.lock`` (flock) and ``supervisor.pid``
(see ``pidlock.py``)."""

from __future__ import annotations

from supervisor.control.signals import ignore_quiet_signals
from supervisor.session import pidlock
from supervisor.session.layout import SessionLayout


class SessionLock(pidlock.PidLock):
    def __init__(self, layout: SessionLayout):
        self.layout = layout
        super().__init__(
            layout.lockfile, layout.pidfile,
            lambda pid: f"session {layout.session_id} is already supervised"
                        + (f" by pid {pid}" if pid else ""),
            # from the moment the pid is announced, `supervisor status` (SIGUSR1) may arrive
            before_pidfile=ignore_quiet_signals)

    def __enter__(self) -> SessionLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_pid(layout: SessionLayout) -> int | None:
    return pidlock.read_pid(layout.pidfile)


def stale_pid(layout: SessionLayout) -> int | None:
    """The pid a pidfile names although nobody holds the session's lock (the supervisor
    died without cleaning up; the pid may even belong to another process by now)."""
    pid = read_pid(layout)
    if pid is None or supervisor_pid(layout) is not None:
        return None
    return pid


def supervisor_pid(layout: SessionLayout) -> int | None:
    """The pid of the live supervisor of this session, or None when nobody holds it."""
    return pidlock.holder_pid(layout.lockfile, layout.pidfile)
