"""Real sessions with the simulator injecting every failure type of the recovery table
(scheduled faults): the action happened (journal, restarts, models, pauses), status showed
it while it happened, and the session ended as the table says."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from supervisor.checkpoint.store import read_checkpoint
from supervisor.clock import monotonic, sleep_real
from supervisor.control.http_client import call_sync, read_control
from supervisor.session.journal import read_journal
from tests.integration.conftest import REPO, assert_no_session_processes, supervisor_cli

pytestmark = pytest.mark.slow

SCALE = "600"
BASE = """
[control]
http_port = 0
[checkpoint]
interval_minutes = {interval}
tool_call_threshold = 100000
quiesce_timeout_secs = 0.5
[project]
test_command = ["true"]
[[phases]]
name = "development"
duration_minutes = {minutes}
"""


def fault(failure: str, at: float, agent: str) -> str:
    return (f'[[simulation.faults.scheduled]]\nfailure = "{failure}"\nphase = "development"\n'
            f"at_minutes = {at}\nagent = \"{agent}\"\n")


def write_config(tmp_path: Path, minutes: int, extra: str = "", faults: str = "",
                 interval: int = 5) -> Path:
    path = tmp_path / "session.toml"
    path.write_text(BASE.format(minutes=minutes, interval=interval) + extra + faults)
    return path


def start(runs: Path, sid: str, config: Path, hours: str, agents: str) -> subprocess.Popen[str]:
    code = "from supervisor.control.cli import run_mega_test_main; run_mega_test_main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "task_queue", hours, agents, "--time-scale", SCALE,
         "--session-id", sid, "--test-runs-dir", str(runs), "--config", str(config), "-q"],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@contextlib.contextmanager
def session(runs: Path, sid: str, config: Path, hours: str,
            agents: str) -> Iterator[subprocess.Popen[str]]:
    proc = start(runs, sid, config, hours, agents)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    assert_no_session_processes(runs / sid)


def status_json(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def wait_for(what: str, cond: Callable[[], bool], proc: subprocess.Popen[str],
             timeout: float = 30.0) -> None:
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"session ended ({proc.returncode}) before: {what}")
        sleep_real(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


def records(root: Path, kind: str) -> list[dict[str, Any]]:
    return [dict(r.fields, seq=r.seq, t=r.t) for r in read_journal(root / "events.wal")
            if r.kind == kind]


def outcomes_by_type(root: Path) -> dict[str, tuple[str, str]]:
    """failure type -> (action, final outcome) from the journal."""
    failures = {f["seq"]: f["type"] for f in records(root, "failure")}
    out: dict[str, tuple[str, str]] = {}
    for rec in records(root, "recovery"):
        out[failures[rec["failure_seq"]]] = (rec["action"], rec["outcome"])
    return out


def test_agent_failures_recover_as_the_table_says(tmp_path: Path, runs: Path) -> None:
    """Eight failure types in one session: each recovered by its table action (retry,
    throttle, switch model, modified prompt, log, compress, restart, checkpoint relaunch),
    status showed `recovering` meanwhile, and the report accounts for each."""
    faults = "".join([
        # a fault that restarts its agent comes last for that agent: a relaunched agent
        # goes on at the session's phase time, which may be past its own
        fault("network_timeout", 4, "architect-1"), fault("agent_hang", 14, "architect-1"),
        fault("rate_limit", 4, "coder-2"), fault("test_failure", 8, "coder-2"),
        fault("agent_crash", 16, "coder-2"), fault("llm_error", 4, "tester-3"),
        fault("memory_pressure", 10, "tester-3"), fault("parse_failure", 18, "tester-3"),
    ])
    cfg = write_config(tmp_path, 75, "[limits]\nidle_timeout_minutes = 2\n", faults)
    root = runs / "all"
    seen_status: set[str] = set()
    seen_active: set[str] = set()
    with session(runs, "all", cfg, "1.25", "3") as proc:
        while proc.poll() is None:
            snap = status_json(root)
            seen_status.add(str(snap.get("status")))
            for ep in (snap.get("recovery") or {}).get("active", []):
                seen_active.add(ep["type"])
            sleep_real(0.01)
        assert proc.returncode in (0, 1), proc.stderr.read() if proc.stderr else ""
    assert (root / "status").read_text().strip() == "completed"
    got = outcomes_by_type(root)
    assert got == {
        "network_timeout": ("retry", "recovered"), "rate_limit": ("throttle_retry", "recovered"),
        "llm_error": ("switch_model", "recovered"), "parse_failure": ("modify_prompt", "recovered"),
        "test_failure": ("log_continue", "recovered"),
        "memory_pressure": ("compress_context", "recovered"),
        "agent_hang": ("restart_agent", "recovered"),
        "agent_crash": ("restore_checkpoint", "recovered"),
    }, got
    assert "recovering" in seen_status and seen_active, (seen_status, seen_active)
    restarts = {s["agent"] for s in records(root, "agent_start") if s["restart"]}
    assert restarts == {"architect-1", "coder-2", "tester-3"}
    assert records(root, "model_switch")[0]["model"] == "fallback-model"
    assert (root / "agents" / "tester-3" / "prompt_hint.txt").is_file()
    report = json.loads((root / "final_report.json").read_text())
    assert report["totals"]["failures"] == 8 and report["totals"]["recoveries"] == 8
    rows = {row["type"]: row for row in report["failures"]}
    assert all(row["outcome"] == "recovered" and row["recovery_seconds"] is not None
               for row in rows.values()), rows
    tester = next(a for a in report["agents"] if a["id"] == "tester-3")
    assert "fallback-model" in tester["models"]


def test_disk_full_and_deadlock_pause_until_a_human_resumes(tmp_path: Path, runs: Path) -> None:
    """disk_full pauses with an alert, a consensus deadlock escalates; status.json says why;
    `supervisor resume` and then POST /api/resume bring it back, and it completes."""
    faults = fault("disk_full", 3, "coder-2") + fault("consensus_deadlock", 8, "architect-1")
    # no checkpoint while the deadlock builds up: the simulator ends a deadlock on any
    # command, a checkpoint's quiesce included
    cfg = write_config(tmp_path, 30, "[consensus]\nvote_timeout_secs = 60\n", faults,
                       interval=1000)
    root = runs / "hum"
    with session(runs, "hum", cfg, "0.5", "2") as proc:
        wait_for("disk_full pause", lambda: (status_json(root).get("recovery") or {}).get(
            "awaiting_human") is not None and status_json(root).get("status") == "paused", proc)
        snap = status_json(root)
        waiting = snap["recovery"]["awaiting_human"]
        assert waiting["type"] == "disk_full" and waiting["resume_with"] == "supervisor resume hum"
        assert "No space left" in snap["recovery"]["alerts"][-1]["message"]
        r = supervisor_cli("--test-runs-dir", str(runs), "resume", "hum", timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for("deadlock escalation", lambda: ((status_json(root).get("recovery") or {})
                 .get("awaiting_human") or {}).get("type") == "consensus_deadlock"
                 and status_json(root).get("status") == "paused", proc)
        assert read_control(root) is not None
        status, body = call_sync(root, "POST", "/api/resume")
        assert status == 200 and body.get("ok"), body
        proc.wait(timeout=60)
    assert (root / "status").read_text().strip() == "completed"
    got = outcomes_by_type(root)
    assert got == {"disk_full": ("pause_alert", "recovered"),
                   "consensus_deadlock": ("escalate", "recovered")}, got
    assert [r["outcome"] for r in records(root, "recovery")] == [
        "pending", "recovered", "escalated", "recovered"]
    assert len(records(root, "pause")) == 2 and len(records(root, "resume")) == 2
    assert {a["alert"] for a in records(root, "alert")} >= {"disk_full", "consensus_deadlock"}


def test_token_budget_exhausted_stops_gracefully(tmp_path: Path, runs: Path) -> None:
    """Alert at 80% of the token budget, graceful stop at 100%: final checkpoint, report,
    status budget_exhausted, exit code 1."""
    cfg = write_config(tmp_path, 60, "[limits]\ntotal_token_budget = 6000\n")
    root = runs / "bud"
    with session(runs, "bud", cfg, "1", "2") as proc:
        proc.wait(timeout=60)
        assert proc.returncode == 1
    assert (root / "status").read_text().strip() == "budget_exhausted"
    limits = records(root, "limit")
    assert [x["reason"] for x in limits] == ["budget_alert", "budget_exhausted"]
    assert records(root, "checkpoint")[-1]["trigger"] == "final"
    report = json.loads((root / "final_report.json").read_text())
    assert report["status"] == "budget_exhausted"
    assert 6000 <= report["totals"]["tokens"] < 12000


def test_data_corruption_stops_the_session_as_failed(tmp_path: Path, runs: Path) -> None:
    """data_corruption is fatal: the session stops (final checkpoint, report), status failed."""
    cfg = write_config(tmp_path, 30, faults=fault("data_corruption", 3, "coder-2"))
    root = runs / "cor"
    with session(runs, "cor", cfg, "0.5", "2") as proc:
        proc.wait(timeout=60)
        assert proc.returncode == 1
    assert (root / "status").read_text().strip() == "failed"
    assert outcomes_by_type(root) == {"data_corruption": ("stop", "failed")}
    assert records(root, "checkpoint")[-1]["trigger"] == "final"
    assert json.loads((root / "final_report.json").read_text())["status"] == "failed"


@contextlib.contextmanager
def small_filesystem(where: Path) -> Iterator[bool]:
    """A 8 MiB tmpfs at ``where`` when this process may mount one; False otherwise."""
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    mounted = done is not None and done.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


def test_small_filesystem_pauses_and_leaves_no_torn_file(tmp_path: Path) -> None:
    """On a really small file system (tmpfs, else a tiny disk_space_limit_gb) the session
    pauses with a disk_full alert; stopped, every JSON and msgpack file still parses."""
    with small_filesystem(tmp_path / "small") as mounted:
        runs = tmp_path / "small" / "runs"
        extra = "" if mounted else "[limits]\ndisk_space_limit_gb = 0.0001\n"
        cfg = write_config(tmp_path, 30, extra)
        root = runs / "dsk"
        with session(runs, "dsk", cfg, "0.5", "2") as proc:
            wait_for("disk pause", lambda: status_json(root).get("status") == "paused", proc)
            snap = status_json(root)
            assert snap["recovery"]["awaiting_human"]["type"] == "disk_full"
            alert = snap["recovery"]["alerts"][-1]
            assert alert["kind"] == "disk_full" and alert["severity"] == "critical"
            r = supervisor_cli("--test-runs-dir", str(runs), "stop", "dsk", timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
            proc.wait(timeout=60)
        failure = records(root, "failure")[0]
        assert (failure["type"], failure["source"]) == ("disk_full", "monitor")
        checked = 0
        for path in root.rglob("*"):
            if path.suffix == ".json":
                json.loads(path.read_text())
                checked += 1
            elif path.suffix == ".msgpack":
                if path.parent.name == "checkpoints":
                    read_checkpoint(path)
                else:
                    msgpack.unpackb(path.read_bytes(), strict_map_key=False)
                checked += 1
            assert not path.name.endswith(".tmp"), path
        assert checked >= 5
