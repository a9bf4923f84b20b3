"""RecoveryManager with a fake runner and a FakeClock: every action of the table carried out,
recorded, and bounded. No processes, no sleeping."""

from __future__ import annotations

import asyncio
from pathlib import Path

from supervisor.config.schema import Config
from supervisor.session.state import SessionStatus
from tests.unit.test_recovery_actions_support import FakeRunner, advance, ev, settle, with_cfg


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_network_timeout_throttles_holds_time_and_recovers_on_progress(tmp_path: Path) -> None:
    """A transient error: agent throttled for the backoff, session time held, recovered on
    the next successful step; journal has failure, pending and recovered records."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["coder-1"]
        r.recovery.on_error_event(host, ev("error", kind="network_timeout", message="timed out"), 0)
        await settle(r)
        assert host.commands() == ["throttle"]
        wait = host.sent[0][1]["seconds"]
        assert 25 <= wait <= 35  # 30 s initial backoff, 10% jitter
        assert r.timer.held and r.status == SessionStatus.RECOVERING
        t0 = r.timer.elapsed()
        await advance(r, wait + 1)
        assert r.timer.elapsed() - t0 < 2  # the backoff did not count as session time
        assert not r.recovery.history.attempts == {}
        r.progress("coder-1")
        await settle(r)
        outcomes = [x["outcome"] for x in r.records("recovery")]
        assert outcomes == ["pending", "recovered"]
        rec = r.records("recovery")[-1]
        assert rec["action"] == "retry" and rec["type"] == "network_timeout"
        assert rec["recovery_seconds"] >= wait and rec["failure_seq"] == r.records("failure")[0]["seq"]
        assert r.recovery.history.attempts == {} and r.status == SessionStatus.RUNNING
        assert r.counters.recoveries == 1 and r.counters.failures == 1

    run(main())


def test_no_progress_retries_with_longer_backoff_then_escalates(tmp_path: Path) -> None:
    """A retry that never sees progress backs off again (exponential) and, past its three
    attempts, pauses the session for a human with an escalated record and an alert."""

    async def main() -> None:
        r = FakeRunner(tmp_path, with_cfg(Config(), limits={"idle_timeout_minutes": 1.0}))
        host = r.hosts["coder-1"]
        r.recovery.on_error_event(host, ev("error", kind="timeout", message="timed out"), 0)
        for _ in range(12):
            await advance(r, 100)
        throttles = [f["seconds"] for c, f in host.sent if c == "throttle"]
        assert len(throttles) == 3 and throttles[0] < throttles[1] < throttles[2]
        assert r.paused and r.recovery.awaiting is not None
        last = r.records("recovery")[-1]
        assert last["outcome"] == "escalated" and last["action"] == "escalate"
        assert last["from_action"] == "retry" and last["tries"] == 3
        view = r.recovery.status_view()
        assert view["awaiting_human"]["resume_with"] == "supervisor resume s1"
        assert view["alerts"][-1]["severity"] == "critical"
        assert r.records("alert")[-1]["alert"] == "network_timeout"

    run(main())


def test_human_resume_closes_escalation_and_resets_loops(tmp_path: Path) -> None:
    """A consensus deadlock escalates; when a human resumes, the episode is recorded as
    recovered by a human and the attempt history starts afresh."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["tester-2"]
        r.recovery.on_error_event(host, ev("error", kind="deadlock", message="no consensus"), 0)
        await settle(r)
        assert r.paused and r.status == SessionStatus.PAUSED
        assert r.records("recovery")[-1]["outcome"] == "escalated"
        r.unpause()
        await settle(r)
        last = r.records("recovery")[-1]
        assert last["outcome"] == "recovered" and last["by"] == "human"
        assert r.recovery.awaiting is None and r.recovery.history.consecutive_errors == 0
        assert r.counters.recoveries == 1

    run(main())


