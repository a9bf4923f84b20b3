"""Crash watch: which dead sessions are resumed, waited for, left alone or given up on."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor.daemon.crashwatch import Crashed, CrashWatch, find_crashed, plan
from supervisor.daemon.schedules import CrashWatchSpec
from supervisor.daemon.state import DaemonState, RecoveryRecord, load_state, save_state

NOW = 1_800_000_000.0
SPEC = CrashWatchSpec(enabled=True, max_recovery_attempts=2, max_age_hours=24)


def crashed(age_s: float = 60) -> Crashed:
    return Crashed("s1", Path("/x/s1"), NOW - age_s)


@pytest.mark.parametrize("rec,age,running,expected", [
    (None, 60, False, "resume"),
    (RecoveryRecord(attempts=1), 60, False, "resume"),
    (RecoveryRecord(attempts=2), 60, False, "give_up"),
    (RecoveryRecord(attempts=1), 60, True, "wait"),          # our resume is still starting
    (RecoveryRecord(attempts=5, gave_up=True), 60, False, "wait"),
    (None, 25 * 3600, False, "stale"),
])
def test_plan(rec: RecoveryRecord | None, age: float, running: bool, expected: str) -> None:
    """The decision for one crashed session, by attempts, age and a resume in flight."""
    assert plan(crashed(age), rec, SPEC, NOW, running) == expected


def test_no_age_limit_and_zero_attempts() -> None:
    """max_age_hours = 0 resumes any age; max_recovery_attempts = 0 gives up at once."""
    assert plan(crashed(10**7), None, CrashWatchSpec(max_age_hours=0), NOW, False) == "resume"
    assert plan(crashed(), None, CrashWatchSpec(max_recovery_attempts=0), NOW, False) == "give_up"


def make_session(runs: Path, sid: str, word: str) -> Path:
    root = runs / sid
    root.mkdir(parents=True)
    (root / "config.json").write_text("{}")
    (root / "status").write_text(word + "\n")
    (root / "status.json").write_text(json.dumps({"status": word, "phase": {"name": "dev"}}))
    return root


@dataclass
class FakeProc:
    code: int | None = None

    def poll(self) -> int | None:
        return self.code


@dataclass
class FakeLaunched:
    pid: int
    create_time: float
    out: Path
    proc: FakeProc


class Harness:
    def __init__(self, runs: Path, spec: CrashWatchSpec) -> None:
        self.runs = runs
        self.state = DaemonState()
        self.launches: list[tuple[str, int, int]] = []  # (session, attempt, attempts on disk)
        self.alerts: list[tuple[str, dict[str, Any]]] = []
        self.watch = CrashWatch(runs, self.state, spec, self.save, self.alert, self.launch)

    def save(self) -> None:
        save_state(self.runs, self.state)

    def alert(self, event: str, fields: dict[str, Any]) -> None:
        self.alerts.append((event, fields))

    def launch(self, runs: Path, sid: str, attempt: int) -> Any:
        on_disk = load_state(runs).recoveries[sid].attempts
        self.launches.append((sid, attempt, on_disk))
        me = psutil.Process(os.getpid())  # "the resume process": alive while the test runs
        return FakeLaunched(me.pid, me.create_time(), runs / "out", FakeProc())


def test_crashed_sessions_are_found_by_status_and_lock(tmp_path: Path) -> None:
    """Only sessions whose status says running (or paused...) with nobody on the lock."""
    make_session(tmp_path, "dead", "running")
    make_session(tmp_path, "paused-dead", "paused")
    make_session(tmp_path, "done", "completed")
    (tmp_path / "not-a-session").mkdir()
    assert sorted(c.session_id for c in find_crashed(tmp_path)) == ["dead", "paused-dead"]


def test_resume_is_counted_on_disk_before_it_starts_and_not_repeated(tmp_path: Path) -> None:
    """The attempt is saved before the launch; while that resume runs, no second one."""
    make_session(tmp_path, "s1", "running")
    h = Harness(tmp_path, CrashWatchSpec(max_recovery_attempts=3, max_age_hours=0))
    assert h.watch.check(NOW) == [("s1", "resume")]
    assert h.launches == [("s1", 1, 1)]
    rec = load_state(tmp_path).recoveries["s1"]
    assert rec.pid == os.getpid() and rec.attempts == 1
    assert h.watch.check(NOW) == []  # our resume process is alive: wait
    assert len(h.launches) == 1


def test_attempts_used_up_mark_failed_and_alert(tmp_path: Path) -> None:
    """Past max_recovery_attempts: status failed (word and json), one alert, then quiet."""
    root = make_session(tmp_path, "s1", "running")
    h = Harness(tmp_path, CrashWatchSpec(max_recovery_attempts=1, max_age_hours=0))
    h.state.recoveries["s1"] = RecoveryRecord(attempts=1, pid=None)
    assert h.watch.check(NOW) == [("s1", "give_up")]
    assert (root / "status").read_text().strip() == "failed"
    snap = json.loads((root / "status.json").read_text())
    assert snap["status"] == "failed" and "1 resume attempt(s)" in snap["failed_reason"]
    assert [a[0] for a in h.alerts] == ["session_failed"]
    assert h.alerts[0][1]["session"] == "s1"
    assert load_state(tmp_path).recoveries["s1"].gave_up
    assert h.watch.check(NOW) == [] and len(h.alerts) == 1 and h.launches == []


def test_stale_sessions_are_left_alone_and_logged_once(tmp_path: Path) -> None:
    """A crash older than max_age_hours is not resumed; it is reported once."""
    root = make_session(tmp_path, "old", "running")
    old = NOW - 48 * 3600
    os.utime(root / "status", (old, old))
    h = Harness(tmp_path, CrashWatchSpec(max_age_hours=24))
    assert h.watch.check(NOW) == [("old", "stale")]
    assert h.watch.check(NOW) == [("old", "stale")]
    assert h.launches == [] and load_state(tmp_path).recoveries["old"].skipped_stale
    assert (root / "status").read_text().strip() == "running"


def test_disabled_watch_does_nothing(tmp_path: Path) -> None:
    """crash_watch.enabled = false: no resumes."""
    make_session(tmp_path, "s1", "running")
    h = Harness(tmp_path, CrashWatchSpec(enabled=False))
    assert h.watch.check(NOW) == [] and h.launches == []
