"""RecoveryManager: every failure of a running session classified, decided and acted on.

The runner holds one and calls it from its seams: ``on_error_event``, ``on_stderr``,
``on_exit`` (an agent ended on its own), ``on_event`` (votes, test results) and
``on_tick`` (monitors, limits, and the actions that must run on the session loop).

A failure is recorded (journal ``failure`` record, log), ``decide``d (the pure table in
``policy.py``, history before it) and then carried out in a task of its own, one at a
time per agent (an *episode*, ``episodes.py``):

- ``retry``/``throttle_retry``: the agent is throttled (``throttle {seconds}``) for the
  backoff, and the session waits the same backoff with session time held; it has recovered
  when its next successful tool call or tokens event arrives (a dead agent is relaunched).
  No progress within the probe window: the next backoff, up to the rule's attempts
  (tenacity ``AsyncRetrying``, waits on the session clock).
- ``switch_model``: the next of ``[agent] models`` (``switch_model`` command when the agent
  announced it, else a restart with that model); then as retry.
- ``modify_prompt``: a hint in ``agents/<id>/prompt_hint.txt`` (see ``operations.py``).
- ``compress_context``: ``compress_context`` command (or a restart); recovered when the
  context (or RSS) that triggered it is under its limit again.
- ``restart_agent``: stopped and relaunched with its saved state (its task reassigned).
- ``restore_checkpoint``: for one agent, relaunched from its state in the newest
  checkpoint of this phase (else its last state); for ``data_corruption`` (or a session
  failure) the whole project is rolled back to the newest checkpoint.
- ``log_continue``: flagged for the report. ``pause_alert``: paused, alerted, cleaned up;
  ``escalate`` (and every loop past ``max_attempts``/``max_consecutive_errors``): paused
  for a human until ``supervisor resume``. ``stop``: the session stops, status failed.

Every outcome is a ``recovery`` record {failure_seq, agent, type, action, attempt, outcome,
wait_seconds, recovery_seconds}; recovery_seconds are on the session clock from the
failure to the outcome (backoff waits and pauses included).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_none,
)

from supervisor import logs
from supervisor.agents.protocol import Event
from supervisor.limits import Limits, LimitVerdict
from supervisor.recovery.classify import Classifier, Failure
from supervisor.recovery.consensus import VoteTracker
from supervisor.recovery.episodes import Episode, Probe, wait_from_attempt
from supervisor.recovery.limit_actions import LimitEnforcer
from supervisor.recovery.monitors import AgentReading, HealthChecks, disk_failure
from supervisor.recovery.notify import Notifier
from supervisor.recovery.operations import AgentOps, StepFailed
from supervisor.recovery.policy import RecoveryHistory, decide, episode_key
from supervisor.session.state import AgentState, SessionStatus

if TYPE_CHECKING:
    from supervisor.agents.host import AgentHost
    from supervisor.runner import SessionRunner

log = logs.get("recovery")

STATE_SCHEMA = 1
DEDUP_WALL_SECONDS = 2.0  # the same failure seen by two sources this close is one failure
DISK_CHECK_WALL_SECONDS = 1.0
MIN_PROBE_SECONDS = 60.0
# Silence shorter than IDLE_WALL_FLOOR wall seconds is never a hang, and a probe is given
# at least PROBE_WALL_FLOOR, whatever the time scale: process start-up and scheduling take
# wall time (at 600x one wall second is ten session minutes).
IDLE_WALL_FLOOR_SECONDS = 1.0
PROBE_WALL_FLOOR_SECONDS = 2.0
HINT = ("The supervisor retried your step after a {type}: {message}. Answer strictly in the "
        "protocol: one JSON object per line, tool-call arguments as valid JSON, shorter "
        "steps.")
RELAUNCH_ACTIONS = frozenset({"restart_agent", "restore_checkpoint"})
SESSION_ACTIONS = frozenset({"escalate", "stop", "pause_alert", "log_continue"})


class RecoveryManager:
    def __init__(self, runner: SessionRunner, saved: Mapping[str, Any] | None = None,
                 notifier: Notifier | None = None, rng: random.Random | None = None):
        self.r = runner
        cfg = runner.cfg
        self.classifier = Classifier(cfg.error_handling, cfg.recovery, cfg.source)
        self.history = RecoveryHistory()
        self.limits = Limits(cfg.limits)
        self.votes = VoteTracker(cfg.consensus)
        self.flags: list[dict[str, Any]] = []
        self._restore(saved or {})
        self.limits.tokens_used = max(self.limits.tokens_used, runner.counters.tokens)
        self.health = HealthChecks(self.classifier, self.limits, self.votes,
                                   cfg.consensus.vote_timeout_secs, cfg.consensus.enabled)
        for aid, a in runner.counters.agents.items():
            self.health.prime(aid, a.tokens, a.tool_calls)
        self.notifier = notifier or Notifier(cfg.notifications, runner.session_id,
                                             record=self._journal_alert, view=runner.view)
        self.ops = AgentOps(runner)
        self.enforcer = LimitEnforcer(self)
        self.rng = rng or random.Random(f"{cfg.session.seed}:recovery")
        self.episodes: dict[int, Episode] = {}
        self.awaiting: dict[str, Any] | None = None  # paused for a human
        self._locks: dict[str, asyncio.Lock] = {}
        self._recent: dict[tuple[str | None, str], tuple[str, float]] = {}
        self._ops: deque[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = deque()
        self._floor: dict[str, float] = {}  # agent -> session time its idle clock restarts
        self._seen: dict[str, tuple[int, float, Any]] = {}  # agent -> (events, wall, host)
        self._disk_at = -1e18
        self._disk_task: asyncio.Task[None] | None = None

    # ================================================================== intake
    def on_error_event(self, host: AgentHost, ev: Event, t: float) -> None:
        f = ev.fields
        failure = self.classifier.from_error_event(
            host.agent_id, str(f.get("kind") or "unknown"), str(f.get("message") or ""),
            bool(f.get("fatal")))
        self.handle(failure, "event")

    def on_stderr(self, host: AgentHost, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        failure = self.classifier.from_stderr(host.agent_id, text)
        if failure is not None:
            self.handle(failure, "stderr")

    async def on_exit(self, host: AgentHost, returncode: int) -> None:
        """An agent ended without being asked to (the runner did the bookkeeping)."""
        for ep in self.episodes.values():
            if ep.agent == host.agent_id and ep.probe is not None and not ep.probe.future.done():
                ep.probe.future.set_exception(StepFailed("the agent exited", final=True))
        tail = list(host.proc.stderr_tail) if host.proc is not None else []
        # the runner calls this only for exits nobody asked for (it sweeps the agent's
        # leftovers first, which marks the host stop_requested)
        failure = self.classifier.from_exit(host.agent_id, returncode, tail, expected=False)
        if failure is not None:
            self.handle(failure, "exit", dead=True)

    def on_event(self, host: AgentHost, ev: Event, t: float) -> None:
        """Votes (consensus tracking) and test results (failing tests are degraded)."""
        f = ev.fields
        if ev.type == "vote":
            voters = sum(1 for h in self.r.hosts.values() if h.alive)
            outcome = self.votes.observe(host.agent_id, str(f.get("topic")),
                                         str(f.get("choice")), t, voters)
            if outcome is not None:
                log.info("consensus", topic=outcome.topic, choice=outcome.choice,
                         voters=outcome.voters, share=outcome.share)
        elif ev.type == "test_result" and int(f.get("failed") or 0) > 0:
            failure = self.classifier.make(
                "test_failure", "event", f"{f.get('failed')} tests failed, "
                                         f"{f.get('passed')} passed", host.agent_id)
            self.handle(failure, "event")

    # ================================================================== decide
    def handle(self, failure: Failure, origin: str, dead: bool = False) -> Episode | None:
        """Record a failure, decide its action and start carrying it out."""
        r = self.r
        if self._duplicate(failure, origin):
            return None
        t = r.timer.elapsed()
        d = decide(failure, self.history, r.cfg.recovery, r.cfg.error_handling,
                   r.cfg.checkpoint.auto_recovery, self.rng)
        attempt = self.history.record_failure(failure, t, escalated=d.escalate)
        seq = r.ledger.record(
            "failure", t, agent=failure.agent_id, type=failure.type, severity=failure.severity,
            source=failure.source, origin=origin, message=failure.message[:500],
            action=d.action, attempt=attempt, max_attempts=d.max_attempts,
            escalate=d.escalate)
        log.warning("failure", agent=failure.agent_id, type=failure.type,
                    severity=failure.severity, source=failure.source, action=d.action,
                    attempt=attempt, message=failure.message[:300], reason=d.reason)
        ep = Episode(seq, failure, d, r.phase, r.clock.now(), t, dead=dead)
        self.episodes[seq] = ep
        r._spawn_task(self._run(ep), f"recovery-{seq}")
        self._sync_status()
        return ep

    def _duplicate(self, failure: Failure, origin: str) -> bool:
        """The same failure seen twice (an error event and its stderr line), or a monitor
        reading again what is already being recovered from."""
        key = (failure.agent_id, failure.type)
        if origin in ("monitor", "stderr") and any(
                e.key == key for e in self.episodes.values()):
            return True
        now = self.r.clock.monotonic()
        prev = self._recent.get(key)
        self._recent[key] = (origin, now)
        return prev is not None and prev[0] != origin and now - prev[1] <= DEDUP_WALL_SECONDS

    # ================================================================== carry out
    async def _run(self, ep: Episode) -> None:
        # agent-level actions one at a time per agent; the session-wide ones (pause,
        # escalate, stop, log) never wait behind an agent's backoff
        d = ep.decision
        session_wide = d.escalate or d.action in SESSION_ACTIONS
        lock = self._locks.setdefault(ep.agent or "*", asyncio.Lock())
        try:
            async with contextlib.nullcontext() if session_wide else lock:
                ep.state = "acting"
                self._sync_status()
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
            self.flags.append({"t": round(ep.started_t, 1), "agent": ep.agent, "type": ep.type,
                               "message": ep.failure.message[:200]})
            del self.flags[:-50]
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
        self._record(ep, "pending", {})
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

    async def _step(self, ep: Episode) -> None:
        """One try of the action, then wait (bounded) for the agent to show it worked."""
        aid = ep.agent
        assert aid is not None
        action = ep.decision.action
        ep.tries += 1
        ep.state = "acting"
        host = self.ops.host(aid)
        probe = "progress"
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
            path = await asyncio.to_thread(self.ops.write_hint, aid, text)
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
                state, label = await self._on_loop(lambda: self.ops.checkpoint_state(aid))
                ep.detail["restored_from"] = label
            await self._relaunch(ep, f"{ep.type}: {action}", state)
        elif host is None:  # retry of an agent that died: relaunch it
            await self._relaunch(ep, f"{ep.type}: relaunch")
        await self._probe(ep, probe)

    async def _relaunch(self, ep: Episode, why: str,
                        state: dict[str, Any] | None = None) -> None:
        aid = ep.agent
        assert aid is not None
        await self._on_loop(lambda: self.ops.relaunch(aid, ep.phase, why, state))
        ep.dead = False
        ep.detail["relaunched"] = ep.detail.get("relaunched", 0) + 1
        self._floor[aid] = self.r.timer.elapsed()

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
        self._sync_status()
        try:
            await fut
        finally:
            ep.probe = None

    async def _backoff(self, ep: Episode, seconds: float) -> None:
        """Wait a backoff: the agent throttled for it, session time held (not phase time)."""
        if seconds <= 0:
            return
        ep.state = "waiting"
        ep.waited += seconds
        self._sync_status()
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
            self.votes.clear()
        await self._on_loop(self.ops.pause)
        return "escalated", {"reason": reason}

    async def _pause_alert(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        sid = self.r.session_id
        freed = await asyncio.to_thread(self.ops.clean_up) if ep.type == "disk_full" else 0
        self._await_human(ep, "pause_alert", ep.decision.reason)
        self.notifier.alert(
            ep.type, f"{ep.type}: {ep.failure.message}; session paused "
                     f"(cleaned up {freed} bytes). Fix it, then `supervisor resume {sid}`",
            "critical", ep.agent, self.r.timer.elapsed(), self.r.clock.wall(),
            failure_seq=ep.seq)
        await self._on_loop(self.ops.pause)
        return "pending", {"freed_bytes": freed}

    async def _stop(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        reason = f"{ep.type}: {ep.failure.message}"
        self.notifier.alert(ep.type, f"stopping the session: {reason}", "critical", ep.agent,
                            self.r.timer.elapsed(), self.r.clock.wall(), failure_seq=ep.seq)

        async def stop() -> None:
            self.ops.stop_session(reason, SessionStatus.FAILED, 1)

        await self._on_loop(stop)
        return "failed", {"detail": "session stopped"}

    async def _restore_session(self, ep: Episode) -> tuple[str, dict[str, Any]]:
        self._record(ep, "pending", {})
        await self._backoff(ep, ep.decision.wait_seconds)
        try:
            info = await self._on_loop(
                lambda: self.ops.restore_session(ep.phase, f"{ep.type}: restore checkpoint"))
        except StepFailed as e:
            return await self._escalate(ep, f"restore of the last checkpoint failed: {e}")
        return "recovered", {"restored_from": f"checkpoint {info['checkpoint']}"}

    def _await_human(self, ep: Episode, action: str, reason: str) -> None:
        ep.state = "awaiting_human"
        if self.awaiting is None:
            self.awaiting = {"since_t": round(self.r.timer.elapsed(), 1),
                             "since_wall": round(self.r.clock.wall(), 3), "reason": reason,
                             "type": ep.type, "agent": ep.agent, "action": action,
                             "failures": [], "paused": False,
                             "resume_with": f"supervisor resume {self.r.session_id}"}
        self.awaiting["failures"].append(ep.seq)

    # ================================================================== outcomes
    def _record(self, ep: Episode, outcome: str, extra: dict[str, Any]) -> None:
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
        self._record(ep, outcome, extra)
        if outcome == "recovered":
            self.history.record_success(ep.agent, ep.type, self.r.timer.elapsed())
        if outcome not in ("escalated", "pending"):
            ep.state = "done"
            self.episodes.pop(ep.seq, None)
        self._sync_status()

    # ================================================================== the loop
    async def _on_loop(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` on the session loop (at the next tick) and wait for its result."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._ops.append((fn, fut))
        return await fut

    async def on_tick(self) -> None:
        """Ops queued by episodes, human resumes, probes, monitors, limits, status."""
        r = self.r
        while self._ops:
            fn, fut = self._ops.popleft()
            if fut.done():
                continue
            try:
                result = await fn()
            except Exception as e:
                if not fut.done():
                    fut.set_exception(e)
            else:
                if not fut.done():
                    fut.set_result(result)
        if self.awaiting is not None and r.paused:
            self.awaiting["paused"] = True
        self._check_human_resume()
        self._check_probes()
        self.enforcer.tick()
        if not r.paused and not r.stopping:
            await self._monitors()
            self._schedule_disk_check()
        self._sync_status()

    def _check_human_resume(self) -> None:
        r = self.r
        aw = self.awaiting
        if aw is None or not aw["paused"] or r.paused or r.stopping:
            return
        self.awaiting = None
        t = r.timer.elapsed()
        self.history.record_human_resume(t)
        for seq in aw["failures"]:
            ep = self.episodes.pop(seq, None)
            if ep is None:
                continue
            ep.state = "done"
            self._record(ep, "recovered", {"by": "human"})
            if ep.dead and ep.agent is not None and self.ops.host(ep.agent) is None:
                r._spawn_task(self._relaunch_after_resume(ep), f"relaunch-{ep.agent}")
        self.notifier.alert("resumed", f"resumed by a human after: {aw['reason']}", "info",
                            aw.get("agent"), t, r.clock.wall())

    async def _relaunch_after_resume(self, ep: Episode) -> None:
        aid = ep.agent
        assert aid is not None
        try:
            await self._on_loop(lambda: self.ops.relaunch(aid, ep.phase,
                                                          "relaunch after a human resumed"))
        except StepFailed as e:
            log.warning("relaunch_skipped", agent=aid, reason=str(e))

    def _check_probes(self) -> None:
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
            elif r.phase is not ep.phase:
                p.future.set_exception(StepFailed("the phase ended", final=True))
            elif now > p.deadline and r.clock.monotonic() > p.wall_deadline:
                p.future.set_exception(StepFailed(
                    f"no progress within {p.deadline - ep.started_t:.0f}s"))

    async def _monitors(self) -> None:
        r = self.r
        now = r.timer.elapsed()
        busy = {e.agent for e in self.episodes.values()}
        readings = []
        for aid, host in list(r.hosts.items()):
            if not host.alive:
                continue
            a = r.counters.agent(aid)
            quiet = (aid in busy or self.enforcer.throttled(aid)
                     or host.state not in (AgentState.RUNNING, AgentState.STARTING))
            mono = r.clock.monotonic()
            seen = self._seen.get(aid)
            if quiet or seen is None or seen[0] != a.events or seen[2] is not host:
                seen = self._seen[aid] = (a.events, mono, host)
            if quiet:
                self._floor[aid] = now
            quiet = quiet or mono - seen[1] < IDLE_WALL_FLOOR_SECONDS
            last = max(a.last_activity_t if a.last_activity_t is not None else -1e18,
                       host.started_t, self._floor.get(aid, -1e18))
            readings.append(AgentReading(aid, a.tokens, a.tool_calls, a.context, last,
                                         r.resources.get(aid, {}).get("rss_bytes"),
                                         watch_idle=not quiet))
        failures, verdicts = self.health.check(readings, now)
        for f in failures:
            self.handle(f, "monitor")
        for v in verdicts:
            await self.enforcer.apply(v)

    def _schedule_disk_check(self) -> None:
        r = self.r
        mono = r.clock.monotonic()
        if (self._disk_task is not None and not self._disk_task.done()) or \
                mono - self._disk_at < DISK_CHECK_WALL_SECONDS or self.awaiting is not None:
            return
        self._disk_at = mono
        self._disk_task = asyncio.get_running_loop().create_task(self._disk_check())

    async def _disk_check(self) -> None:
        try:
            failure = await asyncio.to_thread(disk_failure, self.r.layout.root, self.limits,
                                              self.classifier)
        except Exception as e:
            log.warning("disk_check_failed", error=str(e))
            return
        if failure is not None and not self.r.stopping:
            self.handle(failure, "monitor")

    def _sync_status(self) -> None:
        """``recovering`` while an episode is under way (a pause shows as paused)."""
        r = self.r
        if r.stopping or r.status.final or r.status == SessionStatus.STARTING:
            return
        busy = any(e.active for e in self.episodes.values())
        try:
            if busy and r.status == SessionStatus.RUNNING and not r.paused:
                r._set_status(SessionStatus.RECOVERING)
            elif not busy and r.status == SessionStatus.RECOVERING:
                r._set_status(SessionStatus.PAUSED if r.paused else SessionStatus.RUNNING)
        except Exception as e:
            log.warning("status_update_failed", error=str(e))

    def limit_stop(self, verdict: LimitVerdict) -> None:
        """The token budget is spent: graceful stop (final checkpoint and report)."""
        for ep in list(self.episodes.values()):
            if ep.probe is not None and not ep.probe.future.done():
                ep.probe.future.set_exception(StepFailed("the session is stopping", final=True))
        self.ops.stop_session(f"token budget exhausted ({verdict.detail})",
                              SessionStatus.BUDGET_EXHAUSTED, 1)

    # ================================================================== views & state
    def _journal_alert(self, entry: dict[str, Any]) -> None:
        fields = {("alert" if k == "kind" else k): v for k, v in entry.items()
                  if k not in ("t", "wall")}
        self.r.ledger.record("alert", self.r.timer.elapsed(), **fields)

    def status_view(self) -> dict[str, Any]:
        """The ``recovery`` section of ``status.json``."""
        now = self.r.timer.elapsed()
        h = self.history
        return {
            "active": [e.view(now) for e in self.episodes.values() if e.active],
            "awaiting_human": dict(self.awaiting) if self.awaiting else None,
            "alerts": self.notifier.recent(10),
            "throttled": self.enforcer.view(),
            "flags": self.flags[-10:],
            "failures": h.total_failures, "recovered": self.r.counters.recoveries,
            "escalations": h.escalations, "consecutive_errors": h.consecutive_errors,
            "by_type": dict(h.by_type),
            "budget": {"used": self.limits.tokens_used,
                       "budget": self.limits.spec.total_token_budget,
                       "fraction": round(self.limits.budget.fraction, 4)},
        }

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (``recovery_state``)."""
        return {
            "schema": STATE_SCHEMA,
            "failures": self.r.counters.failures, "recoveries": self.r.counters.recoveries,
            "history": self.history.to_dict(), "limits": self.limits.to_dict(),
            "votes": self.votes.to_dict(), "flags": list(self.flags),
            "awaiting_human": self.awaiting is not None,
        }

    def _restore(self, saved: Mapping[str, Any]) -> None:
        if not saved or saved.get("schema") != STATE_SCHEMA:
            return
        cfg = self.r.cfg
        parts: list[tuple[str, Callable[[Any], None]]] = [
            ("history", lambda d: setattr(self, "history", RecoveryHistory.from_dict(d))),
            ("limits", lambda d: setattr(self, "limits", Limits.from_dict(cfg.limits, d))),
            ("votes", lambda d: setattr(self, "votes", VoteTracker.from_dict(cfg.consensus, d))),
        ]
        for key, load in parts:
            if key in saved:
                try:
                    load(saved[key])
                except Exception as e:  # a bad part starts afresh; never fails the session
                    log.warning("recovery_state_unreadable", part=key, error=str(e))
        self.flags = [f for f in saved.get("flags", []) if isinstance(f, dict)]
        if saved.get("awaiting_human"):  # brought back by `supervisor resume`: a human acted
            self.history.record_human_resume(self.r.timer.elapsed())
