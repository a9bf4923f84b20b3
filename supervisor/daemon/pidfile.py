"""One daemon per test_runs directory: ``<test_runs>/.daemon.lock`` (flock) and
``<test_runs>/daemon.pid`` (see ``supervisor/session/pidlock.py``)."""

from __future__ import annotations

from pathlib import Path

from supervisor.session import pidlock

LOCK_FILE = ".daemon.lock"
PID_FILE = "daemon.pid"


class DaemonLock(pidlock.PidLock):
    def __init__(self, test_runs: Path) -> None:
        self.test_runs = Path(test_runs)
        super().__init__(self.test_runs / LOCK_FILE, self.test_runs / PID_FILE,
                         lambda pid: f"a daemon already runs for {self.test_runs}"
                                     + (f" (pid {pid})" if pid else ""))

    def acquire(self) -> None:
        self.test_runs.mkdir(parents=True, exist_ok=True)
        super().acquire()


def read_pid(test_runs: Path) -> int | None:
    return pidlock.read_pid(Path(test_runs) / PID_FILE)


def daemon_pid(test_runs: Path) -> int | None:
    """The pid of the live daemon of ``test_runs`` (-1: alive, pid unknown), or None."""
    return pidlock.holder_pid(Path(test_runs) / LOCK_FILE, Path(test_runs) / PID_FILE)
