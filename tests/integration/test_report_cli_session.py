"""A real session whose project tests fail ends with exit code 1 (a critical criterion
failed), records its build and security checks, and `supervisor report` reuses them."""

from __future__ import annotations

import json
from pathlib import Path

from supervisor.session.journal import read_journal
from tests.integration.conftest import assert_no_session_processes, run_mega_test, supervisor_cli


def test_failing_tests_exit_1_with_recorded_checks(runs: Path, tmp_path: Path) -> None:
    """Completed but its tests fail: exit 1, verdict fail naming the criterion; the quality
    records follow session_end and the rebuilt report matches the session's."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[control]\nhttp_port = 0\n[project]\ntest_command = ["false"]\n')
    r = run_mega_test("task_queue", "1", "1", "--time-scale", "1800", "--session-id", "bad",
                      "--test-runs-dir", str(runs), "--config", str(cfg), "-q", timeout=120)
    root = runs / "bad"
    assert r.returncode == 1, r.stdout + r.stderr
    assert (root / "status").read_text().strip() == "completed"
    rep = json.loads((root / "final_report.json").read_text())
    assert rep["verdict"]["critical"] == "fail"
    assert rep["verdict"]["critical_failed"] == ["builds_and_tests_pass"]
    assert rep["code"]["build"]["ok"] is True and "when" not in rep["code"]["build"]
    kinds = [rec.kind for rec in read_journal(root / "events.wal")]
    end = kinds.index("session_end")
    assert kinds[end + 1:] == ["quality", "quality"]
    again = supervisor_cli("--test-runs-dir", str(runs), "report", "bad", "--format", "json",
                           timeout=60)
    assert again.returncode == 0, again.stderr
    rebuilt = json.loads((root / "final_report.json").read_text())
    assert rebuilt["criteria"] == rep["criteria"] and rebuilt["totals"] == rep["totals"]
    assert (root / "final_report.html").stat().st_size > 1000
    assert_no_session_processes(root)
