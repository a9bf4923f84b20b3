"""The daemon loop: APScheduler (``AsyncIOScheduler``) fires the schedules, a periodic
tick reaps finished sessions, runs the crash watch and starts queued runs; SIGHUP
reloads ``schedules.toml``, SIGTERM/SIGINT end the daemon (sessions keep running).

Why ``AsyncIOScheduler``: everything the daemon does (job events, the tick, signal
handlers, alerts over HTTP) then runs on one event-loop thread, so the state file and the
queue need no locks and a signal can never interleave with a launch. The blocking steps
(starting a process, scanning test_runs) take milliseconds.

APScheduler 3 does not pass a job its scheduled fire time, and the fire time is the
run's identity, so a schedule's job function does nothing and the daemon acts on the
job's execution event, which carries it (``scheduled_run_time``); an execution later than
the misfire grace time arrives as a "missed" event instead. Every job has ``coalesce``
(runs missed while the daemon was down become one) and ``misfire_grace_time`` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from supervisor import logs
from supervisor.clock import Clock
from supervisor.daemon import capacity
from supervisor.daemon.alerts import send_alert
from supervisor.daemon.crashwatch import CrashWatch
from supervisor.daemon.launcher import (
    Launched,
    check_schedules,
    launch_session,
    process_alive,
    resolve_run,
)
from supervisor.daemon.pidfile import DaemonLock
from supervisor.daemon.running import running_sessions
from supervisor.daemon.schedules import DaemonSpec, first_fire_time, load_schedules, make_trigger
from supervisor.daemon.state import (
    DaemonState,
    RunRecord,
    ScheduleRecord,
    iso,
    load_state,
    parse_iso,
    save_state,
)
from supervisor.errors import SupervisorError
from supervisor.session.layout import SessionLayout
from supervisor.session.lock import supervisor_pid
from supervisor.session.status import read_status_word

log = logs.get("daemon")
JOB_PREFIX = "schedule:"
TICK_JOB = "tick"
LOG_FILE = "daemon.log"


class Daemon:
    def __init__(self, test_runs: Path, schedules_path: Path, clock: Clock | None = None) -> None:
        self.runs = Path(test_runs).resolve()
        self.path = Path(schedules_path)
        self.clock = clock or Clock()
        self.lock = DaemonLock(self.runs)
        self.spec = DaemonSpec()
        self.agents: dict[str, int] = {}
        self.state = DaemonState()
        self.scheduler: AsyncIOScheduler | None = None
        self.children: dict[str, Launched] = {}  # session id -> the process we started
        self.crash: CrashWatch | None = None
        self._stop: asyncio.Event | None = None
        self._saved = ""
        self._loaded = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.wall(), UTC)

    def load(self) -> tuple[DaemonSpec, dict[str, int]]:
        spec = load_schedules(self.path)
        return spec, check_schedules(spec, self.runs)

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        """Until SIGTERM/SIGINT. Raises SupervisorError if it cannot start."""
        self.lock.acquire()
        try:
            logs.configure(self.runs / LOG_FILE)
            logs.bind(component="daemon")
            try:
                self.spec, self.agents = self.load()
            except SupervisorError as e:
                log.error("daemon_start_failed", error=str(e))
                raise
            self.state = load_state(self.runs)
            self._loaded = True  # from here on the state may be saved
            self.state.daemon = {"pid": os.getpid(), "started": iso(self.now()),
                                 "schedules_file": str(self.path.resolve()),
                                 "test_runs": str(self.runs)}
            self.crash = CrashWatch(self.runs, self.state, self.spec.crash_watch, self.save,
                                    self.alert)
            self._stop = asyncio.Event()
            self._install_signals()
            self._start_scheduler()
            log.info("daemon_started", pid=os.getpid(), schedules_file=str(self.path),
                     schedules=[s.name for s in self.spec.schedules if s.enabled])
            self._reopen_runs()
            self.tick()  # crash watch at start
            await self._stop.wait()
            log.info("daemon_stopping", running=list(self.children))
            return 0
        except Exception as e:
            if not isinstance(e, SupervisorError):  # a bug: in the log before the traceback
                log.exception("daemon_crashed", error=str(e))
            raise
        finally:
            if self.scheduler is not None and self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            for t in list(self._tasks):
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(t, 5)
            self._remove_signals()
            if self._loaded:  # never overwrite a state file this run could not read
                with contextlib.suppress(Exception):
                    self.state.daemon["stopped"] = iso(self.now())
                    self.save()
            logs.close()
            self.lock.release()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _remove_signals(self) -> None:
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    def save(self) -> None:
        text = json.dumps(self.state.to_dict(), sort_keys=True, default=str)
        if text != self._saved:
            save_state(self.runs, self.state)
            self._saved = text

    def alert(self, event: str, fields: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(send_alert(self.spec.alerts, event, fields))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ scheduler
    def _start_scheduler(self) -> None:
        sched = AsyncIOScheduler(timezone=self.spec.tz)
        sched.add_listener(self._on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED
                           | EVENT_JOB_ERROR)
        self.scheduler = sched
        self._sync_jobs()
        sched.start()

    def _sync_jobs(self) -> None:
        """Jobs for the enabled schedules; a job whose trigger did not change is kept."""
        assert self.scheduler is not None
        sched, now = self.scheduler, self.now()
        wanted = {s.name: s for s in self.spec.schedules if s.enabled}
        for job in sched.get_jobs():
            name = job.id.removeprefix(JOB_PREFIX)
            if job.id.startswith(JOB_PREFIX) and name not in wanted:
                job.remove()
                log.info("schedule_removed", schedule=name)
        for name, s in wanted.items():
            job = sched.get_job(JOB_PREFIX + name)
            if job is not None and job.kwargs.get("trigger") == s.trigger_text \
                    and job.misfire_grace_time == _grace(s.misfire_grace_seconds) \
                    and str(getattr(job.trigger, "timezone", "")) == self.spec.timezone:
                continue  # unchanged: keeps its next fire time
            rec = self.state.schedules.get(name)
            last = parse_iso(rec.last_fire) if rec and rec.last_fire else None
            trigger = make_trigger(s, self.spec.tz, now)
            first = first_fire_time(trigger, last, rec is not None and rec.trigger == s.trigger_text,
                                    now)
            sched.add_job(_fire, trigger, kwargs={"trigger": s.trigger_text}, id=JOB_PREFIX + name,
                          name=name, replace_existing=True, next_run_time=first, coalesce=True,
                          misfire_grace_time=_grace(s.misfire_grace_seconds), max_instances=1)
            log.info("schedule_set", schedule=name, trigger=s.trigger_text,
                     first=iso(first) if first else None, catch_up=bool(first and first < now))
        check = self.spec.check_interval_seconds
        sched.add_job(self._tick_job, IntervalTrigger(seconds=check, start_date=now + timedelta(
            seconds=check), timezone=UTC), id=TICK_JOB, replace_existing=True, coalesce=True,
            misfire_grace_time=_grace(check), max_instances=1)
        self._refresh_next()

    def _refresh_next(self) -> None:
        if self.scheduler is None:
            return
        current = {s.name for s in self.spec.schedules}
        for name, old in self.state.schedules.items():
            if name not in current:
                old.next_fire = None  # removed from the file
        for s in self.spec.schedules:
            job = self.scheduler.get_job(JOB_PREFIX + s.name) if s.enabled else None
            nxt = iso(job.next_run_time) if job is not None and job.next_run_time else None
            if s.name not in self.state.schedules:
                if nxt is None:
                    continue
                self.state.schedules[s.name] = ScheduleRecord(trigger=s.trigger_text)
            self.state.schedules[s.name].next_fire = nxt

    def _on_job_event(self, event: JobEvent) -> None:
        try:
            if event.code == EVENT_JOB_ERROR:
                log.error("job_failed", job=event.job_id, error=str(getattr(event, "exception", "")))
                return
            if not event.job_id.startswith(JOB_PREFIX):
                return
            name = event.job_id.removeprefix(JOB_PREFIX)
            fire: datetime = event.scheduled_run_time
            self.on_fire(name, fire, missed=event.code == EVENT_JOB_MISSED)
        except Exception as e:  # a bug here must not stop the scheduler
            log.exception("job_event_failed", job=event.job_id, error=str(e))

    # ------------------------------------------------------------------ runs
    def on_fire(self, name: str, fire: datetime, missed: bool = False) -> RunRecord | None:
        """A schedule's fire time came: launch, queue, skip, or record it missed."""
        spec = self.spec.schedule(name)
        if spec is None or not spec.enabled:
            return None
        if not self.state.admit_fire(name, fire, spec.trigger_text):
            log.warning("run_already_handled", schedule=name, fire_time=iso(fire))
            return None
        agents = self.agents.get(name, 1)
        wall = self.clock.wall()
        if missed:
            run = self.state.add_run(name, fire, "missed", agents, wall)
            log.warning("run_missed", schedule=name, fire_time=iso(fire),
                        grace_minutes=spec.misfire_grace_seconds / 60)
        else:
            for old in self.state.supersede_queued(name):
                log.info("run_superseded", run=old.run_id, by=iso(fire))
            action = capacity.decide(self.occupants(), agents, self.spec.capacity,
                                     len(self.state.queued()))
            state = {"launch": "launching", "queue": "queued", "skip": "skipped"}[action]
            run = self.state.add_run(name, fire, state, agents, wall)
            if action != "launch":
                log.warning(f"run_{state}", run=run.run_id, agents=agents,
                            running=len(self.occupants()), capacity=self.spec.capacity.policy)
        self._refresh_next()
        self.save()  # recorded BEFORE launching: a restarted daemon never starts it again
        if run.state == "launching":
            self._launch(run)
        return run

    def _launch(self, run: RunRecord) -> None:
        spec = self.spec.schedule(run.schedule)
        if spec is None:
            self.state.set_run_state(run, "cancelled", error="schedule removed")
            self.save()
            return
        if (self.runs / run.session_id).exists():  # started before a daemon crash
            self.state.set_run_state(run, "launched")
            self.save()
            return
        self.state.set_run_state(run, "launching")
        try:
            resolved, _ = resolve_run(spec, self.spec, self.runs)
            launched = launch_session(resolved, run.session_id, self.runs)
        except (SupervisorError, OSError) as e:
            self.state.set_run_state(run, "failed", error=str(e))
            self.save()
            self.alert("run_failed", {"run": run.run_id, "error": str(e)})
            return
        self.state.set_run_state(run, "launched", pid=launched.pid,
                                 create_time=launched.create_time, agents=resolved.agents,
                                 launched_wall=self.clock.wall())
        self.children[run.session_id] = launched
        self.save()
        log.info("session_launched", run=run.run_id, session=run.session_id, pid=launched.pid,
                 agents=resolved.agents, out=str(launched.out))

    def _reopen_runs(self) -> None:
        """After a restart: runs recorded as launching are started (their fixed session id
        makes a second session impossible); launched ones whose process is gone are done."""
        for run in list(self.state.runs):
            if run.state == "launching":
                log.warning("run_relaunch_after_restart", run=run.run_id)
                self._launch(run)
        self._finish_runs()

    def _finish_runs(self) -> None:
        for run in self.state.runs:
            if run.state != "launched":
                continue
            child = self.children.get(run.session_id)
            if child is not None:
                code = child.proc.poll()
                if code is None:
                    continue
                del self.children[run.session_id]
            elif process_alive(run.pid, run.create_time) or supervisor_pid(
                    SessionLayout(self.runs / run.session_id)) is not None:
                continue
            else:
                code = None
            word = read_status_word(self.runs / run.session_id) or ""
            self.state.set_run_state(run, "exited", exit_code=code, session_status=word)
            log.info("session_process_ended", session=run.session_id, exit_code=code,
                     status=word)

    def occupants(self) -> list[capacity.Occupant]:
        """Sessions that hold capacity (see running.py)."""
        return [capacity.Occupant(r.session_id, r.agents)
                for r in running_sessions(self.runs, self.state.runs)]

    def _drain(self) -> None:
        queue = self.state.queued()
        if not queue:
            return
        start = capacity.drain([(r.run_id, r.agents) for r in queue], self.occupants(),
                               self.spec.capacity)
        for rid in start:
            run = self.state.run(rid)
            if run is not None:
                log.info("run_dequeued", run=rid)
                self.state.set_run_state(run, "launching")
                self.save()
                self._launch(run)

    # ------------------------------------------------------------------ tick and reload
    async def _tick_job(self) -> None:
        self.tick()

    def tick(self) -> None:
        """Reap ended sessions, crash watch, start queued runs, note next fire times."""
        try:
            self._finish_runs()
            if self.crash is not None:
                self.crash.reap()
                self.crash.check(self.clock.wall())
            self._drain()
            self._refresh_next()
            self.save()
        except Exception as e:  # keep the daemon alive; the next tick tries again
            log.exception("tick_failed", error=str(e))

    def reload(self) -> None:
        """SIGHUP: re-read schedules.toml; a file with problems leaves the old schedules."""
        count = int(self.state.reload.get("count", 0)) + 1
        try:
            spec, agents = self.load()
        except SupervisorError as e:
            log.error("reload_failed", error=str(e), kept=[s.name for s in self.spec.schedules])
            self.state.reload = {"count": count, "time": iso(self.now()), "ok": False,
                                 "error": str(e)}
        else:
            self.spec, self.agents = spec, agents
            if self.crash is not None:
                self.crash.spec = spec.crash_watch
            self._sync_jobs()
            self.state.reload = {"count": count, "time": iso(self.now()), "ok": True,
                                 "schedules": [s.name for s in spec.schedules if s.enabled],
                                 "disabled": [s.name for s in spec.schedules if not s.enabled]}
            log.info("reloaded", schedules=[s.name for s in spec.schedules if s.enabled])
        self.save()


def _grace(seconds: float) -> int:
    """APScheduler 3 wants whole seconds (>= 1) for ``misfire_grace_time``."""
    return max(1, math.ceil(seconds))


async def _fire(trigger: str) -> str:
    """The job of a schedule: the daemon acts on its execution event (see the module doc)."""
    return trigger

