"""Measure the project the agents built: lines of code by language, and its tests run for
real (pytest under coverage), bounded in time. Blocking; call from a thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supervisor.agents.command import launch_prefix
from supervisor.clock import monotonic

LANGUAGES = {
    ".py": "Python", ".rs": "Rust", ".go": "Go", ".js": "JavaScript", ".ts": "TypeScript",
    ".c": "C", ".h": "C", ".cpp": "C++", ".java": "Java", ".rb": "Ruby", ".sh": "Shell",
    ".md": "Markdown", ".toml": "TOML", ".yml": "YAML", ".yaml": "YAML", ".json": "JSON",
    ".html": "HTML", ".css": "CSS", ".sql": "SQL", ".cfg": "INI", ".ini": "INI",
}
CODE_LANGUAGES = frozenset(
    {"Python", "Rust", "Go", "JavaScript", "TypeScript", "C", "C++", "Java", "Ruby", "Shell", "SQL"}
)
DEFAULT_EXCLUDES = (".git", ".venv", "node_modules", "__pycache__", ".cache", ".pytest_cache")


def count_loc(project: Path, excludes: Sequence[str] = DEFAULT_EXCLUDES) -> dict[str, Any]:
    """Non-blank lines per language; ``lines_of_code`` counts programming languages only."""
    by_lang: dict[str, int] = {}
    files = 0
    skip = set(excludes)
    for dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            lang = LANGUAGES.get(os.path.splitext(name)[1].lower())
            if lang is None:
                continue
            try:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    n = sum(1 for line in fh if line.strip())
            except OSError:
                continue
            files += 1
            by_lang[lang] = by_lang.get(lang, 0) + n
    loc = sum(v for k, v in by_lang.items() if k in CODE_LANGUAGES)
    return {"lines_of_code": loc, "loc_by_language": dict(sorted(by_lang.items())), "files": files}


def run_project_tests(
    project: Path, timeout_s: float, command: Sequence[str] = (), python: str = sys.executable
) -> dict[str, Any]:
    """Run the project's tests once, under coverage when it is the default pytest command.

    Returns passed/failed/errors/skipped, pass_rate, coverage (0..1 or None), duration,
    exit code and the command. A run past ``timeout_s`` is killed and reported as such.
    """
    result: dict[str, Any] = {
        "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "pass_rate": None,
        "coverage": None, "duration_s": 0.0, "exit_code": None, "timed_out": False,
    }
    if not project.is_dir():
        result["error"] = "no project directory"
        return result
    with tempfile.TemporaryDirectory(prefix="megatest-tests-") as tmp:
        junit = Path(tmp) / "junit.xml"
        cov_data = Path(tmp) / ".coverage"
        cov_json = Path(tmp) / "coverage.json"
        if command:
            argv = list(command)
        else:
            argv = [python, "-m", "coverage", "run", f"--data-file={cov_data}", "--branch",
                    "--omit=tests/*,*/tests/*,test_*.py,*/test_*.py",
                    "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        result["command"] = " ".join(argv)
        # the test run must not outlive a supervisor killed without warning
        argv = [*launch_prefix(), *argv]
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        start = monotonic()
        try:
            proc = subprocess.run(argv, cwd=project, env=env, capture_output=True,
                                  timeout=timeout_s, start_new_session=True)
            result["exit_code"] = proc.returncode
            result["output_tail"] = proc.stdout.decode(errors="replace")[-2000:]
        except subprocess.TimeoutExpired:
            result["timed_out"] = True
        except OSError as e:
            result["error"] = f"cannot run tests: {e}"
        result["duration_s"] = round(monotonic() - start, 3)
        if junit.exists():
            result.update(_junit_counts(junit))
        total = result["passed"] + result["failed"] + result["errors"]
        result["pass_rate"] = (result["passed"] / total) if total else None
        if not command and cov_data.exists():
            subprocess.run([python, "-m", "coverage", "json", f"--data-file={cov_data}",
                            "-o", str(cov_json), "-q"], cwd=project, capture_output=True,
                           timeout=60)
            if cov_json.exists():
                try:
                    totals = json.loads(cov_json.read_text())["totals"]
                    result["coverage"] = round(totals["percent_covered"] / 100.0, 4)
                except (ValueError, KeyError):
                    pass
    return result


def _junit_counts(path: Path) -> dict[str, int]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failures = errors = skipped = 0
    for s in suites:
        tests += int(s.get("tests", 0))
        failures += int(s.get("failures", 0))
        errors += int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return {"passed": tests - failures - errors - skipped, "failed": failures,
            "errors": errors, "skipped": skipped}
