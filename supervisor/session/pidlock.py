"""A process lock: an flock on a lock file held for the life of the process, plus a pidfile
for people and tools. The kernel drops the lock however the process dies, so a pidfile
left behind by a killed process is recognised as stale. Used for sessions (one supervisor
each) and for the daemon (one per test_runs directory)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from supervisor.errors import SessionError
from supervisor.session.files import write_text_atomic


class PidLock:
    def __init__(self, lock_path: Path, pid_path: Path, busy_message: Callable[[int | None], str],
                 before_pidfile: Callable[[], None] | None = None):
        self.lock_path = Path(lock_path)
        self.pid_path = Path(pid_path)
        self.busy_message = busy_message  # pid of the holder (if known) -> error text
        self.before_pidfile = before_pidfile
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SessionError(self.busy_message(read_pid(self.pid_path))) from None
        self._fd = fd
        if self.before_pidfile is not None:
            self.before_pidfile()
        write_text_atomic(self.pid_path, f"{os.getpid()}\n", durable=False)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if read_pid(self.pid_path) == os.getpid():
                os.unlink(self.pid_path)
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd = None


def read_pid(pid_path: Path) -> int | None:
    try:
        return int(Path(pid_path).read_text().strip())
    except (OSError, ValueError):
        return None


def holder_pid(lock_path: Path, pid_path: Path) -> int | None:
    """The pid of the live holder of the lock (-1: alive, pid unknown), or None."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_pid(pid_path) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
