"""The daemon's handling of fire times: recorded before launch, never twice, capacity,
missed runs coalesced by APScheduler (no process is started here)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from supervisor.clock import Clock, FakeClock
from supervisor.daemon.capacity import Occupant
from supervisor.daemon.schedules import parse_schedules
from supervisor.daemon.service import JOB_PREFIX, Daemon
from supervisor.daemon.state import DaemonState, RunRecord, ScheduleRecord, iso, load_state

T0 = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)


def make(tmp_path: Path, text: str, clock: Clock | None = None) -> tuple[Daemon, list[str]]:
    d = Daemon(tmp_path / "runs", tmp_path / "schedules.toml",
               clock or FakeClock(start_wall=T0.timestamp()))
    d.runs.mkdir(parents=True, exist_ok=True)
    d.spec = parse_schedules(text, "schedules.toml", tmp_path)
    d.agents = {s.name: 2 for s in d.spec.schedules}
    launched: list[str] = []

    def fake_launch(run: RunRecord) -> None:  # what is on disk when the launch would happen
        on_disk = load_state(d.runs).run(run.run_id)
        assert on_disk is not None and on_disk.state == "launching"
        launched.append(run.run_id)

    d._launch = fake_launch  # noqa: SLF001 - the test stands in for launching a process; type: ignore[method-assign]
    d.occupants = lambda: []  # type: ignore[method-assign]
    return d, launched


def test_run_is_recorded_before_launch_and_never_twice(tmp_path: Path) -> None:
    """The first fire launches (after the run is on disk); the same fire time again does not,
    also for a daemon restarted on the saved state."""
    d, launched = make(tmp_path, "[schedules.w]\ncron = '0 1 * * 6'\n")
    run = d.on_fire("w", T0)
    assert run is not None and launched == [run.run_id]
    assert d.on_fire("w", T0) is None and len(launched) == 1
    again, launched2 = make(tmp_path, "[schedules.w]\ncron = '0 1 * * 6'\n")
    again.state = load_state(again.runs)
    assert again.on_fire("w", T0) is None and launched2 == []
    assert again.on_fire("w", T0 + timedelta(days=7)) is not None and len(launched2) == 1


def test_full_capacity_queues_or_skips(tmp_path: Path) -> None:
    """With the capacity taken, queue keeps the run (a newer one replaces it), skip drops it."""
    d, launched = make(tmp_path, "[capacity]\nmax_sessions = 1\n[schedules.w]\ninterval = 60\n")
    d.occupants = lambda: [Occupant("busy", 1)]  # type: ignore[method-assign]
    first = d.on_fire("w", T0)
    second = d.on_fire("w", T0 + timedelta(minutes=1))
    assert first is not None and second is not None and launched == []
    assert first.state == "superseded" and second.state == "queued"
    assert [r.run_id for r in load_state(d.runs).queued()] == [second.run_id]
    d.occupants = lambda: []  # type: ignore[method-assign]
    d._drain()  # noqa: SLF001 - drives one step of the daemon at a time
    assert launched == [second.run_id]
    s, slaunched = make(tmp_path / "s", "[capacity]\nmax_sessions = 1\npolicy = 'skip'\n"
                                        "[schedules.w]\ninterval = 60\n")
    s.occupants = lambda: [Occupant("busy", 1)]  # type: ignore[method-assign]
    skipped = s.on_fire("w", T0)
    assert skipped is not None and skipped.state == "skipped" and slaunched == []
    s.occupants = lambda: []  # type: ignore[method-assign]
    s._drain()  # noqa: SLF001 - drives one step of the daemon at a time
    assert slaunched == []


def test_jobs_catch_up_from_the_saved_last_fire(tmp_path: Path) -> None:
    """A restarted daemon's job starts at the first fire after last_fire with the same
    trigger, from now with a changed one; coalesce and misfire grace are set on the job."""
    text = "[schedules.w]\ncron = '0 1 * * 6'\nmisfire_grace_minutes = 90\n"
    d, _ = make(tmp_path, text, FakeClock(start_wall=(T0 + timedelta(days=10)).timestamp()))
    trig = d.spec.schedules[0].trigger_text
    d.state = DaemonState(schedules={"w": ScheduleRecord(last_fire=iso(T0), trigger=trig)})
    d.scheduler = AsyncIOScheduler(timezone=UTC)
    d._sync_jobs()  # noqa: SLF001 - drives one step of the daemon at a time
    job = d.scheduler.get_job(JOB_PREFIX + "w")
    assert job.next_run_time == T0 + timedelta(days=7)  # in the past: missed, to coalesce
    assert job.coalesce is True and job.misfire_grace_time == 5400 and job.max_instances == 1
    assert d.state.schedules["w"].next_fire == iso(T0 + timedelta(days=7))
    d.state.schedules["w"].trigger = "cron '0 2 * * 6'"  # as if the file had changed
    d.scheduler.remove_job(JOB_PREFIX + "w")
    d._sync_jobs()  # noqa: SLF001 - drives one step of the daemon at a time
    assert d.scheduler.get_job(JOB_PREFIX + "w").next_run_time == T0 + timedelta(days=14)


def run_scheduler(d: Daemon) -> list[tuple[str, datetime, bool]]:
    """Start the real scheduler until the one due (past) run has been handled."""
    seen: list[tuple[str, datetime, bool]] = []
    real = d.on_fire

    async def main() -> None:
        done = asyncio.Event()

        def on_fire(name: str, fire: datetime, missed: bool = False) -> RunRecord | None:
            seen.append((name, fire, missed))
            done.set()
            return real(name, fire, missed)

        d.on_fire = on_fire  # type: ignore[method-assign]
        d.scheduler = AsyncIOScheduler(timezone=UTC)
        d.scheduler.add_listener(d._on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)  # noqa: SLF001 - drives one step of the daemon at a time
        d._sync_jobs()  # noqa: SLF001 - drives one step of the daemon at a time
        d.scheduler.start()
        try:
            await asyncio.wait_for(done.wait(), 5)
            await asyncio.sleep(0)
        finally:
            d.scheduler.shutdown(wait=False)

    asyncio.run(main())
    return seen


def test_runs_missed_while_down_coalesce_into_one(tmp_path: Path) -> None:
    """Three weekly runs missed: one run, of the newest fire time, within the grace time."""
    now = datetime.fromtimestamp(Clock().wall(), UTC).replace(microsecond=0)
    last = now - timedelta(days=22)
    d, launched = make(tmp_path, "[schedules.w]\ninterval = '7d'\nmisfire_grace_minutes = 2880\n",
                       Clock())
    d.state = DaemonState(schedules={"w": ScheduleRecord(last_fire=iso(last),
                                                         trigger="every 1w")})
    seen = run_scheduler(d)
    assert seen == [("w", last + timedelta(days=21), False)]
    assert len(launched) == 1
    assert load_state(d.runs).schedules["w"].last_fire == iso(last + timedelta(days=21))


def test_a_run_later_than_its_grace_is_recorded_missed(tmp_path: Path) -> None:
    """Past misfire_grace_minutes the newest missed run is recorded missed, not started."""
    now = datetime.fromtimestamp(Clock().wall(), UTC).replace(microsecond=0)
    last = now - timedelta(days=8)
    d, launched = make(tmp_path, "[schedules.w]\ninterval = '7d'\nmisfire_grace_minutes = 60\n",
                       Clock())
    d.state = DaemonState(schedules={"w": ScheduleRecord(last_fire=iso(last),
                                                         trigger="every 1w")})
    seen = run_scheduler(d)
    assert seen == [("w", last + timedelta(days=7), True)] and launched == []
    assert load_state(d.runs).runs[-1].state == "missed"


def test_launch_interrupted_by_a_crash_is_not_repeated_once_the_session_exists(
        tmp_path: Path) -> None:
    """A run left "launching" whose session directory exists is marked launched, not
    started again; one without a directory is launched (its fixed id guards it)."""
    d, launched = make(tmp_path, "[schedules.w]\ncron = '0 1 * * 6'\n")
    started = d.state.add_run("w", T0, "launching", 2, 0.0)
    pending = d.state.add_run("w", T0 + timedelta(days=7), "launching", 2, 0.0)
    (d.runs / started.session_id).mkdir()
    d.save()
    Daemon._launch(d, started)  # noqa: SLF001 - the real launch, called on purpose; the real one: returns before starting anything
    assert started.state == "launched" and d.children == {}
    d._reopen_runs()  # noqa: SLF001 - drives one step of the daemon at a time; the patched launch stands in for starting a process
    assert launched == [pending.run_id]
    assert load_state(d.runs).run(started.run_id).state == "launched"  # type: ignore[union-attr]


def test_reload_keeps_old_schedules_on_error_and_swaps_jobs_on_success(tmp_path: Path) -> None:
    """SIGHUP's reload: a bad file is refused (recorded, old jobs kept); a good one removes,
    adds and changes jobs, keeping an unchanged job's next fire time."""
    (tmp_path / "session.toml").write_text("[control]\nhttp_port = 0\n")
    head = "[daemon]\nconfig = 'session.toml'\n"
    text = head + "[schedules.a]\ncron = '0 1 * * 6'\n[schedules.b]\ninterval = '1d'\n"
    (tmp_path / "schedules.toml").write_text(text)
    d, _ = make(tmp_path, text)
    d.scheduler = AsyncIOScheduler(timezone=UTC)
    d._sync_jobs()  # noqa: SLF001 - drives one step of the daemon at a time
    a_next = d.scheduler.get_job(JOB_PREFIX + "a").next_run_time
    (tmp_path / "schedules.toml").write_text(text + "[schedules.c]\ncron = 'x'\n")
    d.reload()
    assert d.state.reload["ok"] is False and "schedules.c.cron" in d.state.reload["error"]
    assert [j.id for j in d.scheduler.get_jobs() if j.id.startswith(JOB_PREFIX)] == [
        JOB_PREFIX + "a", JOB_PREFIX + "b"]
    (tmp_path / "schedules.toml").write_text(
        head + "[schedules.a]\ncron = '0 1 * * 6'\n[schedules.c]\ninterval = '2h'\n")
    d.reload()
    assert d.state.reload == {"count": 2, "time": iso(d.now()), "ok": True,
                              "schedules": ["a", "c"], "disabled": []}
    jobs = {j.id: j for j in d.scheduler.get_jobs()}
    assert JOB_PREFIX + "b" not in jobs and jobs[JOB_PREFIX + "a"].next_run_time == a_next
    assert jobs[JOB_PREFIX + "c"].next_run_time == T0 + timedelta(hours=2)
    assert load_state(d.runs).reload["count"] == 2