def test_llm_error_switches_model_by_command_when_announced(tmp_path: Path) -> None:
    """switch_model: the next of [agent] models sent as a command; recorded for relaunches."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["coder-1"]
        r.recovery.on_error_event(host, ev("error", kind="llm_error", message="500"), 0)
        await settle(r)
        await advance(r, 40)
        assert ("switch_model", {"model": "fallback-model"}) in host.sent
        assert r.agent_models["coder-1"] == 1 and host.model == "fallback-model"
        assert r.records("model_switch")[0]["how"] == "command"
        r.progress("coder-1")
        await settle(r)
        assert r.records("recovery")[-1]["outcome"] == "recovered"
        assert r.records("recovery")[-1]["model"] == "fallback-model"

    run(main())


def test_llm_error_restarts_with_next_model_without_the_capability(tmp_path: Path) -> None:
    """An agent that did not announce switch_model is relaunched (restart) on the next model."""

    async def main() -> None:
        r = FakeRunner(tmp_path, caps=("quiesce",))
        old = r.hosts["coder-1"]
        r.recovery.on_error_event(old, ev("error", kind="overloaded", message="503"), 0)
        await settle(r)
        await advance(r, 40)
        assert r.launches == [("coder-1", True, None, "fallback-model")]
        assert not old.alive and r.hosts["coder-1"] is not old
        assert [x["why"] for x in r.records("agent_exit")] == ["switch model to fallback-model"]

    run(main())


def test_parse_failure_writes_a_hint_and_restarts_or_sends_it(tmp_path: Path) -> None:
    """modify_prompt: hint file in agents/<id>/; prompt_hint command if announced, else restart."""

    async def main() -> None:
        r = FakeRunner(tmp_path, caps=("quiesce", "prompt_hint"))
        host = r.hosts["coder-1"]
        r.recovery.on_error_event(host, ev("error", kind="parse_error", message="bad json"), 0)
        await settle(r)
        await advance(r, 40)
        hint = (r.layout.agent_dir("coder-1") / "prompt_hint.txt").read_text()
        assert "parse_failure" in hint and "bad json" in hint
        assert "prompt_hint" in host.commands() and r.launches == []
        r2 = FakeRunner(tmp_path / "b", caps=("quiesce",))
        r2.recovery.on_error_event(r2.hosts["coder-1"], ev("error", kind="json", message="x"), 0)
        await settle(r2)
        await advance(r2, 40)
        assert [(a, restart) for a, restart, _, _ in r2.launches] == [("coder-1", True)]

    run(main())


def test_context_over_limit_is_compressed_and_recovers_when_small(tmp_path: Path) -> None:
    """A context over max_context_size is memory_pressure: compress_context is sent, and it
    counts as recovered when a smaller context is reported."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["tester-2"]
        r.event("tester-2", "tokens", prompt=10, completion=5, model="m", context=200_000)
        await settle(r)
        assert r.records("failure")[0]["type"] == "memory_pressure"
        assert "compress_context" in host.commands()
        await advance(r, 5)
        assert r.records("recovery")[-1]["outcome"] == "pending"
        r.event("tester-2", "tokens", prompt=10, completion=5, model="m", context=30_000)
        await settle(r)
        assert r.records("recovery")[-1]["outcome"] == "recovered"

    run(main())


def test_rss_over_limit_is_memory_pressure(tmp_path: Path) -> None:
    """An agent's RSS over agent_memory_limit_mb triggers compress; recovered when under it."""

    async def main() -> None:
        r = FakeRunner(tmp_path, with_cfg(Config(), limits={"agent_memory_limit_mb": 100.0}))
        host = r.hosts["coder-1"]
        r.resources["coder-1"] = {"rss_bytes": 300 << 20}
        await settle(r)
        f = r.records("failure")[0]
        assert f["type"] == "memory_pressure" and f["message"].startswith("rss")
        assert "compress_context" in host.commands()
        r.resources["coder-1"] = {"rss_bytes": 50 << 20}
        r.progress("coder-1")
        await settle(r)
        assert r.records("recovery")[-1]["outcome"] == "recovered"

    run(main())


def test_idle_agent_is_restarted_with_its_state(tmp_path: Path) -> None:
    """An agent silent past idle_timeout_minutes hangs: stopped, relaunched with its saved
    state (its task reassigned), recovered when the new process makes progress."""

    async def main() -> None:
        r = FakeRunner(tmp_path, with_cfg(Config(), limits={"idle_timeout_minutes": 2.0}))
        old = r.hosts["coder-1"]
        old.last_state = {"current_task": 7}
        r.progress("tester-2")
        await settle(r)
        for _ in range(4):
            r.progress("tester-2")
            await advance(r, 40)
        failures = r.records("failure")
        assert [f["type"] for f in failures] == ["agent_hang"] and failures[0]["agent"] == "coder-1"
        await advance(r, 40)
        assert r.launches[0][:3] == ("coder-1", True, {"current_task": 7})
        assert not old.alive
        r.progress("coder-1")
        await settle(r)
        assert r.records("recovery")[-1]["outcome"] == "recovered"
        assert r.counters.agent("coder-1").restarts == 1

    run(main())


def test_crash_relaunches_from_this_phases_newest_checkpoint(tmp_path: Path) -> None:
    """agent_crash: the agent is relaunched from its state in the newest checkpoint of the
    phase; the record says which checkpoint."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["coder-1"]
        host.last_state = {"step": 99}
        r.agent_states["coder-1"] = {"step": 99}
        info = type("Info", (), {"number": 4})()
        r.store.newest = (info, {"phase": "development", "agent_states": {"coder-1": {"step": 40}}})
        host.alive = False
        host.proc.stderr_tail.append("RuntimeError: boom")
        del r.hosts["coder-1"]
        await r.recovery.on_exit(host, 1)
        await settle(r)
        f = r.records("failure")[0]
        assert (f["type"], f["source"], f["action"]) == ("agent_crash", "exit", "restore_checkpoint")
        await advance(r, 40)
        assert r.launches == [("coder-1", True, {"step": 40}, "primary-model")]
        r.progress("coder-1")
        await settle(r)
        rec = r.records("recovery")[-1]
        assert rec["outcome"] == "recovered" and rec["restored_from"] == "checkpoint 4"

    run(main())


def test_oom_kill_is_memory_pressure_and_relaunches(tmp_path: Path) -> None:
    """An agent SIGKILLed with 'Killed' on stderr is memory pressure; the dead agent is
    relaunched (fresh context) instead of being sent a command."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["coder-1"]
        host.alive = False
        host.proc.stderr_tail.append("Killed")
        del r.hosts["coder-1"]
        await r.recovery.on_exit(host, -9)
        await settle(r)
        assert r.records("failure")[0]["type"] == "memory_pressure"
        assert [a for a, *_ in r.launches] == ["coder-1"] and host.sent == []

    run(main())


