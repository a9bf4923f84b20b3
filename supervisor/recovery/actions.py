"""RecoveryManager: every failure of a running session classified, decided and acted on.

The runner holds one and calls it from its seams: ``on_error_event``, ``on_stderr``,
``on_exit`` (an agent ended on its own), ``on_event`` (votes, test results) and
``on_tick`` (monitors, limits, and the actions that must run on the session loop).

A failure is recorded (journal ``failure`` record, log), ``decide``d (the pure table in
``policy.py``, history before it) and then carried out in a task of its own by
``executor.py`` (an *episode*, ``episodes.py``), one at a time per agent; the monitors
are in ``monitors.py``, the limits in ``limit_actions.py``, what is done to agents and
to the session in ``operations.py``, alerts in ``notify.py``:

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
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.agents.protocol import Event
from supervisor.config.schema import Config
from supervisor.limits import Limits, LimitVerdict
from supervisor.recovery.classify import Classifier, Failure
from supervisor.recovery.consensus import VoteTracker
from supervisor.recovery.episodes import Episode
from supervisor.recovery.executor import ActionExecutor
from supervisor.recovery.limit_actions import LimitEnforcer
from supervisor.recovery.monitors import AgentReading, HealthChecks, disk_failure
from supervisor.recovery.notify import Notifier
from supervisor.recovery.operations import AgentOps, StepFailed
from supervisor.recovery.policy import RecoveryHistory, decide
from supervisor.session.state import AgentState, SessionStatus

if TYPE_CHECKING:
    from supervisor.agents.host import AgentHost
    from supervisor.runner import SessionRunner

log = logs.get("recovery")

STATE_SCHEMA = 1
DEDUP_WALL_SECONDS = 2.0  # the same failure seen by two sources this close is one failure
DISK_CHECK_WALL_SECONDS = 1.0
# Silence shorter than this many wall seconds is never a hang, whatever the time scale
# (process scheduling is wall time: at 600x one wall second is ten session minutes).
IDLE_WALL_FLOOR_SECONDS = 1.0


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
        self._closing: list[dict[str, Any]] = []  # escalations a resume closed
        self._restore(saved or {})
        self.limits.tokens_used = max(self.limits.tokens_used, runner.counters.tokens)
        self.health = HealthChecks(self.classifier, self.limits, self.votes,
                                   cfg.consensus.vote_timeout_secs, cfg.consensus.enabled)
        for aid, a in runner.counters.agents.items():
            self.health.prime(aid, a.tokens, a.tool_calls)
        self.notifier = notifier or Notifier(cfg.notifications, runner.session_id,
                                             record=self._journal_alert,
                                             on_event=runner.publisher.event)
        self.ops = AgentOps(runner)
        self.enforcer = LimitEnforcer(self)
        self.executor = ActionExecutor(self)
        self.rng = rng or random.Random(f"{cfg.session.seed}:recovery")
        self.episodes: dict[int, Episode] = {}
        self.awaiting: dict[str, Any] | None = None  # paused for a human
        self._recent: dict[tuple[str | None, str], tuple[str, float]] = {}
        self._ops: deque[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = deque()
        self.floor: dict[str, float] = {}  # agent -> session time its idle clock restarts
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
        r.spawn_task(self.executor.run(ep), f"recovery-{seq}")
        self.sync_status()
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

    # ================================================================== the loop
    async def on_loop(self, fn: Callable[[], Awaitable[Any]]) -> Any:
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
            except Exception as e:  # noqa: BLE001 - the op failed: its caller gets the error
                if not fut.done():
                    fut.set_exception(e)
            else:
                if not fut.done():
                    fut.set_result(result)
        for w in self._closing:
            r.ledger.record("recovery", r.timer.elapsed(), **w, outcome="recovered",
                            by="human", detail="resumed by `supervisor resume`")
        self._closing = []
        if self.awaiting is not None and r.paused:
            self.awaiting["paused"] = True
        self._check_human_resume()
        self.executor.check_probes()
        self.enforcer.tick()
        if not r.paused and not r.stopping:
            await self._monitors()
            self._schedule_disk_check()
        self.sync_status()

    def _check_human_resume(self) -> None:
        r = self.r
        aw = self.awaiting
        if aw is None or not aw["paused"] or r.paused or r.stopping:
            return
        self.awaiting = None
        t = r.timer.elapsed()
        self.history.record_human_resume(t)
        # a human has decided: votes cast while the escalation was reaching the agents (the
        # pause takes a moment) must not reopen the deadlock the human just settled
        self.votes.clear()
        for seq in aw["failures"]:
            ep = self.episodes.pop(seq, None)
            if ep is None:
                continue
            ep.state = "done"
            self.executor.record(ep, "recovered", {"by": "human"})
            if ep.dead and ep.agent is not None and self.ops.host(ep.agent) is None:
                r.spawn_task(self._relaunch_after_resume(ep), f"relaunch-{ep.agent}")
        self.notifier.alert("resumed", f"resumed by a human after: {aw['reason']}", "info",
                            aw.get("agent"), t, r.clock.wall())

    async def _relaunch_after_resume(self, ep: Episode) -> None:
        aid = ep.agent
        assert aid is not None
        try:
            await self.on_loop(lambda: self.ops.relaunch(aid, ep.phase,
                                                          "relaunch after a human resumed"))
        except StepFailed as e:
            log.warning("relaunch_skipped", agent=aid, reason=str(e))

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
                self.floor[aid] = now
            quiet = quiet or mono - seen[1] < IDLE_WALL_FLOOR_SECONDS
            last = max(a.last_activity_t if a.last_activity_t is not None else -1e18,
                       host.started_t, self.floor.get(aid, -1e18))
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
        every = max(DISK_CHECK_WALL_SECONDS,
                    r.cfg.monitoring.health_check_interval / r.clock.time_scale)
        if (self._disk_task is not None and not self._disk_task.done()) or \
                mono - self._disk_at < every or self.awaiting is not None:
            return
        self._disk_at = mono
        self._disk_task = asyncio.get_running_loop().create_task(self._disk_check())

    async def _disk_check(self) -> None:
        try:
            failure = await self.ops.blocking(disk_failure, self.r.layout.root, self.limits,
                                              self.classifier)
        except Exception as e:  # noqa: BLE001 - a failed disk check is logged; the next tick tries again
            log.warning("disk_check_failed", error=str(e))
            return
        if failure is not None and not self.r.stopping:
            self.handle(failure, "monitor")

    def sync_status(self) -> None:
        """``recovering`` while an episode is under way (a pause shows as paused)."""
        r = self.r
        if r.stopping or r.status.final or r.status == SessionStatus.STARTING:
            return
        busy = any(e.active for e in self.episodes.values())
        try:
            if busy and r.status == SessionStatus.RUNNING and not r.paused:
                r.set_status(SessionStatus.RECOVERING)
            elif not busy and r.status == SessionStatus.RECOVERING:
                r.set_status(SessionStatus.PAUSED if r.paused else SessionStatus.RUNNING)
        except Exception as e:  # noqa: BLE001 - showing the status must never fail a recovery
            log.warning("status_update_failed", error=str(e))

    def limit_stop(self, verdict: LimitVerdict) -> None:
        """The token budget is spent: graceful stop (final checkpoint and report)."""
        for ep in list(self.episodes.values()):
            if ep.probe is not None and not ep.probe.future.done():
                ep.probe.future.set_exception(StepFailed("the session is stopping", final=True))
        self.ops.stop_session(f"token budget exhausted ({verdict.detail})",
                              SessionStatus.BUDGET_EXHAUSTED, 1)

    def reconfigure(self, cfg: Config) -> None:
        """A reloaded config (SIGHUP): new rules, table, limits, consensus and notification
        settings from now on; history, windows, open votes and alerts are kept."""
        self.classifier = Classifier(cfg.error_handling, cfg.recovery, cfg.source)
        self.limits.spec = cfg.limits
        self.votes.spec = cfg.consensus
        self.health.classifier = self.classifier
        self.health.vote_timeout = cfg.consensus.vote_timeout_secs
        self.health.consensus_enabled = cfg.consensus.enabled
        self.notifier.spec = cfg.notifications

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
            "awaiting_human": None if self.awaiting is None else [
                {"failure_seq": e.seq, "agent": e.agent, "type": e.type, "action": e.action,
                 "severity": e.failure.severity}
                for e in self.episodes.values() if e.seq in self.awaiting["failures"]],
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
                except Exception as e:  # noqa: BLE001 - a bad part starts afresh; never fails the session
                    log.warning("recovery_state_unreadable", part=key, error=str(e))
        self.flags = [f for f in saved.get("flags", []) if isinstance(f, dict)]
        waiting = saved.get("awaiting_human")
        if waiting:  # brought back by `supervisor resume`: a human acted
            self.history.record_human_resume(self.r.timer.elapsed())
            if isinstance(waiting, list):
                self._closing = [w for w in waiting if isinstance(w, dict)]
