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
import signal
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from supervisor import __version__, logs
from supervisor.agents.host import AgentHost
from supervisor.agents.monitor import ResourceMonitor
from supervisor.agents.process import agent_env, render_command, sweep
from supervisor.agents.protocol import Event
from supervisor.checkpoint.session import SessionCheckpoints
from supervisor.clock import Clock
from supervisor.config import config_hash
from supervisor.config.schema import Config
from supervisor.control import pausing, signals
from supervisor.control.commands import Command, CommandKind
from supervisor.counters import Counters
from supervisor.ledger import Ledger
from supervisor.measure import count_loc
from supervisor.metrics import MetricsRecorder
from supervisor.plan import AgentSlot, PlannedPhase, assign_agents, plan_phases, total_seconds
from supervisor.recovery.actions import RecoveryManager
from supervisor.session import live
from supervisor.session.files import write_json_atomic
from supervisor.session.layout import SessionLayout
from supervisor.session.measuring import ProjectMeasurer
from supervisor.session.state import AgentState, SessionStatus, check_transition
from supervisor.session.status import write_status
from supervisor.session.timer import SessionTimer

log = logs.get("session")

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
MAX_PENDING_COMMANDS = 1000  # commands from HTTP waiting on the queue before 503


@dataclass
class ResumePoint:
    """Where a session continues from (a checkpoint, or a crashed session's journal)."""

    elapsed: float
    counters: Counters
    agent_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent_models: dict[str, int] = field(default_factory=dict)
    reason: str = "resume"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Internal:
    """Something the loop itself must handle (not a user command)."""

    kind: str
    host: AgentHost | None = None
    data: dict[str, Any] = field(default_factory=dict)