def test_test_failure_is_logged_flagged_and_does_not_count_as_an_error(tmp_path: Path) -> None:
    """A failing test result: log_continue, flagged for the report, no consecutive error."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        r.recovery.on_event(r.hosts["tester-2"], ev("test_result", passed=5, failed=2), 0)
        await settle(r)
        rec = r.records("recovery")[-1]
        assert (rec["action"], rec["outcome"], rec["flagged"]) == ("log_continue", "recovered", True)
        assert r.recovery.history.consecutive_errors == 0
        assert r.recovery.status_view()["flags"][0]["type"] == "test_failure"
        r.recovery.on_event(r.hosts["tester-2"], ev("test_result", passed=7, failed=0), 0)
        await settle(r)
        assert len(r.records("failure")) == 1

    run(main())


def test_disk_full_pauses_alerts_and_waits_for_a_human(tmp_path: Path) -> None:
    """disk_full: paused with a critical alert naming `supervisor resume`; the record stays
    pending until a human resumes, then it is recovered."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        r.recovery.on_error_event(r.hosts["coder-1"],
                                  ev("error", kind="io", message="No space left on device"), 0)
        await settle(r)
        assert r.paused and r.records("pause")[0]["source"] == "recovery"
        assert r.records("failure")[0]["type"] == "disk_full"
        assert r.records("recovery")[-1]["outcome"] == "pending"
        alert = r.recovery.status_view()["alerts"][-1]
        assert "supervisor resume s1" in alert["message"] and alert["kind"] == "disk_full"
        await advance(r, 100)
        assert r.paused  # nobody resumed: still paused
        r.unpause()
        await settle(r)
        assert r.records("recovery")[-1]["outcome"] == "recovered"

    run(main())


def test_data_corruption_stops_the_session_failed(tmp_path: Path) -> None:
    """data_corruption (fatal): the session is stopped with status failed and exit code 1."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        r.recovery.on_error_event(r.hosts["coder-1"], ev("error", kind="corruption",
                                                         message="checksum", fatal=True), 0)
        await settle(r)
        assert r.stops and r.stops[0][1] == SessionStatus.FAILED and r.stops[0][2] == 1
        assert r.records("recovery")[-1]["outcome"] == "failed"

    run(main())


def test_consecutive_errors_past_the_limit_escalate(tmp_path: Path) -> None:
    """More than max_consecutive_errors failures with no success between: escalate."""

    async def main() -> None:
        cfg = with_cfg(Config(), error_handling={"max_consecutive_errors": 2})
        r = FakeRunner(tmp_path, cfg)
        for i, kind in enumerate(("timeout", "rate_limited", "llm_error")):
            host = r.hosts["coder-1" if i % 2 == 0 else "tester-2"]
            r.recovery.on_error_event(host, ev("error", kind=kind, message="x"), 0)
        await settle(r)
        failures = r.records("failure")
        assert [f["escalate"] for f in failures] == [False, False, True]
        assert r.paused

    run(main())


def test_stderr_line_and_error_event_of_one_failure_count_once(tmp_path: Path) -> None:
    """The same failure on stderr (a rule) and as an error event is one failure."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["coder-1"]
        r.recovery.on_stderr(host, b"OSError: [Errno 28] No space left on device\n")
        r.recovery.on_error_event(host, ev("error", kind="disk_full", message="ENOSPC"), 0)
        r.recovery.on_stderr(host, b"just a log line\n")
        await settle(r)
        assert [f["type"] for f in r.records("failure")] == ["disk_full"]
        assert r.records("failure")[0]["source"] == "stderr"

    run(main())


def test_auto_recovery_off_pauses_instead_of_acting(tmp_path: Path) -> None:
    """[checkpoint] auto_recovery = false: a recoverable failure pauses for a human."""

    async def main() -> None:
        r = FakeRunner(tmp_path, with_cfg(Config(), checkpoint={"auto_recovery": False}))
        host = r.hosts["coder-1"]
        r.recovery.on_error_event(host, ev("error", kind="timeout", message="x"), 0)
        await settle(r)
        assert r.paused and host.sent == []

    run(main())


def test_unknown_failure_gets_its_own_row_retry(tmp_path: Path) -> None:
    """An error nothing recognises is `unknown`, handled by its own table row (retry)."""

    async def main() -> None:
        r = FakeRunner(tmp_path)
        host = r.hosts["tester-2"]
        r.recovery.on_error_event(host, ev("error", kind="weird", message="something odd"), 0)
        await settle(r)
        f = r.records("failure")[0]
        assert (f["type"], f["action"]) == ("unknown", "retry")
        assert host.commands() == ["throttle"]

    run(main())
