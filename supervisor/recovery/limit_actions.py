"""Carrying out the limit verdicts of ``limits.py`` (seed 001, "Resource Limits").

- budget ``alert`` (at ``budget_alert_fraction``): an alert (log, status, webhook);
- budget ``stop`` (100%): an alert, then a graceful stop with status ``budget_exhausted``
  (the runner takes the final checkpoint and writes the report; exit code 1);
- ``throttle`` (tokens or tool calls per agent per hour): ``throttle {seconds}`` to the
  agent until its hourly window is under the limit again; shown as agent state
  ``throttled`` and in ``status.json`` ``recovery.throttled``;
- ``batch_hint`` (80% of the tool calls per hour): a hint to batch operations, written to
  ``agents/<id>/prompt_hint.txt`` and sent as ``prompt_hint`` to agents that announced it.
Each is a ``limit`` journal record {agent, reason, action, amount, detail}. A context over
``max_context_size`` and an agent idle too long are failures (``memory_pressure``,
``agent_hang``) handled by the recovery table, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.limits import LimitVerdict
from supervisor.session.state import AgentState

if TYPE_CHECKING:
    from supervisor.recovery.actions import RecoveryManager

log = logs.get("limits")

MIN_THROTTLE_SECONDS = 1.0
BATCH_HINT = ("You are close to the tool-call limit of this session ({detail}). Batch "
              "operations: read and write several files per call, run tests less often.")


class LimitEnforcer:
    def __init__(self, manager: RecoveryManager):
        self.m = manager
        self._until: dict[str, float] = {}  # agent -> session clock its throttle ends
        self.stopped = False

    # ---- throttles ----
    def mark_throttled(self, agent_id: str, seconds: float) -> None:
        r = self.m.r
        until = r.clock.now() + seconds
        self._until[agent_id] = max(self._until.get(agent_id, until), until)
        host = r.hosts.get(agent_id)
        if host is not None and host.state == AgentState.RUNNING:
            host.state = AgentState.THROTTLED

    def throttled(self, agent_id: str) -> bool:
        until = self._until.get(agent_id)
        return until is not None and self.m.r.clock.now() < until

    def tick(self) -> None:
        """End throttles whose time is up."""
        r = self.m.r
        now = r.clock.now()
        for aid, until in list(self._until.items()):
            if now >= until:
                del self._until[aid]
                host = r.hosts.get(aid)
                if host is not None and host.state == AgentState.THROTTLED:
                    host.state = AgentState.RUNNING

    def view(self) -> dict[str, float]:
        now = self.m.r.clock.now()
        return {aid: round(until - now, 1) for aid, until in self._until.items() if until > now}

    # ---- verdicts ----
    async def apply(self, v: LimitVerdict) -> None:
        m = self.m
        r = m.r
        t = r.timer.elapsed()

        def record(action: str, **extra: Any) -> None:
            r.ledger.record("limit", t, agent=v.agent_id, reason=v.reason, action=action,
                            amount=v.amount, detail=v.detail, **extra)

        if v.kind == "alert":
            record("alert")
            m.notifier.alert("token_budget", f"token budget alert: {v.detail}", "warning",
                             v.agent_id, t, r.clock.wall(), fraction=v.amount)
        elif v.kind == "stop":
            if self.stopped:
                return
            self.stopped = True
            record("stop")
            m.notifier.alert("token_budget", f"token budget exhausted: {v.detail}; stopping "
                             "with a final checkpoint and report", "critical", v.agent_id, t,
                             r.clock.wall(), fraction=v.amount)
            await m.notifier.flush(2.0)
            m.limit_stop(v)
        elif v.kind == "throttle" and v.agent_id is not None:
            if self.throttled(v.agent_id):
                return
            seconds = round(max(MIN_THROTTLE_SECONDS, float(v.amount or 0.0)), 3)
            sent = await m.ops.send(v.agent_id, "throttle", seconds=seconds)
            if sent:
                self.mark_throttled(v.agent_id, seconds)
            record("throttle", seconds=seconds, sent=sent)
            log.warning("throttled", agent=v.agent_id, reason=v.reason, seconds=seconds,
                        detail=v.detail)
        elif v.kind == "batch_hint" and v.agent_id is not None:
            text = BATCH_HINT.format(detail=v.detail)
            path = m.ops.write_hint(v.agent_id, text)
            host = m.ops.host(v.agent_id)
            sent = False
            if host is not None and "prompt_hint" in host.capabilities:
                sent = await m.ops.send(v.agent_id, "prompt_hint", text=text, path=str(path))
            record("batch_hint", hint_file=str(path), sent=sent)
            log.info("batch_hint", agent=v.agent_id, detail=v.detail)
