"""The measurements a final report needs beyond the journal: a build check, a security scan
and the verification of the checkpoint files. Blocking I/O; call from a thread.

- Build: ``python -m compileall -q`` over the project's Python files, with the bytecode
  written to a temporary ``pycache_prefix`` so the project tree is left untouched. Its
  wall time is the build time the report grades.
- Security: ``bandit -r`` over the project, test files excluded (``assert`` in tests is
  not a finding), JSON output parsed into counts by severity and the first issues.
  "Clean" means no finding of medium or high severity; low ones are listed, not failed.
- Checkpoints: every checkpoint the journal records is looked up in the checkpoint store
  and verified (checksum, schema, every snapshot object). A file missing because
  retention deleted it is told apart from a lost one (``checkpoint_validity``).

At session end the runner records the build and security results in the journal as
``quality`` records (``check``: ``build`` / ``security``); ``supervisor report`` reuses
those and only runs the checks itself when a session has none (crashed sessions, older
ones), marking them ``"when": "report"``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supervisor.checkpoint.inspect import list_checkpoints
from supervisor.clock import monotonic
from supervisor.measure import DEFAULT_EXCLUDES
from supervisor.report.criteria import DELETED_BY_RETENTION
from supervisor.session.layout import SessionLayout

QUALITY_SCHEMA = 1
CHECK_TIMEOUT_S = 120.0  # wall seconds, per check
TEST_GLOBS = ("*/tests/*", "*/test/*", "*/test_*.py", "*/*_test.py", "*/conftest.py")
MAX_ISSUES = 20
PHASE_COMPLETE = "phase_complete"


def python_files(project: Path, excludes: Sequence[str] = DEFAULT_EXCLUDES) -> int:
    skip = set(excludes)
    n = 0
    for _dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = [d for d in dirnames if d not in skip]
        n += sum(1 for f in filenames if f.endswith(".py"))
    return n


def _skipped(check: str, tool: str, why: str) -> dict[str, Any]:
    return {"schema": QUALITY_SCHEMA, "check": check, "tool": tool, "ok": None,
            "skipped": why}


def check_build(project: Path, timeout_s: float = CHECK_TIMEOUT_S,
                python: str = sys.executable) -> dict[str, Any]:
    """Byte-compile every Python file of ``project``; ``ok`` None when there is none."""
    if not project.is_dir():
        return _skipped("build", "compileall", "no project directory")
    files = python_files(project)
    if not files:
        return _skipped("build", "compileall", "no Python files to build")
    skip = "|".join(d.replace(".", r"\.") for d in DEFAULT_EXCLUDES)
    out: dict[str, Any] = {"schema": QUALITY_SCHEMA, "check": "build", "tool": "compileall",
                           "ok": None, "files": files, "timed_out": False}
    with tempfile.TemporaryDirectory(prefix="megatest-build-") as tmp:
        argv = [python, "-X", f"pycache_prefix={tmp}", "-m", "compileall", "-q",
                "-x", rf"[/\\]({skip})[/\\]", str(project)]
        start = monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout_s,
                                  start_new_session=True)
            out["exit_code"] = proc.returncode
            out["ok"] = proc.returncode == 0
            lines = (proc.stdout + proc.stderr).decode(errors="replace").splitlines()
            out["errors"] = [ln[:300] for ln in lines if ln.strip()][:MAX_ISSUES]
        except subprocess.TimeoutExpired:
            out.update(timed_out=True, ok=False, errors=[f"timed out after {timeout_s:g} s"])
        except OSError as e:
            out.update(ok=None, error=f"cannot run compileall: {e}")
        out["duration_s"] = round(monotonic() - start, 3)
    out["command"] = f"python -m compileall -q {project.name}/"
    return out


def check_security(project: Path, timeout_s: float = CHECK_TIMEOUT_S,
                   python: str = sys.executable) -> dict[str, Any]:
    """Run bandit over the project's Python code (tests excluded)."""
    if not project.is_dir():
        return _skipped("security", "bandit", "no project directory")
    if not python_files(project):
        return _skipped("security", "bandit", "no Python files to scan")
    excludes = ",".join([*TEST_GLOBS, *(f"*/{d}/*" for d in DEFAULT_EXCLUDES)])
    # run inside the project on "." so the exclude globs see project-relative paths only
    argv = [python, "-m", "bandit", "-r", ".", "-f", "json", "-q", "-x", excludes]
    out: dict[str, Any] = {"schema": QUALITY_SCHEMA, "check": "security", "tool": "bandit",
                           "ok": None, "timed_out": False, "excluded": "test files"}
    start = monotonic()
    try:
        proc = subprocess.run(argv, cwd=project, capture_output=True, timeout=timeout_s,
                              start_new_session=True)
        out["exit_code"] = proc.returncode
        out.update(parse_bandit(proc.stdout.decode(errors="replace"), project))
        if "findings" not in out:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            out["error"] = "bandit gave no JSON report" + (f": {' '.join(tail)}" if tail else "")
    except subprocess.TimeoutExpired:
        out.update(timed_out=True, error=f"bandit timed out after {timeout_s:g} s")
    except OSError as e:
        out["error"] = f"cannot run bandit: {e}"
    out["duration_s"] = round(monotonic() - start, 3)
    return out


