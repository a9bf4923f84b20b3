"""A whole simulated session through the real CLI: the tree, the numbers, the processes."""

from __future__ import annotations

import json
from pathlib import Path

from supervisor.session.journal import read_journal
from tests.integration.conftest import assert_no_session_processes, run_mega_test


def test_short_session_completes_with_tree_and_matching_totals(runs: Path) -> None:
    """A 1-hour, 3-agent session at scale 1200 completes; report totals equal the journal."""
    r = run_mega_test("task_queue", "1", "3", "--time-scale", "1200", "--session-id", "s1",
                      "--test-runs-dir", str(runs), "--seed", "7", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    root = runs / "s1"
    for name in ("config.toml", "config.json", "agent.toml", "project_prompt.txt", "session.log",
                 "events.wal", "status", "status.json", "metrics_current.json",
                 "metrics/history.jsonl", "final_report.json", "project"):
        assert (root / name).exists(), name
    assert (root / "status").read_text().strip() == "completed"
    report = json.loads((root / "final_report.json").read_text())
    tokens = tool_calls = 0
    for rec in read_journal(root / "events.wal"):
        if rec.kind == "ev" and rec.event:
            if rec.event["type"] == "tokens":
                tokens += rec.event["prompt"] + rec.event["completion"]
            elif rec.event["type"] == "tool_call":
                tool_calls += 1
    assert tokens > 0 and tool_calls > 0
    assert report["totals"]["tokens"] == tokens
    assert report["totals"]["tool_calls"] == tool_calls
    assert [p["name"] for p in report["phases"]] == ["bootstrap", "development", "refinement",
                                                    "finalization"]
    assert all(p["status"] == "completed" for p in report["phases"])
    tests = report["code"]["tests"]
    assert tests["passed"] > 0 and tests["failed"] == 0
    assert report["code"]["lines_of_code"] > 0
    for line in (root / "session.log").read_text().splitlines():
        rec = json.loads(line)
        assert rec.get("session_id") == "s1"
    assert_no_session_processes(root)


def test_bad_config_creates_nothing(runs: Path, tmp_path: Path) -> None:
    """An invalid config exits 2 naming file and key, and leaves test_runs empty."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[session]\nagent_count = 0\n[[phases]]\nname = 'x'\nduration_minutes = -5\n")
    r = run_mega_test("--config", str(bad), "--test-runs-dir", str(runs))
    assert r.returncode == 2
    assert "bad.toml" in r.stderr and "duration_minutes" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(runs.iterdir()) == []


def test_existing_session_id_is_refused(runs: Path) -> None:
    """A session id that exists is refused, never overwritten."""
    (runs / "taken").mkdir()
    (runs / "taken" / "keep.txt").write_text("x")
    r = run_mega_test("--session-id", "taken", "--test-runs-dir", str(runs), "--time-scale", "3600")
    assert r.returncode == 2 and "already exists" in r.stderr
    assert (runs / "taken" / "keep.txt").read_text() == "x"


def test_dry_run_prints_plan_and_launches_nothing(runs: Path) -> None:
    """--dry-run prints phases, agents, checkpoints and budgets, and creates nothing."""
    r = run_mega_test("database", "8", "4", "--dry-run", "--test-runs-dir", str(runs))
    assert r.returncode == 0, r.stderr
    for word in ("bootstrap", "finalization", "MiniDB", "checkpoints", "budgets", "architect-1"):
        assert word in r.stdout
    assert list(runs.iterdir()) == []


def test_real_world_fixture_config_loads_and_runs(runs: Path) -> None:
    """The shared selfware_mega_test_config.toml (a real config) runs to completion."""
    fixture = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / \
        "selfware_mega_test_config.toml"
    if not fixture.exists():
        import pytest

        pytest.skip(f"{fixture} not present")
    r = run_mega_test("task_queue", "1", "2", "--config", str(fixture), "--time-scale", "1200",
                      "--session-id", "fx", "--test-runs-dir", str(runs), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((runs / "fx" / "final_report.json").read_text())
    assert report["status"] == "completed"
    assert [p["name"] for p in report["phases"]] == ["bootstrap", "development", "refinement",
                                                    "finalization"]
    assert report["duration"]["planned_session_seconds"] == 3600
    assert_no_session_processes(runs / "fx")


def test_taken_port_without_fallback_is_refused_before_anything_is_made(runs: Path,
                                                                         tmp_path: Path) -> None:
    """A fixed control port that is in use, with no fallback: exit 2, clear message,
    no session directory."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = tmp_path / "port.toml"
        cfg.write_text(f"[control]\nhttp_port = {port}\nport_fallback = false\n")
        r = run_mega_test("--config", str(cfg), "--test-runs-dir", str(runs), "--time-scale", "3600")
    assert r.returncode == 2
    assert f"port {port}" in r.stderr and "in use" in r.stderr and "Traceback" not in r.stderr
    assert list(runs.iterdir()) == []


def test_default_relative_test_runs_dir_works_for_agents(tmp_path: Path) -> None:
    """With no --test-runs-dir the session goes to ./test_runs of the user's directory, and
    agents (which run inside project/) still find their files: the README's command."""
    r = run_mega_test("task_queue", "1", "2", "--time-scale", "1200", "--session-id", "rel",
                      cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    root = tmp_path / "test_runs" / "rel"
    report = json.loads((root / "final_report.json").read_text())
    assert report["status"] == "completed"
    assert report["totals"]["failures"] == 0 and report["totals"]["tool_calls"] > 0
    assert_no_session_processes(root)


def test_email_settings_are_accepted_with_a_warning(runs: Path, tmp_path: Path) -> None:
    """[notifications.email] validates, and the session says plainly it sends no e-mail."""
    cfg = tmp_path / "email.toml"
    cfg.write_text("[control]\nhttp_port = 0\n[notifications]\nenabled = true\n"
                   "[notifications.email]\nsmtp_server = 'smtp.example.com'\n"
                   "to_addresses = ['ops@example.com']\n")
    r = run_mega_test("task_queue", "0.2", "2", "--config", str(cfg), "--time-scale", "3600",
                      "--session-id", "em", "--test-runs-dir", str(runs), timeout=120)
    assert "does not send e-mail" in r.stdout, r.stdout + r.stderr
    assert '"email_not_sent"' in (runs / "em" / "session.log").read_text()
