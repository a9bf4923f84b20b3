"""Success criteria from measured data, by table: pass, fail and not measured."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.config.schema import Config, ProjectPerformanceSpec, ProjectSpec, ProjectTargetSpec
from supervisor.report import criteria as crit
from supervisor.report.criteria import FAIL, NOT_MEASURED, PASS, Facts, Targets

T = Targets()
GOOD_TESTS = {"passed": 30, "failed": 0, "errors": 0, "pass_rate": 1.0, "coverage": 0.85,
              "duration_s": 10.0, "exit_code": 0, "timed_out": False}
BUILD_OK = {"check": "build", "tool": "compileall", "ok": True, "duration_s": 2.0, "files": 9}
SCAN_CLEAN = {"check": "security", "tool": "bandit", "ok": True, "excluded": "test files",
              "findings": {"high": 0, "medium": 0, "low": 2}}
CK = {"number": 1, "trigger": "phase_complete", "valid": True}


def fail_row(severity: str, outcome: str | None, ftype: str = "network_timeout") -> dict[str, Any]:
    return {"type": ftype, "severity": severity, "outcome": outcome, "agent": "coder-1"}


def by_id(f: Facts, t: Targets = T) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in crit.evaluate(f, t)}


@pytest.mark.parametrize("facts,status,measured", [
    (Facts(status="completed"), PASS, 0),
    (Facts(status="completed", failures=[fail_row("fatal", "recovered", "agent_crash")]), PASS, 0),
    (Facts(status="completed", failures=[fail_row("fatal", None, "agent_crash")]), FAIL, 1),
    (Facts(status="completed", failures=[fail_row("fatal", "gave up", "data_corruption"),
                                         fail_row("recoverable", None)]), FAIL, 1),
    (Facts(status="failed"), FAIL, 0),
    (Facts(status="crashed"), FAIL, 0),
    (Facts(status="interrupted"), FAIL, 0),
    (Facts(status="budget_exhausted"), FAIL, 0),
    (Facts(status="running"), NOT_MEASURED, 0),
])
def test_no_fatal_errors(facts: Facts, status: str, measured: int) -> None:
    """Only a completed session with no unrecovered fatal failure passes; a live one is not
    measured."""
    row = crit.no_fatal_errors(facts)
    assert (row["status"], row["measured"], row["tier"]) == (status, measured, "critical")


@pytest.mark.parametrize("facts,status,measured,threshold", [
    (Facts(checkpoints=[CK, {**CK, "number": 2}]), PASS, 2, 2),
    (Facts(checkpoints=[CK, {**CK, "number": 2, "valid": None,
                             "error": "deleted by retention"}]), PASS, 1, 1),
    (Facts(checkpoints=[CK, {**CK, "number": 2, "valid": None, "error": "not verified"}]),
     NOT_MEASURED, 1, 2),
    (Facts(checkpoints=[CK, {**CK, "number": 2, "valid": False, "error": "bad checksum"}]),
     FAIL, 1, 2),
    (Facts(checkpoints=[CK], checkpoint_failures=1), FAIL, 1, 2),
    (Facts(checkpoints=[]), FAIL, 0, None),
    (Facts(checkpoints_enabled=False), NOT_MEASURED, None, None),
])
def test_checkpoints_valid(facts: Facts, status: str, measured: Any, threshold: Any) -> None:
    """Every recorded checkpoint must verify and no attempt fail; retention-deleted files
    count as neither; unverified files or disabled checkpoints are not measured."""
    row = crit.checkpoints_valid(facts)
    assert (row["status"], row["measured"], row["threshold"]) == (status, measured, threshold)


@pytest.mark.parametrize("facts,status", [
    (Facts(tests=GOOD_TESTS, build=BUILD_OK), PASS),
    (Facts(tests=GOOD_TESTS, build=None), PASS),
    (Facts(tests=GOOD_TESTS, build={"ok": None, "skipped": "no Python files to build"}), PASS),
    (Facts(tests=GOOD_TESTS, build={**BUILD_OK, "ok": False, "errors": ["SyntaxError"]}), FAIL),
    (Facts(tests={**GOOD_TESTS, "failed": 2, "exit_code": 1}, build=BUILD_OK), FAIL),
    (Facts(tests={**GOOD_TESTS, "errors": 1, "exit_code": 1}, build=BUILD_OK), FAIL),
    (Facts(tests={**GOOD_TESTS, "exit_code": None, "timed_out": True}, build=BUILD_OK), FAIL),
    (Facts(tests=None, build=BUILD_OK), NOT_MEASURED),
    (Facts(tests=None, build={**BUILD_OK, "ok": False}), FAIL),
])
def test_builds_and_tests_pass(facts: Facts, status: str) -> None:
    """The build check and the final test run decide; no test run is not measured unless
    the build failed."""
    assert crit.builds_and_tests_pass(facts)["status"] == status


@pytest.mark.parametrize("failures,status,measured", [
    ([], NOT_MEASURED, 0),
    ([fail_row("degraded", "flagged", "test_failure")], NOT_MEASURED, 0),
    ([fail_row("transient", "recovered")], PASS, 1),
    ([fail_row("transient", "recovered"), fail_row("recoverable", "gave up")], PASS, 1),
    ([fail_row("transient", None)], FAIL, 0),
    ([fail_row("recoverable", "gave up after 3 attempts")], FAIL, 0),
])
def test_recovered_from_failure(failures: list[dict[str, Any]], status: str, measured: int) -> None:
    """No failure (or only degraded ones) means recovery was not exercised; otherwise at
    least one failure must end recovered."""
    row = crit.recovered(Facts(failures=failures))
    assert (row["status"], row["measured"]) == (status, measured)


@pytest.mark.parametrize("cov,important,bonus", [
    (None, NOT_MEASURED, NOT_MEASURED), (0.5, FAIL, FAIL), (0.8, PASS, FAIL),
    (0.85, PASS, FAIL), (0.9, PASS, PASS), (1.0, PASS, PASS),
])
def test_coverage_tiers(cov: float | None, important: str, bonus: str) -> None:
    """Coverage is graded against the target (important) and 90% (bonus)."""
    rows = by_id(Facts(tests={**GOOD_TESTS, "coverage": cov}))
    assert (rows["coverage"]["status"], rows["coverage_bonus"]["status"]) == (important, bonus)
    assert rows["coverage"]["measured"] == cov


@pytest.mark.parametrize("facts,status,measured", [
    (Facts(build=BUILD_OK, tests=GOOD_TESTS), PASS, 0.083),
    (Facts(build={**BUILD_OK, "duration_s": 72.0}, tests=GOOD_TESTS), PASS, 1.2),
    (Facts(build={**BUILD_OK, "duration_s": 73.0}, tests=GOOD_TESTS), FAIL, 1.217),
    (Facts(build=None, tests={**GOOD_TESTS, "duration_s": 180.0}), FAIL, 1.5),
    (Facts(build={"ok": None, "skipped": "no Python files"}, tests=None), NOT_MEASURED, None),
])
def test_performance_within_margin(facts: Facts, status: str, measured: float | None) -> None:
    """The larger of build/target and test/target must stay within 1.2."""
    row = crit.performance(facts, T)
    assert (row["status"], row["measured"], row["threshold"]) == (status, measured, 1.2)


@pytest.mark.parametrize("scan,status,measured", [
    (SCAN_CLEAN, PASS, 0),
    ({**SCAN_CLEAN, "ok": False, "findings": {"high": 1, "medium": 2, "low": 0}}, FAIL, 3),
    ({"ok": None, "skipped": "no Python files to scan"}, NOT_MEASURED, None),
    ({"ok": None, "error": "bandit timed out after 120 s"}, NOT_MEASURED, None),
    (None, NOT_MEASURED, None),
])
def test_security_scan(scan: dict[str, Any] | None, status: str, measured: int | None) -> None:
    """Medium and high findings fail the scan; low ones are listed only; no scan is not
    measured with its reason."""
    row = crit.security(Facts(security=scan))
    assert (row["status"], row["measured"]) == (status, measured)
    if scan and scan.get("ok") is None:
        assert row["detail"] == (scan.get("skipped") or scan.get("error"))


@pytest.mark.parametrize("facts,bugs,interventions,budget,trust", [
    (Facts(), NOT_MEASURED, PASS, PASS, NOT_MEASURED),
    (Facts(critical_bugs=0, trust={"a": 0.9, "b": 0.85}, tokens=5_000_000), PASS, PASS, PASS, PASS),
    (Facts(critical_bugs=2, trust={"a": 0.9, "b": 0.8}, tokens=5_000_001,
           interventions=[{"command": "pause", "source": "cli"}]), FAIL, FAIL, FAIL, FAIL),
])
def test_bugs_interventions_budget_trust(facts: Facts, bugs: str, interventions: str,
                                         budget: str, trust: str) -> None:
    """Bugs and trust come only from agent reports; interventions and budget from counts."""
    rows = by_id(facts)
    assert [rows[k]["status"] for k in ("no_critical_bugs", "zero_interventions",
                                        "under_token_budget", "trust")] == \
        [bugs, interventions, budget, trust]


def test_every_criterion_once_in_tier_order() -> None:
    """Twelve criteria, four per tier, critical first, each with the row keys."""
    rows = crit.evaluate(Facts(), T)
    assert [r["tier"] for r in rows] == ["critical"] * 4 + ["important"] * 4 + ["bonus"] * 4
    assert len({r["id"] for r in rows}) == 12
    assert all(set(r) == {"id", "name", "tier", "measured", "threshold", "status", "detail"}
               for r in rows)


def test_targets_from_config() -> None:
    """Coverage, bug and performance targets and the budget come from the config."""
    cfg = Config(project=ProjectSpec(
        target=ProjectTargetSpec(test_coverage=0.7, max_bugs_critical=1),
        performance=ProjectPerformanceSpec(build_time_secs=30, test_execution_time_secs=90)))
    t = Targets.from_config(cfg)
    assert (t.coverage, t.max_critical_bugs, t.build_time_s, t.test_time_s, t.token_budget) == \
        (0.7, 1, 30, 90, cfg.limits.total_token_budget)


@pytest.mark.parametrize("statuses,critical,failed", [
    ([("critical", PASS), ("critical", NOT_MEASURED), ("bonus", FAIL)], PASS, []),
    ([("critical", PASS), ("critical", FAIL), ("important", FAIL)], FAIL, ["c1"]),
])
def test_verdict(statuses: list[tuple[str, str]], critical: str, failed: list[str]) -> None:
    """Only a failed critical criterion fails the run; counts are kept per tier."""
    rows = [{"id": f"c{i}", "tier": tier, "status": s} for i, (tier, s) in enumerate(statuses)]
    v = crit.verdict(rows)
    assert (v["critical"], v["critical_failed"]) == (critical, failed)
    assert sum(sum(c.values()) for c in v["counts"].values()) == len(rows)


@pytest.mark.parametrize("status,critical,current,code", [
    ("completed", PASS, 0, 0),
    ("completed", FAIL, 0, 1),
    ("completed", None, 0, 1),
    ("failed", PASS, 1, 1),
    ("budget_exhausted", PASS, 0, 1),
    ("interrupted", PASS, 130, 130),
    ("interrupted", FAIL, 143, 143),
    ("interrupted", None, 0, 130),
])
def test_session_exit_code(status: str, critical: str | None, current: int, code: int) -> None:
    """0 only when completed with every critical criterion passing; interrupted keeps its
    signal code."""
    assert crit.session_exit_code(status, critical, current) == code


@pytest.mark.parametrize("memory,trust,bugs", [
    ({}, {}, None),
    ({"trust": 0.9}, {"session": 0.9}, None),
    ({"trust": {"coder-1": 0.7, "tester-1": "x"}}, {"coder-1": 0.7}, None),
    ({"trust.coder-1": 0.95, "trust:tester-1": 0.6, "trusted": 1}, {"coder-1": 0.95,
                                                                     "tester-1": 0.6}, None),
    ({"bugs.critical": 2}, {}, 2),
    ({"open_critical_bugs": 0}, {}, 0),
    ({"bugs": {"critical": 3, "high": 1}}, {}, 3),
    ({"bugs": "many", "bugs.critical": True}, {}, None),
])
def test_agent_reports_from_memory(memory: dict[str, Any], trust: dict[str, float],
                                   bugs: int | None) -> None:
    """Trust scores and open critical bugs are read only from the documented memory keys."""
    assert crit.trust_scores(memory) == trust
    assert crit.open_critical_bugs(memory) == bugs
