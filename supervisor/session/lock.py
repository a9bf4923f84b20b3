"""One supervisor per session: an flock on ``.supervisor.lock`` held for the life of the
supervisor process, and ``supervisor.pid`` for people and tools. The kernel drops the lock
when the process dies however it dies, so a stale pidfile is recognised as stale."""

from __future__ import annotations

import contextlib
import fcntl
import os

from supervisor.control.signals import ignore_quiet_signals
from supervisor.errors import SessionError
from supervisor.session.files import write_text_atomic
from supervisor.session.layout import SessionLayout


class SessionLock:
    def __init__(self, layout: SessionLayout):
        self.layout = layout
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.layout.lockfile, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(self.layout)
            raise SessionError(
                f"session {self.layout.session_id} is already supervised"
                + (f" by pid {pid}" if pid else "")) from None
        self._fd = fd
        # from the moment the pid is announced, `supervisor status` (SIGUSR1) may arrive
        ignore_quiet_signals()
        write_text_atomic(self.layout.pidfile, f"{os.getpid()}\n", durable=False)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if read_pid(self.layout) == os.getpid():
                os.unlink(self.layout.pidfile)
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> SessionLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_pid(layout: SessionLayout) -> int | None:
    try:
        return int(layout.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def stale_pid(layout: SessionLayout) -> int | None:
    """The pid a pidfile names although nobody holds the session's lock (the supervisor
    died without cleaning up; the pid may even belong to another process by now)."""
    pid = read_pid(layout)
    if pid is None or supervisor_pid(layout) is not None:
        return None
    return pid


def supervisor_pid(layout: SessionLayout) -> int | None:
    """The pid of the live supervisor of this session, or None when nobody holds it."""
    try:
        fd = os.open(layout.lockfile, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_pid(layout) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
