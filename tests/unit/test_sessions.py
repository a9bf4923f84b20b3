"""Finding sessions (id, prefix, path, newest running) and one supervisor per session."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.control.sessions import all_sessions, find_session, fresh_status, info
from supervisor.errors import SessionError, UsageError
from supervisor.session.layout import SessionLayout
from supervisor.session.lock import SessionLock, read_pid, stale_pid, supervisor_pid


@pytest.fixture(autouse=True)
def keep_signal_dispositions() -> Iterator[None]:
    """SessionLock.acquire makes USR1/USR2/HUP harmless; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def make_session(runs: Path, sid: str, status: str = "completed", mtime: float = 0.0,
                 pid: int | None = None) -> SessionLayout:
    root = runs / sid
    root.mkdir(parents=True)
    (root / "config.json").write_text("{}")
    (root / "status").write_text(status + "\n")
    (root / "status.json").write_text(json.dumps(
        {"session_id": sid, "status": status, "updated_wall": 1.0,
         "phase": {"name": "development"}, "progress_percent": 40.0}))
    if pid is not None:
        (root / "supervisor.pid").write_text(f"{pid}\n")
    if mtime:
        os.utime(root / "config.json", (mtime, mtime))
    return SessionLayout(root)


def dead_pid() -> int:
    """A pid no process has: above the kernel's pid_max."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    except OSError:
        return 2**22 + 1


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    d = tmp_path / "runs"
    make_session(d, "mega-20260101-000000-aaaa1111", mtime=1000)
    make_session(d, "mega-20260101-000000-aaaa2222", mtime=2000)
    make_session(d, "other-run", mtime=3000)
    (d / "not-a-session").mkdir()
    return d


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("other-run", "other-run"), ("other", "other-run"),
     ("mega-20260101-000000-aaaa2", "mega-20260101-000000-aaaa2222")],
)
def test_find_by_id_or_unique_prefix(runs: Path, ref: str, expected: str) -> None:
    """An exact id or a unique prefix of one names the session."""
    assert find_session(runs, ref).session_id == expected


def test_ambiguous_prefix_lists_the_candidates(runs: Path) -> None:
    """A prefix of several ids is a usage error listing them."""
    with pytest.raises(UsageError) as err:
        find_session(runs, "mega-")
    assert "matches 2 sessions" in str(err.value) and "aaaa1111" in str(err.value)


def test_unknown_id_is_a_usage_error(runs: Path) -> None:
    """An id that is nowhere is a usage error naming the test-runs directory."""
    with pytest.raises(UsageError) as err:
        find_session(runs, "nope")
    assert "nope" in str(err.value) and str(runs) in str(err.value)


def test_find_by_path_even_outside_test_runs(runs: Path, tmp_path: Path) -> None:
    """A path to a session directory works wherever it is; a plain directory is refused."""
    elsewhere = make_session(tmp_path / "else", "moved")
    assert find_session(runs, str(elsewhere.root)).session_id == "moved"
    with pytest.raises(UsageError):
        find_session(runs, str(runs / "not-a-session"))


def test_omitted_is_the_newest_running(runs: Path) -> None:
    """No SESSION: the newest running one; none running is a usage error."""
    with pytest.raises(UsageError) as err:
        find_session(runs, None)
    assert "no running session" in str(err.value)
    older = SessionLock(SessionLayout(runs / "mega-20260101-000000-aaaa1111"))
    newer = SessionLock(SessionLayout(runs / "mega-20260101-000000-aaaa2222"))
    with older, newer:
        found = find_session(runs, None)
        assert found.session_id == "mega-20260101-000000-aaaa2222"
        assert found.alive and found.pid == os.getpid()
    with older:
        assert find_session(runs, None).session_id == "mega-20260101-000000-aaaa1111"


def test_listing_is_oldest_first_with_rows(runs: Path) -> None:
    """all_sessions lists session directories only, oldest first, with their status row."""
    rows = [s.row() for s in all_sessions(runs)]
    assert [r["session_id"] for r in rows] == [
        "mega-20260101-000000-aaaa1111", "mega-20260101-000000-aaaa2222", "other-run"]
    assert rows[0]["phase"] == "development" and rows[0]["progress_percent"] == 40.0
    assert rows[0]["pid"] is None and rows[0]["status"] == "completed"


def test_second_supervisor_is_refused_naming_the_first(tmp_path: Path) -> None:
    """While one supervisor holds a session, another acquire fails with its pid."""
    layout = make_session(tmp_path, "s", status="running")
    with SessionLock(layout):
        assert read_pid(layout) == os.getpid() and supervisor_pid(layout) == os.getpid()
        with pytest.raises(SessionError) as err:
            SessionLock(layout).acquire()
        assert f"pid {os.getpid()}" in str(err.value)
    assert supervisor_pid(layout) is None and not layout.pidfile.exists()


@pytest.mark.parametrize("pid", ["dead", "reused"])
def test_stale_pidfile_is_recognised_and_does_not_block(tmp_path: Path, pid: str) -> None:
    """A pidfile left by a dead supervisor (its pid gone, or reused by another process) is
    stale: the session reads as crashed, and a new supervisor takes it over."""
    value = dead_pid() if pid == "dead" else os.getppid()
    layout = make_session(tmp_path, "s", status="running", pid=value)
    found = info(layout.root)
    assert not found.alive and found.stale_pid == value
    assert found.effective_status == "crashed" and found.row()["stale_pid"] == value
    assert stale_pid(layout) == value
    with SessionLock(layout):
        assert read_pid(layout) == os.getpid() and stale_pid(layout) is None


def test_fresh_status_of_a_dead_session_is_its_last_status(tmp_path: Path) -> None:
    """A session nobody runs is not signalled: its last status.json is the answer."""
    layout = make_session(tmp_path, "s", status="running", pid=dead_pid())
    snap = fresh_status(info(layout.root))
    assert snap is not None and snap["status"] == "running" and snap["updated_wall"] == 1.0
