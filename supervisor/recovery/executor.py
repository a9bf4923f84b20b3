"""Carrying out one decision (an *episode*): the retry loop, the agent actions, pauses,
escalations and stops, and the ``recovery`` records of their outcomes.

See ``actions.py`` for what each action does; this is the how. Waits go through
``_backoff``: the agent is sent ``throttle {seconds}`` and the session waits the same time
on its clock with session time held. Anything that changes which agents run or whether
the session runs is handed to the session loop (``RecoveryManager.on_loop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING, Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_none,
)

from supervisor import logs
from supervisor.limits import Limits
from supervisor.recovery.episodes import Episode, Probe, wait_from_attempt
from supervisor.recovery.limit_actions import LimitEnforcer
from supervisor.recovery.notify import Notifier
from supervisor.recovery.operations import AgentOps, StepFailed
from supervisor.recovery.policy import RecoveryHistory, episode_key
from supervisor.session.state import SessionStatus

if TYPE_CHECKING:
    from supervisor.recovery.actions import RecoveryManager
    from supervisor.runner import SessionRunner

log = logs.get("recovery")

MIN_PROBE_SECONDS = 60.0
# A probe is given at least this many wall seconds whatever the time scale: process
# start-up takes wall time (at 600x one wall second is ten session minutes).
PROBE_WALL_FLOOR_SECONDS = 2.0
HINT = ("The supervisor retried your step after a {type}: {message}. Answer strictly in the "
        "protocol: one JSON object per line, tool-call arguments as valid JSON, shorter "
        "steps.")
RELAUNCH_ACTIONS = frozenset({"restart_agent", "restore_checkpoint"})
SESSION_ACTIONS = frozenset({"escalate", "stop", "pause_alert", "log_continue"})


class ActionExecutor:
    def __init__(self, manager: RecoveryManager):
        self.m = manager
        self._locks: dict[str, asyncio.Lock] = {}

    # the manager's parts this works with
    @property
    def r(self) -> SessionRunner:
        return self.m.r

    @property
    def ops(self) -> AgentOps:
        return self.m.ops

    @property
    def history(self) -> RecoveryHistory:
        return self.m.history

    @property
    def limits(self) -> Limits:
        return self.m.limits

    @property
    def notifier(self) -> Notifier:
        return self.m.notifier

    @property
    def enforcer(self) -> LimitEnforcer:
        return self.m.enforcer

    @property
    def rng(self) -> random.Random:
        return self.m.rng

    @property
    def episodes(self) -> dict[int, Episode]:
        return self.m.episodes

    async def run(self, ep: Episode) -> None:
        # agent-level actions one at a time per agent; the session-wide ones (pause,
        # escalate, stop, log) never wait behind an agent's backoff
        d = ep.decision
        session_wide = d.escalate or d.action in SESSION_ACTIONS
        lock = self._locks.setdefault(ep.agent or "*", asyncio.Lock())
        try:
            async with contextlib.nullcontext() if session_wide else lock:
                ep.state = "acting"
                self.m.sync_status()
                outcome, extra = await self._carry_out(ep)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("recovery_crashed", failure_seq=ep.seq, error=str(e))
            outcome, extra = "failed", {"detail": f"recovery failed: {e}"}
        self._finish(ep, outcome, extra)

    async def _carry_out(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        d = ep.decision
        if d.escalate or d.action == "escalate":
            return await self._escalate(ep, d.reason)
        if d.action == "stop":
            return await self._stop(ep)
        if d.action == "log_continue":
            self.m.flags.append({"t": round(ep.started_t, 1), "agent": ep.agent,
                                 "type": ep.type, "message": ep.failure.message[:200]})
            del self.m.flags[:-50]
            return "recovered", {"flagged": True}
        if d.action == "pause_alert":
            return await self._pause_alert(ep)
        if d.action == "restore_checkpoint" and (ep.agent is None
                                                 or ep.type == "data_corruption"):
            return await self._restore_session(ep)
        if ep.agent is None:  # a session-wide failure with an agent action: wait, go on
            await self._backoff(ep, d.wait_seconds)
            return "recovered", {}
        return await self._agent_loop(ep)

    async def _agent_loop(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        d = ep.decision
        self.record(ep, "pending", {})
        await self._backoff(ep, d.wait_seconds)
        tries = max(1, d.max_attempts - d.attempt + 1)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(tries),
            wait=wait_from_attempt(d.backoff, d.attempt, self.rng) if d.backoff else wait_none(),
            sleep=lambda s: self._backoff(ep, s),
            retry=retry_if_exception(lambda e: isinstance(e, StepFailed) and not e.final),
            before_sleep=lambda rs: self._retrying(ep, rs),
            reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    await self._step(ep)
        except StepFailed as e:
            if e.final or self.r.stopping:
                return "failed", {"detail": str(e)}
            self.history.escalations += 1
            return await self._escalate(
                ep, f"{d.action} did not recover {ep.type} of {ep.agent} after {ep.tries} "
                    f"tries ({e}); attempts exhausted")
        return "recovered", {}

    def _retrying(self, ep: Episode, rs: RetryCallState) -> None:
        key = episode_key(ep.agent, ep.type)
        self.history.attempts[key] = self.history.attempts.get(key, 0) + 1
        exc = rs.outcome.exception() if rs.outcome is not None else None
        log.info("recovery_retry", failure_seq=ep.seq, agent=ep.agent, type=ep.type,
                 tries=ep.tries, error=str(exc))

    async def _step(self, ep: Episode) -> None:  # noqa: C901 - one branch per recovery action of the table
        """One try of the action, then wait (bounded) for the agent to show it worked."""
        aid = ep.agent
        assert aid is not None
        action = ep.decision.action
        ep.tries += 1
        ep.state = "acting"
        host = self.ops.host(aid)
        probe = "progress"
        if self.r.phase is not ep.phase:  # the next phase launched the agent afresh
            ep.phase = self.r.phase
            ep.detail["phase_changed"] = True
            if host is None:
                raise StepFailed(f"{aid} does not work in this phase", final=True)
            await self._probe(ep, probe)
            return
        if action == "switch_model":
            model, index = self.ops.next_model(aid)
            ep.detail["model"] = model
            if host is not None and "switch_model" in host.capabilities:
                await self.ops.send(aid, "switch_model", model=model)
                host.model = model
                self.r.ledger.record("model_switch", self.r.timer.elapsed(), agent=aid,
                                     model=model, index=index, how="command")
            else:
                await self._relaunch(ep, f"switch model to {model}")
                self.r.ledger.record("model_switch", self.r.timer.elapsed(), agent=aid,
                                     model=model, index=index, how="restart")
        elif action == "modify_prompt":
            text = HINT.format(type=ep.type, message=ep.failure.message[:200])
            path = await self.ops.blocking(self.ops.write_hint, aid, text)
            ep.detail["hint_file"] = str(path)
            if host is not None and "prompt_hint" in host.capabilities:
                await self.ops.send(aid, "prompt_hint", text=text, path=str(path))
            else:
                await self._relaunch(ep, "retry with a modified prompt")
        elif action == "compress_context":
            caps = host.capabilities if host is not None else set()
            if host is not None and caps & {"compress", "compress_context"}:
                await self.ops.send(aid, "compress_context")
            else:
                await self._relaunch(ep, "fresh context")
            probe = {"monitor": "context"}.get(ep.failure.source, "progress")
            if ep.failure.message.startswith("rss"):
                probe = "rss"
        elif action in RELAUNCH_ACTIONS:
            state = None
            if action == "restore_checkpoint":
                state, label = await self.m.on_loop(lambda: self.ops.checkpoint_state(aid))
                ep.detail["restored_from"] = label
            await self._relaunch(ep, f"{ep.type}: {action}", state)
        elif host is None:  # retry of an agent that died: relaunch it
            await self._relaunch(ep, f"{ep.type}: relaunch")
        await self._probe(ep, probe)

    async def _relaunch(self, ep: Episode, why: str,
                        state: dict[str, Any] | None = None) -> None:
        aid = ep.agent
        assert aid is not None
        await self.m.on_loop(lambda: self.ops.relaunch(aid, ep.phase, why, state))
        ep.dead = False
        ep.detail["relaunched"] = ep.detail.get("relaunched", 0) + 1
        self.m.floor[aid] = self.r.timer.elapsed()

    async def _probe(self, ep: Episode, kind: str) -> None:
        aid = ep.agent
        assert aid is not None
        a = self.r.counters.agent(aid)
        window = max(MIN_PROBE_SECONDS, self.limits.idle_limit_seconds())
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ep.probe = Probe(kind, a.tool_calls - a.tool_calls_failed, a.tokens,
                         self.r.timer.elapsed() + window, fut,
                         self.r.clock.monotonic() + PROBE_WALL_FLOOR_SECONDS)
        ep.state = "probing"
        self.m.sync_status()
        try:
            await fut
        finally:
            ep.probe = None

    def check_probes(self) -> None:
        """Resolve probes (on the session loop, each tick): worked, or out of time."""
        r = self.r
        now = r.timer.elapsed()
        for ep in list(self.episodes.values()):
            p = ep.probe
            if p is None or p.future.done() or ep.agent is None:
                continue
            a = r.counters.agent(ep.agent)
            if p.kind == "context":
                ok = a.tokens > p.marker_tokens and a.context <= r.cfg.limits.max_context_size
            elif p.kind == "rss":
                rss = r.resources.get(ep.agent, {}).get("rss_bytes")
                ok = (a.tokens > p.marker_tokens and rss is not None
                      and rss <= self.limits.memory_limit_bytes())
            else:
                ok = a.tool_calls - a.tool_calls_failed > p.marker_ok_calls or \
                    a.tokens > p.marker_tokens
            if ok:
                p.future.set_result(None)
            elif now > p.deadline and r.clock.monotonic() > p.wall_deadline:
                p.future.set_exception(StepFailed(f"no {p.kind} seen in time"))

    async def _backoff(self, ep: Episode, seconds: float) -> None:
        """Wait a backoff: the agent throttled for it, session time held (not phase time)."""
        if seconds <= 0:
            return
        ep.state = "waiting"
        ep.waited += seconds
        self.m.sync_status()
        if ep.agent is not None and self.ops.host(ep.agent) is not None:
            if await self.ops.send(ep.agent, "throttle", seconds=round(seconds, 3)):
                self.enforcer.mark_throttled(ep.agent, seconds)
        await self._held_sleep(seconds)
        ep.state = "acting"

    async def _held_sleep(self, seconds: float) -> None:
        self.r.timer.hold()
        try:
            await self.r.clock.sleep(seconds)
        finally:
            self.r.timer.release()

    async def _escalate(self, ep: Episode, reason: str) -> tuple[str, dict[str, Any]]:
        sid = self.r.session_id
        if ep.action != "escalate":  # a loop past its bounds: the table's action gave up
            ep.detail["from_action"] = ep.action
            ep.action = "escalate"
        self._await_human(ep, "escalate", reason)
        self.notifier.alert(
            ep.type, f"escalated to a human: {reason}. Resume with `supervisor resume {sid}`",
            "critical", ep.agent, self.r.timer.elapsed(), self.r.clock.wall(),
            failure_seq=ep.seq)
        if ep.type == "consensus_deadlock":
            self.m.votes.clear()
        await self.m.on_loop(self.ops.pause)
        return "escalated", {"reason": reason}

    async def _pause_alert(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        sid = self.r.session_id
        freed = await self.ops.blocking(self.ops.clean_up) if ep.type == "disk_full" else 0
        self._await_human(ep, "pause_alert", ep.decision.reason)
        self.notifier.alert(
            ep.type, f"{ep.type}: {ep.failure.message}; session paused "
                     f"(cleaned up {freed} bytes). Fix it, then `supervisor resume {sid}`",
            "critical", ep.agent, self.r.timer.elapsed(), self.r.clock.wall(),
            failure_seq=ep.seq)
        await self.m.on_loop(self.ops.pause)
        return "pending", {"freed_bytes": freed}

    async def _stop(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        reason = f"{ep.type}: {ep.failure.message}"
        self.notifier.alert(ep.type, f"stopping the session: {reason}", "critical", ep.agent,
                            self.r.timer.elapsed(), self.r.clock.wall(), failure_seq=ep.seq)

        async def stop() -> None:
            self.ops.stop_session(reason, SessionStatus.FAILED, 1)

        await self.m.on_loop(stop)
        return "failed", {"detail": "session stopped"}

    async def _restore_session(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        self.record(ep, "pending", {})
        await self._backoff(ep, ep.decision.wait_seconds)
        try:
            info = await self.m.on_loop(
                lambda: self.ops.restore_session(self.r.phase, f"{ep.type}: restore checkpoint"))
        except StepFailed as e:
            return await self._escalate(ep, f"restore of the last checkpoint failed: {e}")
        return "recovered", {"restored_from": f"checkpoint {info['checkpoint']}"}

    def _await_human(self, ep: Episode, action: str, reason: str) -> None:
        ep.state = "awaiting_human"
        if self.m.awaiting is None:
            self.m.awaiting = {"since_t": round(self.r.timer.elapsed(), 1),
                             "since_wall": round(self.r.clock.wall(), 3), "reason": reason,
                             "type": ep.type, "agent": ep.agent, "action": action,
                             "failures": [], "paused": False,
                             "resume_with": f"supervisor resume {self.r.session_id}"}
        self.m.awaiting["failures"].append(ep.seq)

    # ================================================================== outcomes
    def record(self, ep: Episode, outcome: str, extra: dict[str, Any]) -> None:
        r = self.r
        done = outcome in ("recovered", "failed")
        fields = {
            "failure_seq": ep.seq, "agent": ep.agent, "type": ep.type,
            "severity": ep.failure.severity, "action": ep.action,
            "attempt": ep.decision.attempt, "tries": ep.tries, "outcome": outcome,
            "wait_seconds": round(ep.waited if ep.tries or done else ep.decision.wait_seconds, 3),
            "recovery_seconds": round(r.clock.now() - ep.started, 3) if done else None,
            **ep.detail, **extra,
        }
        r.ledger.record("recovery", r.timer.elapsed(), **fields)
        level = "info" if outcome in ("recovered", "pending") else "warning"
        getattr(log, level)("recovery", **fields)

    def _finish(self, ep: Episode, outcome: str, extra: dict[str, Any]) -> None:
        self.record(ep, outcome, extra)
        if outcome == "recovered":
            self.history.record_success(ep.agent, ep.type, self.r.timer.elapsed())
        if outcome not in ("escalated", "pending"):
            ep.state = "done"
            self.episodes.pop(ep.seq, None)
        self.m.sync_status()