class SessionRunner:
    def __init__(self, cfg: Config, layout: SessionLayout, clock: Clock,
                 resume: ResumePoint | None = None, view: Any = None):
        self.cfg = cfg
        self.layout = layout
        self.session_id = layout.session_id
        self.clock = clock
        self.view = view
        self.plan = plan_phases(cfg)
        self.slots = assign_agents(cfg)
        self.total_s = total_seconds(self.plan)
        self.resume = resume
        self.timer = SessionTimer(clock, base=resume.elapsed if resume else 0.0)
        self.timer.hold()  # start-up is not session time; released when the first phase starts
        self.ledger = Ledger(layout.journal, resume.counters if resume else None, clock)
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
        self._loc_at = -1e9
        self.tests: dict[str, Any] | None = None
        self.recent_errors: list[dict[str, Any]] = []
        self.scheduler: AsyncIOScheduler | None = None
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
        self._set_status(SessionStatus.RUNNING)
        log.info("session_started", phases=[p.name for p in self.plan],
                 agents=len(self.slots), time_scale=self.cfg.session.time_scale,
                 resumed=bool(self.resume))

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
            ("status", lambda: self._set_status(status)),
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
        if self.view is not None:
            self.view.finished(self.status_snapshot())

    async def _final_measure(self) -> None:
        last = self.plan[-1] if self.plan and self.final_status == SessionStatus.COMPLETED else None
        await self.measurer.final(last)

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

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
        if self.view is not None:
            self.view.event(f"phase {phase.index + 1}/{len(self.plan)} {phase.name} started "
                            f"({len(phase.agents)} agents)")
        self.write_status()
        # phase changes (launching, stopping, measuring, checkpointing) take real time that
        # is not the session's: at scale 3600 one wall second would be a session hour
        self.timer.hold()
        try:
            if phase.end_s > self.timer.elapsed():  # a resumed phase with no time left: end it
                for slot in phase.agents:
                    await self._launch(slot, phase)
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

    # ------------------------------------------------------------------ agents
    def model_for(self, slot: AgentSlot) -> str:
        models = self.cfg.agent.models or ("default",)
        return models[self.agent_models.get(slot.agent_id, 0) % len(models)]

    async def _launch(self, slot: AgentSlot, phase: PlannedPhase, restart: bool = False) -> AgentHost:
        layout = self.layout
        state_path = layout.agent_state(slot.agent_id)
        layout.agent_dir(slot.agent_id).mkdir(parents=True, exist_ok=True)
        if slot.agent_id in self.agent_states:
            write_json_atomic(state_path, self.agent_states[slot.agent_id], durable=False)
        model = self.model_for(slot)
        values = {
            "session_id": self.session_id, "agent_id": slot.agent_id, "role": slot.role,
            "phase": phase.name, "model": model, "project_dir": str(layout.project_dir),
            "prompt_file": str(layout.prompt),
            "resume_state": str(state_path) if state_path.exists() else "",
        }
        extra = {
            "MEGATEST_TIME_SCALE": repr(self.cfg.session.time_scale),
            "MEGATEST_SEED": str(self.cfg.session.seed),
            "MEGATEST_PROJECT_TYPE": self.cfg.session.project_type,
            "MEGATEST_PHASE_INDEX": str(phase.index),
            "MEGATEST_PHASE_COUNT": str(len(self.plan)),
            "MEGATEST_PHASE_SECONDS": f"{max(0.0, phase.end_s - self.timer.elapsed()):.3f}",
            "MEGATEST_AGENT_INDEX": str(slot.index),
            "MEGATEST_AGENT_COUNT": str(len(self.slots)),
            "MEGATEST_AGENT_CONFIG": str(layout.agent_toml),
        }
        if restart or self.resume is not None:  # relaunched, or resumed/restored mid-phase:
            # the agent goes on where the phase is, not at its start
            extra["MEGATEST_PHASE_ELAPSED"] = f"{max(0.0, self.timer.elapsed() - phase.start_s):.3f}"
        extra.update(dict(self.cfg.agent.env))
        argv = render_command(self.cfg.agent.command, values)
        env = agent_env(values, extra, os.environ)
        host = AgentHost(slot, phase.name, self.ledger, self.timer.elapsed, self._on_event, model)
        self.hosts[slot.agent_id] = host
        await host.spawn(argv, env, layout.project_dir, layout.agent_dir(slot.agent_id))
        assert host.proc is not None
        info = host.proc.info()
        self.monitor.track(slot.agent_id, host.proc.pid, info.get("create_time"))
        self.ledger.record("agent_start", self.timer.elapsed(), agent=slot.agent_id,
                           role=slot.role, phase=phase.name, model=model, restart=restart,
                           pid=info["pid"], create_time=info["create_time"],
                           launch_token=info.get("launch_token"))
        self._spawn_task(self._watch(host), f"agent-{slot.agent_id}")
        return host

    def _spawn_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _watch(self, host: AgentHost) -> None:
        """Intake of one agent until its stdout closes, then its exit."""
        assert host.proc is not None
        stderr_task = asyncio.create_task(self._pump_stderr(host))
        try:
            await host.pump_stdout()
        except Exception as e:  # intake must never take the session down
            log.exception("intake_failed", agent=host.agent_id, error=str(e))
        rc = await host.proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stderr_task, 5.0)
        if not host.stop_requested:
            await self.queue.put(Internal("agent_exit", host, {"returncode": rc}))

    async def _pump_stderr(self, host: AgentHost) -> None:
        assert host.proc is not None
        while True:
            line = await host.proc.read_stderr_line()
            if line is None:
                return
            self.on_stderr(host, line)

    def on_stderr(self, host: AgentHost, line: bytes) -> None:
        """Stderr lines matching a rule or a strong signature are failures."""
        self.recovery.on_stderr(host, line)

    async def _stop_agents(self, why: str) -> None:
        hosts = [h for h in self.hosts.values() if h.proc is not None]
        if not hosts:
            return
        grace = self.cfg.agent.stop_grace_secs
        results = await asyncio.gather(*(h.stop(grace) for h in hosts), return_exceptions=True)
        t = self.timer.elapsed()
        for h, how in zip(hosts, results, strict=True):
            if isinstance(how, BaseException):
                log.error("agent_stop_failed", agent=h.agent_id, error=str(how))
                how = "unknown"
            h.state = AgentState.EXITED
            self.monitor.untrack(h.agent_id)
            if h.last_state is not None:
                self.agent_states[h.agent_id] = h.last_state
            self.ledger.record("agent_exit", t, agent=h.agent_id, how=str(how), why=why)
        self.hosts = {}

    async def _on_event(self, host: AgentHost, ev: Event, t: float) -> None:
        f = ev.fields
        if ev.type == "hello":
            caps = f.get("capabilities") or []
            host.capabilities = {str(c) for c in caps} if isinstance(caps, list) else set()
        elif ev.type == "quiesced":
            host.quiesced.set()
        elif ev.type == "state":
            data = f.get("data")
            if isinstance(data, dict):
                host.last_state = data
                self.agent_states[host.agent_id] = data
                write_json_atomic(self.layout.agent_state(host.agent_id), data, durable=False)
        elif ev.type == "error":
            self.recent_errors.append({"t": round(t, 1), "agent": host.agent_id,
                                       "kind": f.get("kind"), "message": str(f.get("message"))[:200]})
            del self.recent_errors[:-20]
            await self.on_agent_error(host, ev, t)
        elif ev.type in ("vote", "test_result"):
            self.recovery.on_event(host, ev, t)

    async def on_agent_error(self, host: AgentHost, ev: Event, t: float) -> None:
        """Classified, decided and acted on by the recovery manager (recovery/actions.py)."""
        self.recovery.on_error_event(host, ev, t)

    async def on_agent_exit(self, host: AgentHost, returncode: int) -> None:
        """An agent ended without being asked to. Seam for recovery (recovery issue)."""
        how = host.proc.exit_description() if host.proc else f"exit {returncode}"
        t = self.timer.elapsed()
        host.state = AgentState.CRASHED if returncode != 0 else AgentState.EXITED
        if self.hosts.get(host.agent_id) is host:  # not a newer launch of the same agent
            self.monitor.untrack(host.agent_id)
            del self.hosts[host.agent_id]
        with contextlib.suppress(Exception):
            await host.stop(self.cfg.agent.stop_grace_secs)  # sweep what it left behind
        self.ledger.record("agent_exit", t, agent=host.agent_id, how=how, why="on its own")
        if returncode != 0:
            log.warning("agent_crashed", agent=host.agent_id, how=how)
        else:
            log.info("agent_exited", agent=host.agent_id)
        await self.recovery.on_exit(host, returncode)

    # ------------------------------------------------------------------ commands
    async def _handle(self, item: Command | Internal) -> None:
        if isinstance(item, Internal):
            if item.kind == "agent_exit" and item.host is not None:
                await self.on_agent_exit(item.host, int(item.data.get("returncode", -1)))
            elif item.kind == "tick":
                self._tick_pending = False
                await self.on_tick()
            return
        t = self.timer.elapsed()
        self.ledger.record("command", t, command=str(item.kind), source=str(item.source))
        try:
            result = await self.handle_command(item)
        except Exception as e:
            log.exception("command_failed", command=str(item.kind), error=str(e))
            result = {"ok": False, "error": str(e)}
        item.answer(result)

    async def handle_command(self, cmd: Command) -> dict[str, Any]:
        """Carry out one command (from a signal, the CLI or HTTP); the answer is JSON-able."""
        inbox = getattr(self, "signal_inbox", None)
        if inbox is not None:
            inbox.taken(cmd)  # a signal from now on asks for a new command
        kind = cmd.kind
        if kind == CommandKind.STATUS:
            snap = self.write_status()
            log.info("status", **live.status_line(snap))
            return {"ok": True, "status": snap}
        if kind == CommandKind.STOP:
            code = cmd.args.get("exit_code")
            self.request_stop(str(cmd.args.get("reason") or cmd.source),
                              interrupted=True, signal_name=cmd.args.get("signal"),
                              exit_code=code if isinstance(code, int) else None)
            return {"ok": True, "stopping": True}
        if kind == CommandKind.PAUSE:
            return await self.pause(str(cmd.source))
        if kind == CommandKind.RESUME:
            return await self.unpause(str(cmd.source))
        if kind == CommandKind.CHECKPOINT:
            result = await self.forced_checkpoint(cmd)
            if self.paused:  # agents must still be held after it (a no-op when they are)
                await pausing.hold_agents(self.hosts.values(),
                                          self.cfg.checkpoint.quiesce_timeout_secs)
            return result
        if kind == CommandKind.RELOAD:
            return await self.reload_config()
        return {"ok": False, "error": f"unknown command {kind}"}

    def request_stop(self, reason: str, interrupted: bool = True, signal_name: str | None = None,
                     status: SessionStatus | None = None, exit_code: int | None = None) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.final_status = status or (SessionStatus.INTERRUPTED if interrupted else None)
        if exit_code is not None:
            self.exit_code = exit_code
        elif interrupted:
            self.exit_code = EXIT_INTERRUPTED
        log.warning("stop_requested", reason=reason, signal=signal_name)
        if self.view is not None:
            self.view.event(f"stopping: {reason}")

    async def pause(self, source: str) -> dict[str, Any]:
        """Hold every agent (quiesced, or frozen) and stop session time until ``unpause``."""
        if self.paused:
            return {"ok": False, "error": "session is already paused"}
        if self.stopping:
            return {"ok": False, "error": "session is stopping"}
        self.paused = True
        self.paused_since_wall = self.clock.wall()
        self.timer.hold()
        agents = await pausing.hold_agents(self.hosts.values(),
                                           self.cfg.checkpoint.quiesce_timeout_secs)
        t = self.timer.elapsed()
        self.ledger.record("pause", t, source=source, agents=agents)
        self._set_status(SessionStatus.PAUSED)
        log.info("paused", source=source, agents=agents, session_seconds=round(t, 1))
        if self.view is not None:
            self.view.event(f"paused by {source}: {len(agents)} agents held")
        return {"ok": True, "paused": True, "agents": agents, "elapsed_seconds": round(t, 3)}

    async def unpause(self, source: str) -> dict[str, Any]:
        """Let the agents go again and restart session time."""
        if not self.paused:
            return {"ok": False, "error": "session is not paused"}
        held = self.timer.release()
        since = self.paused_since_wall
        wall = round(self.clock.wall() - since, 3) if since is not None else None
        self.paused = False
        self.paused_since_wall = None
        self.paused_wall_total += wall or 0.0
        t = self.timer.elapsed()
        # journaled before the agents go: their next events come after it
        self.ledger.record("resume", t, source=source, held_seconds=held, paused_wall_seconds=wall)
        agents = await pausing.release_agents(self.hosts.values())
        self._set_status(SessionStatus.RUNNING)
        log.info("resumed", source=source, paused_wall_seconds=wall,
                 session_seconds=round(t, 1))
        if self.view is not None:
            self.view.event(f"resumed by {source} after {wall or 0:.1f} s")
        return {"ok": True, "paused": False, "agents": agents, "elapsed_seconds": round(t, 3)}

    async def forced_checkpoint(self, cmd: Command) -> dict[str, Any]:
        result = await self.checkpoints.take("forced",
                                             reason=str(cmd.args.get("reason") or cmd.source))
        if result is None:
            return {"ok": False, "error": "checkpoint failed; see session.log"}
        return {"ok": True, "checkpoint": result}

    def recovery_state(self) -> dict[str, Any]:
        """Recovery history, limits, votes and flags, for checkpoints."""
        return self.recovery.state()

    async def reload_config(self) -> dict[str, Any]:
        """SIGHUP: re-read config.toml; apply limits, recovery, error handling and
        notifications in flight; log what changed (and what would need a restart)."""
        from supervisor.control.reload import apply_reload

        return await apply_reload(self)

    def on_config_reloaded(self, old: Config, new: Config) -> None:
        """Seam: called after a reload replaced ``self.cfg`` (``old`` -> ``new``; only the
        reloadable sections differ). Parts that keep their own copy of a spec (recovery
        policy, limits, notifications) take the new one here."""
        self.recovery.reconfigure(new)

    async def on_tick(self) -> None:
        """Periodic: checkpoint triggers, then recovery (monitors, limits, actions)."""
        await self.checkpoints.check_triggers()
        await self.recovery.on_tick()

    # ------------------------------------------------------------------ control plane
    async def _start_http(self) -> None:
        ctl = self.cfg.control
        if not ctl.http_enabled:
            return
        from supervisor.control.http import start_http_server
        from supervisor.errors import ControlError

        try:
            self.http = await start_http_server(self, self.layout.root, ctl.http_port,
                                                ctl.port_fallback)
        except ControlError as e:
            log.error("http_unavailable", port=ctl.http_port, fallback=ctl.port_fallback,
                      error=str(e))
            raise
        log.info("http_api", url=f"http://127.0.0.1:{self.http.port}")
        if self.view is not None:
            self.view.event(f"control API on http://127.0.0.1:{self.http.port} "
                            f"(token in {self.layout.control_json})")

    def submit(self, command: Command) -> None:
        """Queue a command from the HTTP API (the loop answers it). A flood beyond
        ``MAX_PENDING_COMMANDS`` waiting is refused (the API answers 503)."""
        if self.finishing:
            command.answer({"ok": False, "status": 409, "error": "the session is ending"})
            return
        if self.queue.qsize() >= MAX_PENDING_COMMANDS:
            raise asyncio.QueueFull
        self.queue.put_nowait(command)

    def _refuse_pending(self, why: str) -> None:
        """Answer every command still queued: nobody will carry them out now."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, Command):
                item.answer({"ok": False, "status": 409, "error": why})

    def metrics_snapshot(self) -> dict[str, Any]:
        return dict(self.recorder.last) if self.recorder.last else self._metrics_now()

    def _metrics_now(self) -> dict[str, Any]:
        c = self.counters
        return {"schema_version": 1, "session_id": self.session_id,
                "elapsed_seconds": round(self.timer.elapsed(), 3), "total_tokens": c.tokens,
                "tool_calls": c.tool_calls, "tasks_completed": c.tasks_completed,
                "errors_encountered": c.errors, "checkpoint_count": c.checkpoints,
                "progress": self.progress()}

    # ------------------------------------------------------------------ signals & jobs
    def _install_signals(self) -> None:
        """USR1 status, USR2 checkpoint, HUP reload, TERM/INT stop (control/signals.py)."""
        self.signal_inbox = signals.SignalInbox()
        signals.install(asyncio.get_running_loop(), self._enqueue_signal)

    def _enqueue_signal(self, sig: signal.Signals) -> None:
        """A signal arrived (on the loop, not in the interrupted code): only enqueue. A
        signal whose command is still waiting is folded into it, so a storm stays small."""
        cmd = self.signal_inbox.command_for(sig)
        if signals.SIGNALS[sig] == CommandKind.STOP:
            # the flag at once, so a phase wait or launch in progress ends at its next check
            self.request_stop(sig.name, signal_name=sig.name,
                              exit_code=signals.exit_code_for(sig))
        if cmd is None:
            return
        if cmd.kind == CommandKind.STATUS:
            # fast lane: a status line must not wait behind a checkpoint in progress
            self._spawn_task(self._handle(cmd), "status-signal")
            return
        self.queue.put_nowait(cmd)

    def _remove_signals(self) -> None:
        with contextlib.suppress(Exception):
            signals.uninstall(asyncio.get_running_loop())
        with contextlib.suppress(Exception):
            signals.ignore_quiet_signals()  # a late `supervisor status` must not kill us

    def _start_scheduler(self) -> None:
        scale = self.cfg.session.time_scale
        sched = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1,
                                               "misfire_grace_time": 5})
        sched.add_job(self._sample_metrics, "interval",
                      seconds=max(0.02, self.cfg.monitoring.metrics_interval_secs / scale),
                      id="metrics")
        sched.add_job(self._tick, "interval",
                      seconds=max(0.02, min(5.0, self.cfg.monitoring.health_check_interval / scale)),
                      id="tick")
        sched.start()
        self.scheduler = sched

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
            if self.clock.monotonic() - self._loc_at >= 2.0:
                self._loc_at = self.clock.monotonic()
                loc = await asyncio.to_thread(count_loc, self.layout.project_dir)
                self.loc = loc["lines_of_code"]
            self._sample_metrics_sync()
            if self.view is not None:
                self.view.update(self.status_snapshot())
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

    def _set_status(self, status: SessionStatus) -> None:
        check_transition(self.status, status)
        self.status = status
        self.write_status()

    def write_status(self) -> dict[str, Any]:
        snap = self.status_snapshot()
        write_status(self.layout, str(self.status), snap)
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
