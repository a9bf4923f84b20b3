"""Sessions whose agents misbehave on purpose: garbage output, TERM ignored, a grandchild
holding stdout open and one escaping the group. The session survives each, counts what it
should, and leaves no process behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from supervisor.session.journal import read_journal
from tests.integration.conftest import (
    FAKE_AGENTS,
    assert_no_session_processes,
    run_mega_test,
)


def config_for(tmp_path: Path, agent: str, extra: str = "") -> Path:
    cfg = tmp_path / f"{agent}.toml"
    cfg.write_text(
        "[agent]\n"
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENTS / agent))}]\n"
        "stop_grace_secs = 0.5\n"
        "[control]\nhttp_port = 0\n"
        "[checkpoint]\nauto_recovery = false\n"
        "[[phases]]\nname = 'one'\nduration_minutes = 30\n"
        "[[phases]]\nname = 'two'\nduration_minutes = 30\n" + extra)
    return cfg


def run(tmp_path: Path, runs: Path, agent: str) -> tuple[Path, dict]:
    r = run_mega_test("task_queue", "1", "2", "--config", str(config_for(tmp_path, agent)),
                      "--time-scale", "3600", "--session-id", "m", "--test-runs-dir", str(runs),
                      timeout=120)
    root = runs / "m"
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    report = json.loads((root / "final_report.json").read_text())
    return root, report


def test_garbage_is_counted_and_valid_events_are_kept(tmp_path: Path, runs: Path) -> None:
    """Invalid JSON, binary bytes and a 100 KiB line are counted; the valid events around
    them are journaled and counted."""
    root, report = run(tmp_path, runs, "garbage.py")
    launches = sum(1 for r in read_journal(root / "events.wal") if r.kind == "agent_start")
    assert launches >= 4  # 2 agents x 2 phases
    evs = [r.event["type"] for r in read_journal(root / "events.wal") if r.kind == "ev" and r.event]
    assert evs.count("hello") == launches and evs.count("tool_call") == launches
    assert report["totals"]["tool_calls"] == launches
    # per launch: "{not json", the 256 byte values (a newline inside splits them in two),
    # the 100 KiB line, "[1, 2, 3]" and the unterminated last line
    assert report["totals"]["garbage_lines"] == 6 * launches
    assert_no_session_processes(root)


@pytest.mark.parametrize("agent", ["ignore_term.py", "grandchild.py"])
def test_stubborn_agents_are_stopped_with_their_whole_tree(tmp_path: Path, runs: Path,
                                                           agent: str) -> None:
    """An agent that ignores TERM is killed after the grace period; grandchildren, even one
    that escaped the process group, die with it; the session completes."""
    root, report = run(tmp_path, runs, agent)
    assert report["status"] == "completed"
    exits = [r.fields.get("how") for r in read_journal(root / "events.wal")
             if r.kind == "agent_exit"]
    assert exits and all(h for h in exits)
    if agent == "ignore_term.py":
        assert any("SIGKILL" in str(h) for h in exits)
    assert_no_session_processes(root)