def parse_bandit(text: str, project: Path) -> dict[str, Any]:
    """Counts by severity and the first issues of bandit's JSON report ({} if not JSON)."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return {}
    counts = {"high": 0, "medium": 0, "low": 0}
    issues = []
    for item in data["results"]:
        sev = str(item.get("issue_severity", "")).lower()
        if sev in counts:
            counts[sev] += 1
        name = str(item.get("filename", ""))
        try:
            name = str((project / name).resolve().relative_to(project.resolve()))
        except (ValueError, OSError):
            pass
        issues.append({"file": name, "line": item.get("line_number"),
                       "test_id": item.get("test_id"), "severity": sev,
                       "confidence": str(item.get("issue_confidence", "")).lower(),
                       "text": str(item.get("issue_text", ""))[:300]})
    order = {"high": 0, "medium": 1, "low": 2}
    issues.sort(key=lambda i: order.get(i["severity"], 3))
    totals = (data.get("metrics") or {}).get("_totals") or {}
    errors = data.get("errors") or []
    return {"findings": counts, "issues": issues[:MAX_ISSUES],
            "scanned_loc": totals.get("loc"), "scan_errors": len(errors),
            "ok": counts["high"] == 0 and counts["medium"] == 0}


def quality_checks(project: Path, timeout_s: float = CHECK_TIMEOUT_S) -> list[dict[str, Any]]:
    """Both checks, build first (each bounded by ``timeout_s``)."""
    return [check_build(project, timeout_s), check_security(project, timeout_s)]


# -- checkpoints ---------------------------------------------------------------------------


def verify_checkpoint_files(layout: SessionLayout) -> dict[int, dict[str, Any]]:
    """Every checkpoint file of the session, fully verified, by number."""
    if not layout.checkpoints_dir.is_dir():
        return {}
    return {int(r["number"]): r for r in list_checkpoints(layout, verify_objects=True)}


def checkpoint_validity(recorded: Sequence[Mapping[str, Any]],
                        files: Mapping[int, Mapping[str, Any]],
                        keep_last: int) -> list[dict[str, Any]]:
    """Each recorded checkpoint with ``valid`` (True, False, or None when retention deleted
    its file) and ``error``. Pure.

    A missing file is put down to retention when retention would have deleted it: not a
    phase-completion checkpoint, and at least ``keep_last`` checkpoints were recorded after
    it. Any other missing file is invalid ("file missing").
    """
    numbers = sorted(int(c["number"]) for c in recorded if isinstance(c.get("number"), int))
    out = []
    for c in recorded:
        row = dict(c)
        n = c.get("number")
        f = files.get(n) if isinstance(n, int) else None
        if f is not None:
            row["valid"] = bool(f.get("valid"))
            row["error"] = f.get("error")
        elif isinstance(n, int) and c.get("trigger") != PHASE_COMPLETE and \
                sum(1 for m in numbers if m > n) >= max(1, keep_last):
            row["valid"] = None
            row["error"] = DELETED_BY_RETENTION
        else:
            row["valid"] = False
            row["error"] = "file missing"
        out.append(row)
    return out
