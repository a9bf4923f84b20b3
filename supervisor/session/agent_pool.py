"""The agents of a session: launching them from the command template, their intake and
stderr, stopping them, and what the session does with their notable events. A mixin of
``SessionRunner`` (its methods run on the session loop with the runner as ``self``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.agents.host import AgentHost
from supervisor.agents.process import agent_env, render_command
from supervisor.agents.protocol import Event
from supervisor.plan import AgentSlot, PlannedPhase
from supervisor.session.files import write_json_atomic
from supervisor.session.items import Internal
from supervisor.session.state import AgentState

if TYPE_CHECKING:
    from supervisor.runner import SessionRunner

log = logs.get("session")


class AgentsMixin:
    def model_for(self: SessionRunner, slot: AgentSlot) -> str:
        models = self.cfg.agent.models or ("default",)
        return models[self.agent_models.get(slot.agent_id, 0) % len(models)]

    async def launch_agent(self: SessionRunner, slot: AgentSlot, phase: PlannedPhase, restart: bool = False) -> AgentHost:
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
        self.spawn_task(self._watch(host), f"agent-{slot.agent_id}")
        return host

    def spawn_task(self: SessionRunner, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _watch(self: SessionRunner, host: AgentHost) -> None:
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

    async def _pump_stderr(self: SessionRunner, host: AgentHost) -> None:
        assert host.proc is not None
        while True:
            line = await host.proc.read_stderr_line()
            if line is None:
                return
            self.on_stderr(host, line)

    def on_stderr(self: SessionRunner, host: AgentHost, line: bytes) -> None:
        """Stderr lines matching a rule or a strong signature are failures."""
        self.recovery.on_stderr(host, line)

    async def _stop_agents(self: SessionRunner, why: str) -> None:
        """Stop every agent; one launched meanwhile (a recovery relaunch racing the phase
        end) is stopped too, so no agent outlives its phase."""
        for _ in range(5):
            hosts = [h for h in self.hosts.values() if h.proc is not None]
            if not hosts:
                self.hosts.clear()
                return
            await self._stop_hosts(hosts, why)
            for h in hosts:
                if self.hosts.get(h.agent_id) is h:
                    del self.hosts[h.agent_id]

    async def _stop_hosts(self: SessionRunner, hosts: list[AgentHost], why: str) -> None:
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

    async def _on_event(self: SessionRunner, host: AgentHost, ev: Event, t: float) -> None:
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

    async def on_agent_error(self: SessionRunner, host: AgentHost, ev: Event, t: float) -> None:
        """Classified, decided and acted on by the recovery manager (recovery/actions.py)."""
        self.recovery.on_error_event(host, ev, t)

    async def on_agent_exit(self: SessionRunner, host: AgentHost, returncode: int) -> None:
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

