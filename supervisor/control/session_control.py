"""The session side of the control plane: carrying out commands (from signals, the CLI and
HTTP), pause and resume, forced checkpoints, reload, the HTTP server and the signal
handlers (which only enqueue). A mixin of ``SessionRunner``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.config.schema import Config
from supervisor.control import pausing, signals
from supervisor.control.commands import Command, CommandKind
from supervisor.session import live
from supervisor.session.items import Internal
from supervisor.session.state import SessionStatus

if TYPE_CHECKING:
    from supervisor.runner import SessionRunner

log = logs.get("session")

MAX_PENDING_COMMANDS = 1000  # commands from HTTP waiting on the queue before 503
EXIT_INTERRUPTED = 130


class ControlMixin:
    # state this mixin sets (declared here for the type checker; SessionRunner inits it)
    stopping: bool
    paused: bool
    paused_since_wall: float | None
    paused_wall_total: float
    async def _handle(self: SessionRunner, item: Command | Internal) -> None:
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

    async def handle_command(self: SessionRunner, cmd: Command) -> dict[str, Any]:
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

    def request_stop(self: SessionRunner, reason: str, interrupted: bool = True, signal_name: str | None = None,
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
        self.publisher.event(f"stopping: {reason}", "warning")

    async def pause(self: SessionRunner, source: str) -> dict[str, Any]:
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
        self.set_status(SessionStatus.PAUSED)
        log.info("paused", source=source, agents=agents, session_seconds=round(t, 1))
        self.publisher.event(f"paused by {source}: {len(agents)} agents held")
        return {"ok": True, "paused": True, "agents": agents, "elapsed_seconds": round(t, 3)}

    async def unpause(self: SessionRunner, source: str) -> dict[str, Any]:
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
        self.set_status(SessionStatus.RUNNING)
        log.info("resumed", source=source, paused_wall_seconds=wall,
                 session_seconds=round(t, 1))
        self.publisher.event(f"resumed by {source} after {wall or 0:.1f} s")
        return {"ok": True, "paused": False, "agents": agents, "elapsed_seconds": round(t, 3)}

    async def forced_checkpoint(self: SessionRunner, cmd: Command) -> dict[str, Any]:
        result = await self.checkpoints.take("forced",
                                             reason=str(cmd.args.get("reason") or cmd.source))
        if result is None:
            return {"ok": False, "error": "checkpoint failed; see session.log"}
        return {"ok": True, "checkpoint": result}

    def recovery_state(self: SessionRunner) -> dict[str, Any]:
        """Recovery history, limits, votes and flags, for checkpoints."""
        return self.recovery.state()

    async def reload_config(self: SessionRunner) -> dict[str, Any]:
        """SIGHUP: re-read config.toml; apply limits, recovery, error handling and
        notifications in flight; log what changed (and what would need a restart)."""
        from supervisor.control.reload import apply_reload

        return await apply_reload(self)

    def on_config_reloaded(self: SessionRunner, old: Config, new: Config) -> None:
        """Seam: called after a reload replaced ``self.cfg`` (``old`` -> ``new``; only the
        reloadable sections differ). Parts that keep their own copy of a spec (recovery
        policy, limits, notifications) take the new one here."""
        self.recovery.reconfigure(new)

    async def on_tick(self: SessionRunner) -> None:
        """Periodic: checkpoint triggers, then recovery (monitors, limits, actions)."""
        await self.checkpoints.check_triggers()
        await self.recovery.on_tick()

    # ------------------------------------------------------------------ control plane
    async def _start_http(self: SessionRunner) -> None:
        ctl = self.cfg.control
        if not ctl.http_enabled:
            return
        from supervisor.control.http import start_http_server
        from supervisor.errors import ControlError

        try:
            self.http = await start_http_server(self, self.layout.root, ctl.http_port,
                                                ctl.port_fallback, updates=self.publisher)
        except ControlError as e:
            log.error("http_unavailable", port=ctl.http_port, fallback=ctl.port_fallback,
                      error=str(e))
            raise
        log.info("http_api", url=f"http://127.0.0.1:{self.http.port}")
        self.publisher.event(f"control API on http://127.0.0.1:{self.http.port} "
                             f"(token in {self.layout.control_json})")

    def submit(self: SessionRunner, command: Command) -> None:
        """Queue a command from the HTTP API (the loop answers it). A flood beyond
        ``MAX_PENDING_COMMANDS`` waiting is refused (the API answers 503)."""
        if self.finishing:
            command.answer({"ok": False, "status": 409, "error": "the session is ending"})
            return
        if self.queue.qsize() >= MAX_PENDING_COMMANDS:
            raise asyncio.QueueFull
        self.queue.put_nowait(command)

    def _refuse_pending(self: SessionRunner, why: str) -> None:
        """Answer every command still queued: nobody will carry them out now."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, Command):
                item.answer({"ok": False, "status": 409, "error": why})

    def metrics_snapshot(self: SessionRunner) -> dict[str, Any]:
        return dict(self.recorder.last) if self.recorder.last else self._metrics_now()

    def _metrics_now(self: SessionRunner) -> dict[str, Any]:
        c = self.counters
        return {"schema_version": 1, "session_id": self.session_id,
                "elapsed_seconds": round(self.timer.elapsed(), 3), "total_tokens": c.tokens,
                "tool_calls": c.tool_calls, "tasks_completed": c.tasks_completed,
                "errors_encountered": c.errors, "checkpoint_count": c.checkpoints,
                "progress": self.progress()}

    # ---- signals
    def _install_signals(self: SessionRunner) -> None:
        """USR1 status, USR2 checkpoint, HUP reload, TERM/INT stop (control/signals.py)."""
        self.signal_inbox = signals.SignalInbox()
        signals.install(asyncio.get_running_loop(), self._enqueue_signal)

    def _enqueue_signal(self: SessionRunner, sig: signal.Signals) -> None:
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
            self.spawn_task(self._handle(cmd), "status-signal")
            return
        self.queue.put_nowait(cmd)

    def _remove_signals(self: SessionRunner) -> None:
        with contextlib.suppress(Exception):
            signals.uninstall(asyncio.get_running_loop())
        with contextlib.suppress(Exception):
            signals.ignore_quiet_signals()  # a late `supervisor status` must not kill us

