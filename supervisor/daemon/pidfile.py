"""One daemon per test_runs directory: an flock on ``<test_runs>/.daemon.lock`` held for the
life of the daemon, and ``<test_runs>/daemon.pid`` for people and tools (the pattern of
``supervisor/session/lock.py``). The kernel drops the lock however the daemon dies, so a
stale pidfile is recognised as stale."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from supervisor.errors import SessionError
from supervisor.session.files import write_text_atomic

LOCK_FILE = ".daemon.lock"
PID_FILE = "daemon.pid"


class DaemonLock:
    def __init__(self, test_runs: Path) -> None:
        self.test_runs = Path(test_runs)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.test_runs.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.test_runs / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(self.test_runs)
            raise SessionError(f"a daemon already runs for {self.test_runs}"
                               + (f" (pid {pid})" if pid else "")) from None
        self._fd = fd
        write_text_atomic(self.test_runs / PID_FILE, f"{os.getpid()}\n", durable=False)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if read_pid(self.test_runs) == os.getpid():
                os.unlink(self.test_runs / PID_FILE)
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd = None


def read_pid(test_runs: Path) -> int | None:
    try:
        return int((Path(test_runs) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def daemon_pid(test_runs: Path) -> int | None:
    """The pid of the live daemon of ``test_runs`` (-1: alive, pid unknown), or None."""
    try:
        fd = os.open(Path(test_runs) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_pid(test_runs) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
