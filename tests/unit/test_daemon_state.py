"""The daemon state file: round trip, schema version, and the "never twice" rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supervisor.daemon.state import (
    SCHEMA_VERSION,
    DaemonState,
    RecoveryRecord,
    load_state,
    run_session_id,
    save_state,
    state_path,
)
from supervisor.errors import SessionError

T0 = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    """Saved and loaded again, the state is equal, and the file carries the schema version."""
    st = DaemonState()
    assert st.admit_fire("weekly", T0, "cron '0 1 * * 6'")
    run = st.add_run("weekly", T0, "launching", 3, 1000.0)
    st.set_run_state(run, "launched", pid=42, create_time=99.5, launched_wall=1001.0)
    st.recoveries["s1"] = RecoveryRecord(attempts=2, pid=7, create_time=1.0, last_wall=5.0)
    st.reload = {"count": 1, "ok": True}
    st.schedules["weekly"].next_fire = (T0 + timedelta(days=7)).isoformat()
    save_state(tmp_path, st)
    raw = json.loads(state_path(tmp_path).read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    back = load_state(tmp_path)
    assert back == st
    assert back.runs[0].session_id == "weekly-20260307-010000"
    assert back.schedules["weekly"].last_outcome == "launched"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


def test_no_file_is_a_fresh_state_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    """A missing file starts afresh; bad JSON, another version or bad fields are refused."""
    assert load_state(tmp_path) == DaemonState()
    path = state_path(tmp_path)
    path.write_text("{not json")
    with pytest.raises(SessionError, match="cannot read the daemon state"):
        load_state(tmp_path)
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(SessionError, match="unsupported schema version 99"):
        load_state(tmp_path)
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "runs": [{"bogus": 1}]}))
    with pytest.raises(SessionError, match="malformed daemon state"):
        load_state(tmp_path)


def test_a_fire_time_is_admitted_once_even_after_a_restart(tmp_path: Path) -> None:
    """The same run (schedule + fire time), or an older one, is never admitted again,
    also by a state loaded from disk as a restarted daemon would."""
    st = DaemonState()
    assert st.admit_fire("weekly", T0, "t")
    st.add_run("weekly", T0, "launching", 1, 0.0)
    assert not st.admit_fire("weekly", T0, "t")
    assert not st.admit_fire("weekly", T0 - timedelta(days=7), "t")
    assert st.admit_fire("other", T0, "t")  # another schedule's run at the same time is its own
    save_state(tmp_path, st)
    again = load_state(tmp_path)
    assert not again.admit_fire("weekly", T0, "t")
    assert again.admit_fire("weekly", T0 + timedelta(days=7), "t")
    assert again.schedules["weekly"].last_fire == (T0 + timedelta(days=7)).isoformat()


def test_run_recorded_without_last_fire_is_still_not_repeated() -> None:
    """A run already in the list (e.g. last_fire edited away) blocks the same fire time."""
    st = DaemonState()
    st.add_run("weekly", T0, "launched", 1, 0.0)
    assert not st.admit_fire("weekly", T0, "t")


def test_session_ids_follow_the_fire_time_in_utc() -> None:
    """A run's session id is the schedule and its fire time in UTC."""
    from zoneinfo import ZoneInfo

    berlin = datetime(2026, 7, 1, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert run_session_id("monthly", berlin) == "monthly-20260701-010000"


def test_queue_supersede_and_prune() -> None:
    """A newer run of a schedule supersedes its queued one; pruning keeps open runs."""
    st = DaemonState()
    a = st.add_run("w", T0, "queued", 1, 0.0)
    b = st.add_run("m", T0, "queued", 2, 0.0)
    assert st.supersede_queued("w") == [a]
    assert a.state == "superseded" and st.queued() == [b]
    for i in range(10):
        st.add_run("x", T0 + timedelta(hours=i + 1), "skipped", 1, 0.0)
    st.prune(keep=3)
    assert b in st.runs and a not in st.runs
    assert [r.state for r in st.runs].count("skipped") == 3
    assert st.runs[-1].fire_time == (T0 + timedelta(hours=10)).isoformat()
