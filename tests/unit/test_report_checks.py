"""Parsing bandit's JSON report into counts by severity and the first issues."""

from __future__ import annotations

import json
from pathlib import Path

from supervisor.report.checks import parse_bandit


def _result(sev: str, test_id: str, name: str) -> dict[str, object]:
    return {"filename": name, "line_number": 3, "test_id": test_id, "issue_severity": sev,
            "issue_confidence": "HIGH", "issue_text": f"{test_id} found"}


def test_counts_and_order(tmp_path: Path) -> None:
    """Counts per severity; issues high first with paths relative to the project; medium
    or high makes the scan not clean."""
    doc = {"results": [_result("LOW", "B404", str(tmp_path / "a.py")),
                       _result("HIGH", "B602", str(tmp_path / "pkg" / "b.py")),
                       _result("MEDIUM", "B307", "elsewhere.py")],
           "errors": [{"filename": "x.py", "reason": "syntax error"}],
           "metrics": {"_totals": {"loc": 42}}}
    out = parse_bandit(json.dumps(doc), tmp_path)
    assert out["findings"] == {"high": 1, "medium": 1, "low": 1}
    assert [(i["test_id"], i["file"]) for i in out["issues"]] == [
        ("B602", "pkg/b.py"), ("B307", "elsewhere.py"), ("B404", "a.py")]
    assert (out["ok"], out["scanned_loc"], out["scan_errors"]) == (False, 42, 1)


def test_low_findings_only_is_clean(tmp_path: Path) -> None:
    """Low-severity findings are listed but the scan counts as clean."""
    out = parse_bandit(json.dumps({"results": [_result("LOW", "B101", "a.py")]}), tmp_path)
    assert out["ok"] is True and out["findings"]["low"] == 1


def test_not_json_gives_nothing(tmp_path: Path) -> None:
    """Output that is not bandit's JSON yields no result (the caller reports an error)."""
    assert parse_bandit("Traceback ...", tmp_path) == {}
    assert parse_bandit(json.dumps({"results": "x"}), tmp_path) == {}
