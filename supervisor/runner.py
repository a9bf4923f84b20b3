"""SessionRunner: runs the phase plan of one session.

One asyncio loop owns everything: the agents of the current phase (each with its intake
task), the periodic jobs (APScheduler: metrics sampling, status, trigger ticks), and the
command queue that signals, the CLI and the HTTP API feed. Handlers never do the work
themselves; they enqueue a ``Command`` and this loop carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from supervisor import __version__, logs
from supervisor.agents.host import AgentHost
from supervisor.agents.monitor import ResourceMonitor
from supervisor.agents.process import sweep
from supervisor.checkpoint.session import SessionCheckpoints
from supervisor.clock import Clock
from supervisor.config import config_hash
from supervisor.config.schema import Config
from supervisor.control.commands import Command
from supervisor.control.session_control import ControlMixin
from supervisor.ledger import Ledger
from supervisor.measure import count_loc
from supervisor.metrics import MetricsRecorder
from supervisor.plan import PlannedPhase, assign_agents, plan_phases, total_seconds
from supervisor.recovery.actions import RecoveryManager
from supervisor.session import live
from supervisor.session.agent_pool import AgentsMixin
from supervisor.session.items import Internal, ResumePoint
from supervisor.session.layout import SessionLayout
from supervisor.session.measuring import ProjectMeasurer
from supervisor.session.periodic import Periodic, interval_in_session
from supervisor.session.publisher import Publisher
from supervisor.session.state import SessionStatus, check_transition
from supervisor.session.status import STATUS_FILE_KINDS, StatusFile
from supervisor.session.timer import SessionTimer

log = logs.get("session")

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class SessionRunner(AgentsMixin, ControlMixin):
    def __init__(self, cfg: Config, layout: SessionLayout, clock: Clock,
                 resume: ResumePoint | None = None):
        self.cfg = cfg
        self.layout = layout
        self.session_id = layout.session_id
        self.clock = clock
        # every watcher (status.json, the console view, HTTP clients) is a subscriber
        self.publisher = Publisher()
        self.publisher.subscribe(StatusFile(layout), STATUS_FILE_KINDS)
        self.plan = plan_phases(cfg)
        self.slots = assign_agents(cfg)
        self.total_s = total_seconds(self.plan)
        self.resume = resume
        self.timer = SessionTimer(clock, base=resume.elapsed if resume else 0.0)
        self.timer.hold()  # start-up is not session time; released when the first phase starts
        self.ledger = Ledger(layout.journal, resume.counters if resume else None, clock,
                             publisher=self.publisher)
        self.counters = self.ledger.counters
        self.recorder = MetricsRecorder(layout.metrics_current, layout.metrics_history)
        self.monitor = ResourceMonitor()
        self.queue: asyncio.Queue[Command | Internal] = asyncio.Queue()
        self.hosts: dict[str, AgentHost] = {}
        self.agent_states: dict[str, dict[str, Any]] = dict(resume.agent_states) if resume else {}
        self.agent_models: dict[str, int] = dict(resume.agent_models) if resume else {}
        self.status = SessionStatus.STARTING
        self.final_status: SessionStatus | None = None
        self.exit_code = EXIT_OK
        self.phase: PlannedPhase | None = None
        self.stopping = False
        self.paused = False
        self.resources: dict[str, dict[str, Any]] = {}
        self.loc: int | None = None
        self._loc_at = 0.0  # wall (monotonic) time of the next LOC count
        self.tests: dict[str, Any] | None = None
        self.recent_errors: list[dict[str, Any]] = []
        self.periodic: list[Periodic] = []
        self._periodic_tasks: list[asyncio.Task[Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.config_hash = config_hash(cfg)
        self.checkpoints = SessionCheckpoints(self)
        self.measurer = ProjectMeasurer(self)
        self._tick_pending = False
        self.finishing = False
        self.paused_since_wall: float | None = None
        self.paused_wall_total = 0.0
        self.http: Any = None
        self.recovery = RecoveryManager(self, resume.extra.get("recovery") if resume else None)

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        logs.bind(session_id=self.session_id, phase=None)
        self._install_signals()
        self._start_scheduler()
        try:
            await self._start_http()
            self._begin()
            self.timer.release()
            start = self._start_index()
            for phase in self.plan[start:]:
                if self.stopping:
                    break
                await self._run_phase(phase)
            if not self.stopping:
                self.final_status = SessionStatus.COMPLETED
        except Exception as e:  # a bug: never leave agents behind, record why
            log.exception("session_crashed", error=str(e))
            self.final_status = SessionStatus.FAILED
            self.exit_code = EXIT_FAILED
            raise
        finally:
            await self._finish()
        return self.exit_code

    def _begin(self) -> None:
        t = self.timer.elapsed()
        self.ledger.record(
            "session_start", t, session_id=self.session_id, pid=os.getpid(),
            version=__version__, config_hash=self.config_hash,
            time_scale=self.cfg.session.time_scale,
            resumed=self.resume.reason if self.resume else None)
        self.ledger.record(
            "session_plan", t,
            phases=[{"name": p.name, "seconds": p.duration_s} for p in self.plan],
            agents={s.agent_id: s.role for s in self.slots})
        self.set_status(SessionStatus.RUNNING)
        log.info("session_started", phases=[p.name for p in self.plan],
                 agents=len(self.slots), time_scale=self.cfg.session.time_scale,
                 resumed=bool(self.resume))
        if self.cfg.notifications.email is not None:
            msg = ("[notifications.email] is set, but this version does not send e-mail; "
                   "use [notifications] webhook_url")
            log.warning("email_not_sent", message=msg)
            self.publisher.event(f"warning: {msg}", "warning")

    def _start_index(self) -> int:
        if self.resume is None:
            return 0
        ph = self.counters.phase
        if self.resume.reason == "resume" and ph is not None and ph.status == "running":
            # the supervisor died before this phase ended (maybe while stopping its agents,
            # its time already up): finish that phase rather than skip its end
            return ph.index
        for p in self.plan:
            if self.timer.elapsed() < p.end_s:
                return p.index
        return len(self.plan)

    async def _finish(self) -> None:
        """End the session; every step runs even when an earlier one failed."""
        status = self.final_status or SessionStatus.INTERRUPTED
        self.timer.hold()  # winding down is not session time
        self.finishing = True
        self._refuse_pending("the session is ending")
        steps: list[tuple[str, Any]] = [
            ("stop agents", lambda: self._stop_agents("session end")),
            ("sweep", lambda: asyncio.to_thread(sweep)),
            ("scheduler", self._stop_scheduler),
            ("measure project", self._final_measure),
            ("final checkpoint", lambda: self.on_session_end(status)),
            ("journal", lambda: self._end_journal(status)),
            ("metrics", self._sample_metrics_sync),
            ("report", lambda: self._write_report(status)),
            ("alerts", lambda: self.recovery.notifier.flush(3.0)),  # last webhooks out
            ("snapshots", self.checkpoints.checkpointer.close),
            ("status", lambda: self.set_status(status)),
        ]
        for name, step in steps:
            try:
                res = step()
                if asyncio.iscoroutine(res) or isinstance(res, asyncio.Future):
                    await res
            except Exception as e:
                log.exception("finish_step_failed", step=name, error=str(e))
        t = self.timer.elapsed()
        with contextlib.suppress(Exception):
            self.ledger.close()
        if self.http is not None:
            with contextlib.suppress(Exception):
                await self.http.close()
        self._remove_signals()
        from supervisor.report.criteria import session_exit_code

        self.exit_code = session_exit_code(str(status), getattr(self, "_report_verdict", None),
                                           self.exit_code)
        log.info("session_finished", status=str(status), exit_code=self.exit_code,
                 session_seconds=round(t, 1))
        self.publisher.finished(self.status_snapshot())

    async def _final_measure(self) -> None:
        last = self.plan[-1] if self.plan and self.final_status == SessionStatus.COMPLETED else None
        await self.measurer.final(last)

    def _stop_scheduler(self) -> None:
        for task in self._periodic_tasks:
            task.cancel()

    def _end_journal(self, status: SessionStatus) -> None:
        t = self.timer.elapsed()
        self.counters.close_running(t)
        self.ledger.record("session_end", t, status=str(status))
        self.ledger.sync()

    async def on_session_end(self, status: SessionStatus) -> None:
        """The final checkpoint, whatever the ending."""
        if self.cfg.checkpoint.enabled:
            await self.checkpoints.take("final")

    # ------------------------------------------------------------------ phases
    async def _run_phase(self, phase: PlannedPhase) -> None:
        self.phase = phase
        logs.bind(phase=phase.name)
        t = self.timer.elapsed()
        self.ledger.record("phase_start", t, index=phase.index, name=phase.name,
                           agents=[s.agent_id for s in phase.agents])
        log.info("phase_started", index=phase.index + 1, of=len(self.plan),
                 planned_seconds=phase.duration_s, agents=[s.agent_id for s in phase.agents])
        self.publisher.event(f"phase {phase.index + 1}/{len(self.plan)} {phase.name} started "
                             f"({len(phase.agents)} agents)")
        self.write_status()
        # phase changes (launching, stopping, measuring, checkpointing) take real time that
        # is not the session's: at scale 3600 one wall second would be a session hour
        self.timer.hold()
        try:
            if phase.end_s > self.timer.elapsed():  # a resumed phase with no time left: end it
                for slot in phase.agents:
                    await self.launch_agent(slot, phase)
        finally:
            self.timer.release()
        await self._wait_phase_end(phase)
        interrupted = self.stopping
        self.timer.hold()
        try:
            await self._end_phase(phase, interrupted)
        finally:
            self.timer.release()

    async def _end_phase(self, phase: PlannedPhase, interrupted: bool) -> None:
        await self._stop_agents("phase end")
        status = "interrupted" if interrupted else "completed"
        self.ledger.record("phase_end", self.timer.elapsed(), index=phase.index,
                           name=phase.name, status=status)
        log.info("phase_finished", index=phase.index + 1, status=status)
        if not interrupted:
            if phase.index < len(self.plan) - 1:  # the last phase is measured by the final run
                self.measurer.phase_end(phase)
            await self.on_phase_complete(phase)
        self.write_status()

    async def on_phase_complete(self, phase: PlannedPhase) -> None:
        if self.cfg.checkpoint.enabled:
            await self.checkpoints.take("phase_complete")

    async def _wait_phase_end(self, phase: PlannedPhase) -> None:
        while not self.stopping:
            remaining = phase.end_s - self.timer.elapsed()
            if remaining <= 0 and not self.paused:
                return
            item = await self._next_item(None if self.paused else remaining)
            if item is not None:
                await self._handle(item)

    async def _next_item(self, session_timeout: float | None) -> Command | Internal | None:
        getter = asyncio.ensure_future(self.queue.get())
        waiters: set[asyncio.Future[Any]] = {getter}
        if session_timeout is not None:
            waiters.add(asyncio.ensure_future(self.clock.sleep(session_timeout)))
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        if getter in done:
            return getter.result()
        if getter.cancelled() or not getter.done():
            return None
        return getter.result()

    # ------------------------------------------------------------------ signals & jobs
    def _start_scheduler(self) -> None:
        """The periodic jobs, in session time (``Periodic`` waits on the session clock):
        metrics every ``metrics_interval_secs``, the tick every ``health_check_interval``
        (at most every 5 wall seconds); neither more often than every 20 ms of wall time."""
        mon = self.cfg.monitoring
        clock = self.clock
        self.periodic = [
            Periodic(clock, "metrics", interval_in_session(clock, mon.metrics_interval_secs),
                     self._sample_metrics),
            Periodic(clock, "tick", interval_in_session(clock, mon.health_check_interval,
                                                        max_real=5.0), self._tick),
        ]
        self._periodic_tasks = [self.spawn_task(p.run(), f"periodic-{p.name}")
                                for p in self.periodic]

    async def _tick(self) -> None:  # a coroutine: APScheduler runs it on the loop, not a thread
        if not self._tick_pending:  # never let ticks pile up behind a slow command
            self._tick_pending = True
            self.queue.put_nowait(Internal("tick"))

    async def _sample_metrics(self) -> None:
        try:
            samples = await asyncio.to_thread(self.monitor.sample_all)
            for aid, sample in samples.items():
                host = self.hosts.get(aid)
                if host is not None and host.proc is not None:
                    host.proc.note_descendants(sample.descendants)
            self.resources = {k: {"cpu_percent": round(v.cpu_percent, 1), "rss_bytes": v.rss_bytes,
                                  "procs": v.num_procs} for k, v in samples.items()}
            # LOC reads every file of project/: at most every 0.5 s of wall time, and never
            # more than 5% of the wall time however large the project grows
            if self.clock.monotonic() >= self._loc_at:
                started = self.clock.monotonic()
                loc = await asyncio.to_thread(count_loc, self.layout.project_dir)
                self.loc = loc["lines_of_code"]
                spent = self.clock.monotonic() - started
                self._loc_at = started + max(0.5, 20 * spent)
            self._sample_metrics_sync()
        except Exception as e:
            log.exception("metrics_failed", error=str(e))

    def _sample_metrics_sync(self) -> dict[str, Any]:
        elapsed = self.timer.elapsed()
        agents = {}
        for aid, a in self.counters.agents.items():
            host = self.hosts.get(aid)
            agents[aid] = {"role": a.role, "tokens": a.tokens, "tool_calls": a.tool_calls,
                           "state": str(host.state) if host else "idle",
                           **self.resources.get(aid, {})}
        snap = self.recorder.sample(
            self.session_id, self.counters, elapsed, self.timer.wall_elapsed(),
            self.progress(), self.health(), self.loc, agents, self.checkpoints.last)
        self.write_status()
        return snap

    # ------------------------------------------------------------------ status
    def progress(self) -> float:
        return live.progress(self)

    def health(self) -> tuple[float, dict[str, float]]:
        return live.health(self)

    def status_snapshot(self) -> dict[str, Any]:
        return live.status_snapshot(self)

    def set_status(self, status: SessionStatus) -> None:
        check_transition(self.status, status)
        self.status = status
        self.write_status()

    def write_status(self) -> dict[str, Any]:
        """Publish the status snapshot (status.json and the console are subscribers)."""
        snap = self.status_snapshot()
        self.publisher.status(snap)
        return snap

    # ------------------------------------------------------------------ measuring & report
    async def _write_report(self, status: SessionStatus) -> None:
        """Build and security checks of project/ (journaled as ``quality`` records, so
        ``supervisor report`` reuses them), then final_report.json and .html from the
        journal; the critical verdict decides the exit code (report/criteria.py)."""
        from supervisor.report import checks, summary

        timeout = min(checks.CHECK_TIMEOUT_S, self.cfg.limits.max_test_runtime_min * 60)
        try:
            results = await asyncio.to_thread(checks.quality_checks, self.layout.project_dir,
                                              timeout)
        except Exception as e:  # the report is written without them ("not measured")
            log.exception("quality_checks_failed", error=str(e))
            results = []
        for result in results:
            self.ledger.record("quality", self.timer.elapsed(), **result)
        self.ledger.sync()
        report = await asyncio.to_thread(summary.report_for, self.layout.root, str(status), False)
        self._report_verdict = report["verdict"]["critical"]
        await asyncio.to_thread(summary.write_report, self.layout, report)
