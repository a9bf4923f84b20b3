"""A session's checkpoints: when the triggers fire, what the session puts in a checkpoint,
and recording it (journal, status, console). The I/O is in ``Checkpointer``; the decision
in ``triggers.due``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.checkpoint.coordinator import Checkpointer, env_pause_hook
from supervisor.checkpoint.triggers import TriggerSpec, TriggerState, due

if TYPE_CHECKING:
    from supervisor.runner import SessionRunner

log = logs.get("checkpoint")
ROUTINE_TRIGGERS = frozenset({"time", "tool_calls", "tokens"})


class SessionCheckpoints:
    def __init__(self, runner: SessionRunner):
        self.r = runner
        ck = runner.cfg.checkpoint
        self.checkpointer = Checkpointer(runner.layout, tuple(ck.excludes), ck.keep_last,
                                         ck.quiesce_timeout_secs, runner.clock,
                                         env_pause_hook())
        c = runner.counters
        self.triggers = TriggerState(runner.timer.elapsed(), c.tool_calls, c.tokens)
        saved = runner.resume.extra.get("triggers") if runner.resume else None
        if saved:
            self.triggers = TriggerState.from_dict(saved)
        self.busy = False
        self.last: dict[str, Any] | None = self._newest_on_disk() if runner.resume else None
        self._at: tuple[float, int, int] = (0.0, 0, 0)

    def _newest_on_disk(self) -> dict[str, Any] | None:
        """After a resume or restore: the newest valid checkpoint, for status and metrics."""
        store = self.checkpointer.store
        for number, path in reversed(store.paths()):
            info, body = store.inspect(number, path)
            if info.valid and body is not None:
                return {"number": number, "path": str(path), "trigger": info.trigger,
                        "t": round(float(body.get("elapsed") or 0.0), 3),
                        "duration_ms": info.duration_ms, "held_ms": body.get("held_ms"),
                        "size_bytes": info.size_bytes, "files": info.files, "phase": info.phase,
                        "wall": info.created_wall}
        return None

    def spec(self) -> TriggerSpec:
        r = self.r
        ck = r.cfg.checkpoint
        interval = r.phase.checkpoint_interval_s if r.phase else ck.interval_minutes * 60
        return TriggerSpec(ck.enabled, interval, ck.tool_call_threshold, ck.token_threshold)

    async def check_triggers(self) -> None:
        r = self.r
        if self.busy or r.paused or r.stopping:
            return
        c = r.counters
        fired = due(self.spec(), self.triggers, r.timer.elapsed(), c.tool_calls, c.tokens)
        if fired is not None:
            await self.take(fired)

    def state(self) -> dict[str, Any]:
        """The session's part of a checkpoint body, taken at the safe point (no await here:
        the counters and the journal sequence they cover are read at the same instant)."""
        r = self.r
        r.ledger.sync()
        elapsed = r.timer.elapsed()
        ph = r.phase
        for aid, h in r.hosts.items():
            if h.last_state is not None:
                r.agent_states[aid] = h.last_state
        c = r.counters
        self._at = (elapsed, c.tool_calls, c.tokens)
        final = None
        if r.tests:
            final = {k: r.tests.get(k) for k in ("passed", "failed", "coverage")}
        return {
            "session_id": r.session_id,
            "created_wall": r.clock.wall(),
            "elapsed": elapsed,
            "phase": ph.name if ph else None,
            "phase_index": ph.index if ph else None,
            "phase_time_left": max(0.0, ph.end_s - elapsed) if ph else None,
            "status": str(r.status),
            "journal_seq": r.ledger.last_seq,
            "counters": c.to_dict(),
            "agent_states": dict(r.agent_states),
            "agent_models": dict(r.agent_models),
            "working_memory": dict(c.memory),
            "test_results": {"passed": c.test_passed, "failed": c.test_failed,
                             "coverage": c.test_coverage, "final": final},
            "metrics": dict(r.recorder.last),
            "recovery": r.recovery_state(),
            "triggers": self.triggers.to_dict(),
            "config_hash": r.config_hash,
        }

    async def take(self, trigger: str, reason: str | None = None) -> dict[str, Any] | None:
        """Take a checkpoint now; never raises: a failed checkpoint is logged and recorded."""
        r = self.r
        self.busy = True
        try:
            res = await self.checkpointer.take(trigger, list(r.hosts.values()), self.state,
                                             timer=r.timer)
        except Exception as e:
            log.exception("checkpoint_failed", trigger=trigger, error=str(e))
            r.ledger.record("checkpoint_failed", r.timer.elapsed(), trigger=trigger,
                            error=str(e)[:500])
            return None
        finally:
            self.busy = False
        t, tools, tokens = self._at
        self.triggers.reset(t, tools, tokens)
        summary = res.summary(t)
        summary["phase"] = r.phase.name if r.phase else None
        if reason:
            summary["reason"] = reason
        r.ledger.record("checkpoint", r.timer.elapsed(),
                        **{k: v for k, v in summary.items() if k != "t"})
        self.last = {**summary, "wall": round(r.clock.wall(), 3)}
        log.info("checkpoint", **summary)
        # routine ones (time, tool calls, tokens) show in the live view's "last checkpoint"
        # and in session.log; the console names the ones a person asked for or will look for
        if trigger not in ROUTINE_TRIGGERS:
            r.publisher.event(f"checkpoint {res.number:03d} ({trigger}): {res.files} files, "
                              f"{res.size_bytes / 1024:.0f} KiB, {res.duration_ms:.0f} ms, "
                              f"agents held {res.held_ms:.0f} ms")
        r.write_status()
        return summary
