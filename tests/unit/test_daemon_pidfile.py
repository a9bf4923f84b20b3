"""One daemon per test_runs directory: the lock, the pidfile, and stale pidfiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor.daemon.pidfile import PID_FILE, DaemonLock, daemon_pid
from supervisor.errors import SessionError


def test_second_daemon_is_refused_and_release_frees_the_dir(tmp_path: Path) -> None:
    """While one holds the lock another is refused naming the pid; after release it works."""
    first = DaemonLock(tmp_path / "runs")
    first.acquire()
    assert daemon_pid(tmp_path / "runs") == os.getpid()
    with pytest.raises(SessionError, match=f"already runs .* \\(pid {os.getpid()}\\)"):
        DaemonLock(tmp_path / "runs").acquire()
    first.release()
    assert daemon_pid(tmp_path / "runs") is None
    assert not (tmp_path / "runs" / PID_FILE).exists()
    second = DaemonLock(tmp_path / "runs")
    second.acquire()
    second.release()


def test_stale_pidfile_is_not_a_running_daemon(tmp_path: Path) -> None:
    """A pidfile left by a killed daemon (nobody on the lock) means no daemon."""
    (tmp_path / PID_FILE).write_text("999999\n")
    (tmp_path / ".daemon.lock").write_text("")
    assert daemon_pid(tmp_path) is None
    lock = DaemonLock(tmp_path)
    lock.acquire()
    assert (tmp_path / PID_FILE).read_text().strip() == str(os.getpid())
    lock.release()
