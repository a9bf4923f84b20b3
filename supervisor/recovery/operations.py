"""What recovery actions do to agents and to the session, through the runner.

Commands to a running agent (``throttle``, ``switch_model``, ``compress_context``,
``prompt_hint``) can be sent from anywhere. Everything that changes which agents run or
whether the session runs (stop and relaunch an agent, pause, roll the project back, stop
the session) is called from ``RecoveryManager.on_tick``, that is on the session loop
between two queue items: it never races a phase change, a pause or a checkpoint.

A relaunch keeps the agent's id, role and saved state (``agents/<id>/state.json`` is
handed to it as ``{resume_state}``), so the task it was on is reassigned to it. Session
time is held while an agent is stopped and launched again, like at a phase start.

Modified prompts: the hint is written to ``agents/<id>/prompt_hint.txt``. An agent that
announced the ``prompt_hint`` capability gets ``{"cmd": "prompt_hint", "text": ...,
"path": ...}``; any other agent is restarted, so that it starts again with the hint file
next to its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.checkpoint.store import decode_manifest
from supervisor.clock import wall_time
from supervisor.errors import SupervisorError
from supervisor.plan import AgentSlot, PlannedPhase
from supervisor.session.files import write_text_atomic
from supervisor.session.state import AgentState, SessionStatus

if TYPE_CHECKING:
    from supervisor.agents.host import AgentHost
    from supervisor.runner import SessionRunner

log = logs.get("recovery")

HINT_FILE = "prompt_hint.txt"
STALE_TMP_SECONDS = 60.0  # wall seconds: older temp files of atomic writes are leftovers


class StepFailed(SupervisorError):
    """A recovery step did not work. ``final``: trying again is pointless (the agent is
    gone, the phase ended); otherwise the retry loop may try again after its backoff."""

    def __init__(self, message: str, final: bool = False):
        self.final = final
        super().__init__(message)


class AgentOps:
    def __init__(self, runner: SessionRunner):
        self.r = runner
        # blocking work (file system walks, checkpoint reads) runs in a thread; tests
        # replace this with an inline call to stay deterministic
        self.blocking: Callable[..., Awaitable[Any]] = asyncio.to_thread

    # ---- reading ----
    def host(self, agent_id: str | None) -> AgentHost | None:
        """The agent's running host, or None."""
        if agent_id is None:
            return None
        h = self.r.hosts.get(agent_id)
        return h if h is not None and h.alive else None

    def slot(self, agent_id: str, phase: PlannedPhase | None) -> AgentSlot | None:
        if phase is None:
            return None
        return next((s for s in phase.agents if s.agent_id == agent_id), None)

    def can_launch(self, phase: PlannedPhase | None) -> bool:
        r = self.r
        return (phase is not None and r.phase is phase and not r.stopping and not r.finishing
                and r.timer.elapsed() < phase.end_s)

    # ---- commands to a running agent ----
    async def send(self, agent_id: str | None, cmd: str, **fields: Any) -> bool:
        host = self.host(agent_id)
        if host is None:
            return False
        try:
            return await host.send(cmd, **fields)
        except Exception as e:  # noqa: BLE001 - a command that cannot be sent is a failed step, not a crash
            log.warning("agent_command_failed", agent=agent_id, command=cmd, error=str(e))
            return False

    def next_model(self, agent_id: str) -> tuple[str, int]:
        """Move the agent to the next of ``[agent] models``; its name and index."""
        r = self.r
        models = r.cfg.agent.models or ("default",)
        index = r.agent_models.get(agent_id, 0) + 1
        r.agent_models[agent_id] = index
        return models[index % len(models)], index

    def write_hint(self, agent_id: str, text: str) -> Path:
        path = self.r.layout.agent_dir(agent_id) / HINT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text + "\n", durable=False)
        return path

    # ---- on the session loop only ----
    async def stop_agent(self, agent_id: str, why: str) -> str | None:
        """Stop the agent (its final state is kept); how it ended, or None if not running."""
        r = self.r
        host = r.hosts.get(agent_id)
        if host is None:
            return None
        try:
            how = str(await host.stop(r.cfg.agent.stop_grace_secs))
        except Exception as e:  # noqa: BLE001 - an agent that will not stop is recorded as how=unknown
            log.error("agent_stop_failed", agent=agent_id, error=str(e))
            how = "unknown"
        host.state = AgentState.EXITED
        r.monitor.untrack(agent_id)
        if host.last_state is not None:
            r.agent_states[agent_id] = host.last_state
        if r.hosts.get(agent_id) is host:
            del r.hosts[agent_id]
        r.ledger.record("agent_exit", r.timer.elapsed(), agent=agent_id, how=how, why=why)
        return how

    async def relaunch(self, agent_id: str, phase: PlannedPhase | None, why: str,
                       state: dict[str, Any] | None = None) -> AgentHost:
        """Stop the agent if it runs and launch it again (``restart=True``) in ``phase``."""
        r = self.r
        slot = self.slot(agent_id, phase)
        if slot is None or phase is None or not self.can_launch(phase):
            raise StepFailed(f"agent {agent_id} cannot be relaunched: its phase is over",
                             final=True)
        r.timer.hold()  # stopping and launching is not session time
        try:
            await self.stop_agent(agent_id, why)
            if state is not None:
                r.agent_states[agent_id] = dict(state)
            try:
                host = await r.launch_agent(slot, phase, restart=True)
            except SupervisorError as e:
                raise StepFailed(f"relaunch of {agent_id} failed: {e}") from e
        finally:
            r.timer.release()
        if r.paused:  # a human holds the session: hold the new agent too
            host.freeze()
        return host

    async def checkpoint_state(self, agent_id: str) -> tuple[dict[str, Any] | None, str]:
        """The agent's state in the newest valid checkpoint, else its last known state."""
        r = self.r
        store = r.checkpoints.checkpointer.store
        try:
            newest = await self.blocking(store.newest_valid, False)
        except Exception as e:  # noqa: BLE001 - an unreadable checkpoint falls back to the last state
            log.warning("checkpoint_read_failed", error=str(e))
            newest = None
        if newest is not None:
            info, body = newest
            states = body.get("agent_states") or {}
            state = states.get(agent_id) if isinstance(states, dict) else None
            if isinstance(state, dict):
                return state, f"checkpoint {info.number}"
        return r.agent_states.get(agent_id), "last state"

    async def restore_session(self, phase: PlannedPhase | None, why: str) -> dict[str, Any]:
        """Whole-session restore: every agent stopped, ``project/`` rolled back to the newest
        valid checkpoint, agents relaunched from its states. Session time is not rolled back
        (the work undone was still paid for)."""
        r = self.r
        if phase is None or not self.can_launch(phase):
            raise StepFailed("the phase is over; nothing to restore into", final=True)
        ck = r.checkpoints.checkpointer
        newest = await self.blocking(ck.store.newest_valid, True)
        if newest is None:
            raise StepFailed("no valid checkpoint to restore", final=True)
        info, body = newest
        r.timer.hold()
        try:
            for aid in list(r.hosts):
                await self.stop_agent(aid, why)
            manifest = decode_manifest(body["manifest"], str(info.path))
            await self.blocking(ck.snapshots.materialize, manifest, r.layout.project_dir,
                                    tuple(r.cfg.checkpoint.excludes))
            states = body.get("agent_states") or {}
            r.agent_states.update({k: v for k, v in states.items() if isinstance(v, dict)})
            r.agent_models.update({k: int(v) for k, v in (body.get("agent_models") or {}).items()})
            r.ledger.record("session_restore", r.timer.elapsed(), checkpoint=info.number,
                            reason=why)
            for slot in phase.agents:
                await r.launch_agent(slot, phase, restart=True)
        finally:
            r.timer.release()
        return {"checkpoint": info.number, "files": len(manifest)}

    async def pause(self) -> bool:
        r = self.r
        if r.stopping:
            return False
        if r.paused:
            return True
        res = await r.pause("recovery")
        return bool(res.get("ok"))

    def stop_session(self, reason: str, status: SessionStatus, exit_code: int) -> None:
        self.r.request_stop(reason, interrupted=False, status=status, exit_code=exit_code)

    def clean_up(self) -> int:
        """Disk full: remove leftover temp files of atomic writes; bytes freed."""
        freed = 0
        now = wall_time()
        for root, _dirs, files in os.walk(self.r.layout.root):
            for name in files:
                if not (name.startswith(".") and name.endswith(".tmp")):
                    continue
                path = os.path.join(root, name)
                with contextlib.suppress(OSError):
                    st = os.stat(path)
                    if now - st.st_mtime > STALE_TMP_SECONDS:
                        os.unlink(path)
                        freed += st.st_size
        return freed
