"""`supervisor report` and `supervisor compare` as a user runs them, on copies of the
recorded fixture session (finished, crashed) and on a session missing its checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import supervisor_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "recorded_session"


@pytest.fixture
def sessions(runs: Path) -> Path:
    """test_runs with the fixture as ``done`` and a crashed copy (journal cut, no pid)."""
    shutil.copytree(FIXTURE, runs / "done")
    crashed = runs / "crashed"
    shutil.copytree(FIXTURE, crashed)
    lines = (crashed / "events.wal").read_bytes().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if b'"k":"phase_end","index":2' in ln)
    (crashed / "events.wal").write_bytes(b"".join(lines[:cut]))
    (crashed / "status").write_text("running\n")
    return runs


def sup(runs: Path, *args: str) -> tuple[int, str, str]:
    r = supervisor_cli("--test-runs-dir", str(runs), *args, timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_report_writes_json_and_html(sessions: Path) -> None:
    """The default writes final_report.json and .html in the session, with the verdict."""
    code, out, err = sup(sessions, "report", "done", "--no-measure")
    assert code == 0, err
    assert "done: completed; critical criteria pass" in out
    rep = json.loads((sessions / "done" / "final_report.json").read_text())
    assert (rep["totals"]["tokens"], rep["totals"]["failures"]) == (16645, 9)
    assert rep["verdict"]["critical"] == "pass"
    html = (sessions / "done" / "final_report.html").read_text()
    assert "recorded_session" in html and "<svg" in html


def test_report_json_and_md_outputs(sessions: Path, tmp_path: Path) -> None:
    """--format json --output and --format md (stdout, or --output) carry the same numbers."""
    target = tmp_path / "out" / "r.json"
    target.parent.mkdir()
    code, _, err = sup(sessions, "report", str(sessions / "done"), "--format", "json",
                       "--output", str(target), "--no-measure")
    assert code == 0, err
    assert json.loads(target.read_text())["code"]["lines_of_code"] == 747
    assert not (sessions / "done" / "final_report.json").exists()
    code, out, err = sup(sessions, "report", "done", "--format", "md", "--no-measure")
    assert code == 0, err
    assert out.startswith("# Mega test report: recorded_session") and "| 16,645 |" in out
    md = tmp_path / "r.md"
    code, _, _ = sup(sessions, "report", "done", "--format", "md", "-o", str(md))
    assert code == 0 and "## Error log" in md.read_text()


def test_report_of_a_crashed_session(sessions: Path) -> None:
    """A session whose supervisor died reports as crashed: not completed, so the critical
    verdict fails; what was recorded is there."""
    code, out, err = sup(sessions, "report", "crashed", "--format", "json", "--no-measure")
    assert code == 0, err
    rep = json.loads((sessions / "crashed" / "final_report.json").read_text())
    assert rep["status"] == "crashed" and "crashed: crashed; critical criteria fail" in out
    crit = {c["id"]: c["status"] for c in rep["criteria"]}
    assert crit["no_fatal_errors"] == "fail" and crit["builds_and_tests_pass"] == "not_measured"
    assert 0 < rep["totals"]["tokens"] < 16645


def test_compare_json_and_table(sessions: Path) -> None:
    """compare: metrics, criteria and efficiency side by side, deltas against the first."""
    code, out, err = sup(sessions, "compare", "done", "crashed", "--json")
    assert code == 0, err
    cmp = json.loads(out)
    assert cmp["sessions"] == ["recorded_session", "recorded_session"]
    tokens = next(m for m in cmp["metrics"] if m["name"] == "tokens")
    assert tokens["values"][0] == 16645 and tokens["deltas"][1] == tokens["values"][1] - 16645
    changed = {c["id"] for c in cmp["criteria"] if c["changed"]}
    assert "no_fatal_errors" in changed
    code, out, err = sup(sessions, "compare", "done", "crashed")
    assert code == 0, err
    assert "Success criteria" in out and "Tokens per LOC" in out and "16,645" in out


@pytest.mark.parametrize("args,message", [
    (("report", "nope"), "no session 'nope'"),
    (("report", "/definitely/not/here"), "no session"),
    (("compare", "done"), "at least two sessions"),
    (("compare", "done", "nope"), "no session 'nope'"),
])
def test_bad_session_exits_2(sessions: Path, args: tuple[str, ...], message: str) -> None:
    """A session that does not exist (or too few to compare) exits 2 with a clear message."""
    code, _, err = sup(sessions, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_not_a_session_directory_exits_2(sessions: Path, tmp_path: Path) -> None:
    """A directory that is no session is refused by path."""
    other = tmp_path / "plain"
    other.mkdir()
    code, _, err = sup(sessions, "report", str(other))
    assert code == 2 and "not a session directory" in err


def test_report_runs_missing_checks(sessions: Path) -> None:
    """A session without quality records gets the build and security checks at report
    time: bandit finds the shell injection, compileall the syntax error."""
    root = sessions / "done"
    wal = root / "events.wal"
    lines = wal.read_bytes().splitlines(keepends=True)
    wal.write_bytes(b"".join(ln for ln in lines if b'"k":"quality"' not in ln))
    pkg = root / "project" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "run.py").write_text("import subprocess\n\n\ndef run(cmd):\n"
                                "    return subprocess.call(cmd, shell=True)\n")
    (pkg / "broken.py").write_text("def f(:\n")
    code, _, err = sup(sessions, "report", "done", "--format", "json")
    assert code == 0, err
    rep = json.loads((root / "final_report.json").read_text())
    sec, build = rep["code"]["security"], rep["code"]["build"]
    assert (sec["when"], sec["findings"]["high"], sec["ok"]) == ("report", 1, False)
    assert build["ok"] is False and any("broken.py" in e for e in build["errors"])
    crit = {c["id"]: c["status"] for c in rep["criteria"]}
    assert crit["security_clean"] == "fail" and crit["builds_and_tests_pass"] == "fail"
    assert not list((root / "project").rglob("*.pyc"))  # the check leaves the tree alone
