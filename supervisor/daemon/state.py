"""The daemon's own state file, ``<test_runs>/daemon_state.json``: per schedule the last
handled and the next fire time, every run (queued, launched, skipped ...), and the resume
attempts per session. Written atomically, with a schema version.

"Never twice": a run is a schedule name plus a scheduled fire time. ``admit_fire`` accepts
a fire time only if it is later than the schedule's ``last_fire``, and the caller saves
the state with the run recorded BEFORE launching it; a restarted daemon computes its next
fire time from ``last_fire``. The run's session id is derived from the fire time too, so
even a launch repeated after a crash cannot create a second session (the directory
exists). The logic here is pure; only ``load_state`` and ``save_state`` touch files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supervisor.errors import SessionError
from supervisor.session.files import read_json, write_json_atomic

SCHEMA_VERSION = 1
STATE_FILE = "daemon_state.json"
KEEP_FINISHED_RUNS = 500
# run states: queued -> launching -> launched -> exited; or skipped / superseded (a newer
# run of its schedule took its place in the queue) / missed (later than its grace time) /
# cancelled (its schedule was removed) / failed (could not be launched)
OPEN_RUN_STATES = ("queued", "launching", "launched")


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def run_id(schedule: str, fire: datetime) -> str:
    return f"{schedule}@{iso(fire)}"


def run_session_id(schedule: str, fire: datetime) -> str:
    """The session id of a scheduled run: ``<schedule>-YYYYMMDD-HHMMSS`` of the fire time (UTC)."""
    return f"{schedule}-{fire.astimezone(UTC):%Y%m%d-%H%M%S}"


@dataclass
class RunRecord:
    run_id: str
    schedule: str
    fire_time: str  # ISO, UTC
    session_id: str
    state: str
    agents: int = 0
    recorded_wall: float = 0.0
    launched_wall: float | None = None
    pid: int | None = None
    create_time: float | None = None
    exit_code: int | None = None
    session_status: str = ""  # the session's status word once its process has ended
    error: str = ""


@dataclass
class ScheduleRecord:
    last_fire: str | None = None  # newest fire time handled: never handled again
    next_fire: str | None = None
    trigger: str = ""  # the trigger last_fire belongs to (a changed one does not catch up)
    last_run: str | None = None
    last_outcome: str = ""


@dataclass
class RecoveryRecord:
    attempts: int = 0
    pid: int | None = None  # the resume process last started
    create_time: float | None = None
    last_wall: float = 0.0
    gave_up: bool = False
    skipped_stale: bool = False


@dataclass
class DaemonState:
    schedules: dict[str, ScheduleRecord] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)
    recoveries: dict[str, RecoveryRecord] = field(default_factory=dict)
    reload: dict[str, Any] = field(default_factory=lambda: {"count": 0})
    daemon: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ never twice
    def admit_fire(self, schedule: str, fire: datetime, trigger: str) -> bool:
        """Whether this fire time is new for the schedule; if so it is now the last one."""
        rec = self.schedules.setdefault(schedule, ScheduleRecord(trigger=trigger))
        if rec.last_fire is not None and parse_iso(rec.last_fire) >= fire:
            return False
        rid = run_id(schedule, fire)
        if any(r.run_id == rid for r in self.runs):
            return False
        rec.last_fire, rec.trigger = iso(fire), trigger
        return True

    def add_run(self, schedule: str, fire: datetime, state: str, agents: int,
                wall: float, error: str = "") -> RunRecord:
        run = RunRecord(run_id(schedule, fire), schedule, iso(fire),
                        run_session_id(schedule, fire), state, agents, wall, error=error)
        self.runs.append(run)
        rec = self.schedules.setdefault(schedule, ScheduleRecord())
        rec.last_run, rec.last_outcome = run.run_id, state
        return run

    def set_run_state(self, run: RunRecord, state: str, **changes: Any) -> None:
        run.state = state
        for k, v in changes.items():
            setattr(run, k, v)
        rec = self.schedules.get(run.schedule)
        if rec is not None and rec.last_run == run.run_id:
            rec.last_outcome = state

    def queued(self) -> list[RunRecord]:
        return [r for r in self.runs if r.state == "queued"]

    def supersede_queued(self, schedule: str) -> list[RunRecord]:
        """Coalesce: an older queued run of a schedule gives way to its newer one."""
        old = [r for r in self.runs if r.state == "queued" and r.schedule == schedule]
        for r in old:
            self.set_run_state(r, "superseded")
        return old

    def run(self, rid: str) -> RunRecord | None:
        return next((r for r in self.runs if r.run_id == rid), None)

    def prune(self, keep: int = KEEP_FINISHED_RUNS) -> None:
        done = [r for r in self.runs if r.state not in OPEN_RUN_STATES]
        drop = {id(r) for r in done[: max(0, len(done) - keep)]}
        self.runs = [r for r in self.runs if id(r) not in drop]

    # ------------------------------------------------------------------ (de)serialize
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "daemon": self.daemon,
            "reload": self.reload,
            "schedules": {k: dataclasses.asdict(v) for k, v in self.schedules.items()},
            "runs": [dataclasses.asdict(r) for r in self.runs],
            "recoveries": {k: dataclasses.asdict(v) for k, v in self.recoveries.items()},
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = STATE_FILE) -> DaemonState:
        if not isinstance(d, dict):
            raise SessionError(f"{source}: not a daemon state file (expected a JSON object)")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SessionError(f"{source}: unsupported schema version {version!r} "
                               f"(this supervisor reads {SCHEMA_VERSION})")
        try:
            return cls(
                schedules={k: ScheduleRecord(**v) for k, v in d.get("schedules", {}).items()},
                runs=[RunRecord(**r) for r in d.get("runs", [])],
                recoveries={k: RecoveryRecord(**v) for k, v in d.get("recoveries", {}).items()},
                reload=dict(d.get("reload") or {"count": 0}),
                daemon=dict(d.get("daemon") or {}),
            )
        except (TypeError, AttributeError) as e:
            raise SessionError(f"{source}: malformed daemon state ({e}); move it aside to "
                               "start afresh") from None


def state_path(test_runs: Path) -> Path:
    return Path(test_runs) / STATE_FILE


def load_state(test_runs: Path) -> DaemonState:
    """The saved state, or a fresh one when there is none yet."""
    path = state_path(test_runs)
    try:
        data = read_json(path)
    except FileNotFoundError:
        return DaemonState()
    except (OSError, ValueError) as e:
        raise SessionError(f"{path}: cannot read the daemon state ({e}); move it aside to "
                           "start afresh") from None
    return DaemonState.from_dict(data, str(path))


def save_state(test_runs: Path, state: DaemonState) -> None:
    state.prune()
    write_json_atomic(state_path(test_runs), state.to_dict())
