"""The seed's success criteria, evaluated from measured data only. Pure.

Each criterion is a row ``{id, name, tier, measured, threshold, status, detail}`` with
``status`` one of ``pass``, ``fail``, ``not_measured``. A value nobody measured is
``not_measured`` with the reason in ``detail``, never a guess. Decisions:

- "Session completes without fatal errors": fails when the session did not end
  ``completed`` (failed, crashed, interrupted, budget exhausted) or when a failure of
  severity ``fatal`` was not recovered; not measured while the session still runs.
- "All checkpoints created and valid": every checkpoint the journal records must verify
  (checksum, schema, every snapshot object) and no attempt may have failed; a file that
  retention deleted counts as neither. Not measured when checkpoints are disabled.
- "Final code compiles and passes tests": the build check (compileall) and the final test
  run (exit code 0, no failed or erroring test, not timed out). A missing build check
  (no Python files) leaves the tests to decide; no final test run is not measured.
- "Recovery from at least 1 failure": when no failure happened (or only ``degraded`` ones,
  which are logged, not recovered) recovery was not exercised: ``not_measured``, which
  does not fail the run. Otherwise at least one failure must end ``recovered``.
- Critical bugs and trust come from what agents report in working memory (``memory``
  events): ``bugs.critical`` / ``open_critical_bugs`` / ``bugs = {critical = n}``, and
  ``trust`` (a number or ``{agent: score}``) / ``trust.<agent>``. Nothing reported: not
  measured.
- Manual interventions: pause, resume and forced-checkpoint commands that came from the
  CLI, the HTTP API or a signal.

The run's verdict: ``fail`` when any critical criterion fails, else ``pass``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supervisor.config.schema import Config

PASS, FAIL, NOT_MEASURED = "pass", "fail", "not_measured"
TIERS = ("critical", "important", "bonus")
RUNNING_STATUSES = frozenset({"starting", "running", "paused", "recovering"})
RECOVERED = "recovered"
DELETED_BY_RETENTION = "deleted by retention"


@dataclass(frozen=True)
class Targets:
    coverage: float = 0.80
    coverage_bonus: float = 0.90
    max_critical_bugs: int = 0
    build_time_s: float = 60.0
    test_time_s: float = 120.0
    performance_margin: float = 0.20
    token_budget: int = 5_000_000
    trust: float = 0.8

    @classmethod
    def from_config(cls, cfg: Config) -> Targets:
        t, perf = cfg.project.target, cfg.project.performance
        return cls(coverage=t.test_coverage, max_critical_bugs=t.max_bugs_critical,
                   build_time_s=perf.build_time_secs, test_time_s=perf.test_execution_time_secs,
                   token_budget=cfg.limits.total_token_budget)


@dataclass(frozen=True)
class Facts:
    """What was measured in one session: the input of criteria, efficiency and advice."""

    status: str = "completed"
    session_seconds: float = 0.0
    wall_seconds: float = 0.0
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    tool_calls_failed: int = 0
    tasks_completed: int = 0
    restarts: int = 0
    garbage_lines: int = 0
    lines_of_code: int | None = None
    tests: Mapping[str, Any] | None = None  # the final test run
    build: Mapping[str, Any] | None = None  # quality record "build"
    security: Mapping[str, Any] | None = None  # quality record "security"
    checkpoints_enabled: bool = True
    checkpoints: Sequence[Mapping[str, Any]] = ()  # with "valid": True / False / None
    checkpoint_failures: int = 0
    failures: Sequence[Mapping[str, Any]] = ()  # the error log (record.pair_failures)
    interventions: Sequence[Mapping[str, Any]] = ()
    critical_bugs: int | None = None
    trust: Mapping[str, float] = field(default_factory=dict)
    agents: Sequence[Mapping[str, Any]] = ()


def row(cid: str, name: str, tier: str, measured: Any, threshold: Any, status: str,
        detail: str = "") -> dict[str, Any]:
    return {"id": cid, "name": name, "tier": tier, "measured": measured,
            "threshold": threshold, "status": status, "detail": detail}


def evaluate(f: Facts, t: Targets) -> list[dict[str, Any]]:
    """Every criterion, critical first."""
    return [
        no_fatal_errors(f), checkpoints_valid(f), builds_and_tests_pass(f), recovered(f),
        coverage(f, t.coverage, "coverage", "important"), critical_bugs(f, t),
        performance(f, t), security(f),
        coverage(f, t.coverage_bonus, "coverage_bonus", "bonus"), interventions(f),
        token_budget(f, t), trust(f, t),
    ]


def verdict(criteria: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by tier and status, and ``critical``: fail if a critical criterion failed."""
    counts = {tier: {PASS: 0, FAIL: 0, NOT_MEASURED: 0} for tier in TIERS}
    for c in criteria:
        tier, status = c.get("tier"), c.get("status")
        if tier in counts and status in counts[str(tier)]:
            counts[str(tier)][str(status)] += 1
    failed = [str(c.get("id")) for c in criteria
              if c.get("tier") == "critical" and c.get("status") == FAIL]
    return {"critical": FAIL if failed else PASS, "critical_failed": failed, "counts": counts}


# -- critical ---------------------------------------------------------------------------


def no_fatal_errors(f: Facts) -> dict[str, Any]:
    name = "Session completes without fatal errors"
    fatal = [x for x in f.failures if x.get("severity") == "fatal"
             and x.get("outcome") != RECOVERED]
    kinds = ", ".join(sorted({str(x.get("type")) for x in fatal}))
    if fatal:
        return row("no_fatal_errors", name, "critical", len(fatal), 0, FAIL,
                   f"{len(fatal)} fatal failure(s) not recovered: {kinds}")
    if f.status in RUNNING_STATUSES:
        return row("no_fatal_errors", name, "critical", 0, 0, NOT_MEASURED,
                   f"the session is still {f.status}")
    if f.status != "completed":
        return row("no_fatal_errors", name, "critical", 0, 0, FAIL,
                   f"the session did not complete: it ended {f.status}")
    recovered_fatal = sum(1 for x in f.failures if x.get("severity") == "fatal")
    more = f"; {recovered_fatal} fatal failure(s) recovered" if recovered_fatal else ""
    return row("no_fatal_errors", name, "critical", 0, 0, PASS,
               f"completed; {len(f.failures)} failure(s) recorded{more}")


def checkpoints_valid(f: Facts) -> dict[str, Any]:
    name = "All checkpoints created and valid"
    if not f.checkpoints_enabled:
        return row("checkpoints_valid", name, "critical", None, None, NOT_MEASURED,
                   "checkpoints are disabled in the config")
    valid = sum(1 for c in f.checkpoints if c.get("valid") is True)
    pruned = sum(1 for c in f.checkpoints
                 if c.get("valid") is None and c.get("error") == DELETED_BY_RETENTION)
    unverified = sum(1 for c in f.checkpoints if c.get("valid") is None) - pruned
    bad = [c for c in f.checkpoints if c.get("valid") is False]
    expected = len(f.checkpoints) - pruned + f.checkpoint_failures
    parts = [f"{valid} of {expected} verified (checksum and every snapshot object)"]
    if pruned:
        parts.append(f"{pruned} deleted by retention")
    if f.checkpoint_failures:
        parts.append(f"{f.checkpoint_failures} attempt(s) failed")
    if bad:
        parts.append("invalid: " + ", ".join(f"#{c.get('number')} ({c.get('error')})"
                                              for c in bad[:5]))
    if not f.checkpoints and not f.checkpoint_failures:
        return row("checkpoints_valid", name, "critical", 0, None, FAIL,
                   "no checkpoint was taken")
    if unverified and not bad and not f.checkpoint_failures:
        return row("checkpoints_valid", name, "critical", valid, expected, NOT_MEASURED,
                   f"{unverified} checkpoint file(s) not verified")
    ok = not bad and not f.checkpoint_failures and valid + pruned > 0
    return row("checkpoints_valid", name, "critical", valid, expected, PASS if ok else FAIL,
               "; ".join(parts))


def tests_ok(tests: Mapping[str, Any]) -> bool:
    return (tests.get("exit_code") == 0 and not tests.get("timed_out")
            and not tests.get("failed") and not tests.get("errors"))


def tests_measured(tests: Mapping[str, Any] | None) -> bool:
    if not tests:
        return False
    return tests.get("exit_code") is not None or bool(tests.get("timed_out"))


def builds_and_tests_pass(f: Facts) -> dict[str, Any]:
    name = "Final code compiles and passes tests"
    build_ok = f.build.get("ok") if f.build else None
    parts = []
    if build_ok is None:
        why = (f.build or {}).get("skipped") or (f.build or {}).get("error") or "not run"
        parts.append(f"build not checked ({why})")
    else:
        parts.append("build ok" if build_ok else "build FAILED ("
                     + "; ".join(str(e) for e in (f.build or {}).get("errors", [])[-1:]) + ")")
    tests = f.tests or {}
    measured = tests_measured(f.tests)
    if measured:
        if tests.get("timed_out"):
            parts.append("tests timed out")
        else:
            parts.append(f"{tests.get('passed')} passed, {tests.get('failed')} failed, "
                         f"{tests.get('errors')} errors (exit {tests.get('exit_code')})")
    else:
        parts.append("no final test run recorded")
    detail = "; ".join(parts)
    rate = tests.get("pass_rate") if measured else None
    if build_ok is False or (measured and not tests_ok(tests)):
        return row("builds_and_tests_pass", name, "critical", rate, 1.0, FAIL, detail)
    if measured:
        return row("builds_and_tests_pass", name, "critical", rate, 1.0, PASS, detail)
    return row("builds_and_tests_pass", name, "critical", None, 1.0, NOT_MEASURED, detail)


def recovered(f: Facts) -> dict[str, Any]:
    name = "Recovery from at least 1 failure"
    needing = [x for x in f.failures if x.get("severity") != "degraded"]
    done = sum(1 for x in needing if x.get("outcome") == RECOVERED)
    if not needing:
        why = ("no failure occurred" if not f.failures
               else f"only {len(f.failures)} degraded failure(s), logged and continued")
        return row("recovered_from_failure", name, "critical", 0, 1, NOT_MEASURED,
                   f"{why}: recovery was not exercised")
    detail = f"{done} of {len(needing)} failure(s) recovered"
    return row("recovered_from_failure", name, "critical", done, 1,
               PASS if done >= 1 else FAIL, detail)


# -- important and bonus ---------------------------------------------------------------


def coverage(f: Facts, threshold: float, cid: str, tier: str) -> dict[str, Any]:
    name = f"Test coverage ≥ {threshold:.0%}"
    cov = (f.tests or {}).get("coverage")
    if not isinstance(cov, int | float):
        return row(cid, name, tier, None, threshold, NOT_MEASURED,
                   "no coverage measured by the final test run")
    return row(cid, name, tier, cov, threshold, PASS if cov >= threshold else FAIL,
               f"line and branch coverage {cov:.1%} of the project's code (tests excluded)")


def critical_bugs(f: Facts, t: Targets) -> dict[str, Any]:
    name = "No open critical bugs"
    if f.critical_bugs is None:
        return row("no_critical_bugs", name, "important", None, t.max_critical_bugs,
                   NOT_MEASURED, "no agent reported bug counts (memory key bugs.critical)")
    ok = f.critical_bugs <= t.max_critical_bugs
    return row("no_critical_bugs", name, "important", f.critical_bugs, t.max_critical_bugs,
               PASS if ok else FAIL, "open critical bugs as the agents last reported them")


def performance(f: Facts, t: Targets) -> dict[str, Any]:
    name = f"Performance within {t.performance_margin:.0%} of target"
    limit = 1.0 + t.performance_margin
    ratios, parts = [], []
    build_s = (f.build or {}).get("duration_s") if (f.build or {}).get("ok") is not None else None
    if isinstance(build_s, int | float):
        ratios.append(build_s / t.build_time_s)
        parts.append(f"build {build_s:.1f} s vs target {t.build_time_s:g} s")
    test_s = (f.tests or {}).get("duration_s") if tests_measured(f.tests) else None
    if isinstance(test_s, int | float):
        ratios.append(test_s / t.test_time_s)
        parts.append(f"tests {test_s:.1f} s (under coverage) vs target {t.test_time_s:g} s")
    if not ratios:
        return row("performance", name, "important", None, limit, NOT_MEASURED,
                   "neither a build time nor a test time was measured")
    worst = round(max(ratios), 3)
    return row("performance", name, "important", worst, limit,
               PASS if worst <= limit else FAIL,
               "; ".join(parts) + " (measured is the larger time / target)")


def security(f: Facts) -> dict[str, Any]:
    name = "Security scan clean"
    s = f.security or {}
    found = s.get("findings")
    if s.get("ok") is None or not isinstance(found, Mapping):
        why = s.get("skipped") or s.get("error") or "no security scan recorded"
        return row("security_clean", name, "important", None, 0, NOT_MEASURED, str(why))
    serious = int(found.get("high", 0)) + int(found.get("medium", 0))
    detail = (f"{s.get('tool', 'scanner')}: {found.get('high', 0)} high, "
              f"{found.get('medium', 0)} medium, {found.get('low', 0)} low "
              f"({s.get('excluded', 'nothing')} excluded)")
    return row("security_clean", name, "important", serious, 0, PASS if serious == 0 else FAIL,
               detail)


def interventions(f: Facts) -> dict[str, Any]:
    n = len(f.interventions)
    what = ", ".join(f"{c.get('command')} ({c.get('source')})" for c in f.interventions[:8])
    return row("zero_interventions", "Zero manual interventions", "bonus", n, 0,
               PASS if n == 0 else FAIL, what or "no pause, resume or forced checkpoint")


def token_budget(f: Facts, t: Targets) -> dict[str, Any]:
    name = "Under token budget"
    if t.token_budget <= 0:
        return row("under_token_budget", name, "bonus", f.tokens, None, NOT_MEASURED,
                   "no token budget configured")
    share = f.tokens / t.token_budget
    return row("under_token_budget", name, "bonus", f.tokens, t.token_budget,
               PASS if f.tokens <= t.token_budget else FAIL, f"{share:.1%} of the budget used")


def trust(f: Facts, t: Targets) -> dict[str, Any]:
    name = f"Agent trust scores > {t.trust:g}"
    if not f.trust:
        return row("trust", name, "bonus", None, t.trust, NOT_MEASURED,
                   "no agent reported a trust score (memory key trust)")
    low = min(f.trust.values())
    worst = min(f.trust, key=lambda k: f.trust[k])
    return row("trust", name, "bonus", round(low, 3), t.trust, PASS if low > t.trust else FAIL,
               f"lowest: {worst} at {low:.2f} of {len(f.trust)} reported")


# -- what agents report in working memory -----------------------------------------------


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def trust_scores(memory: Mapping[str, Any]) -> dict[str, float]:
    """``trust`` (a number, or agent -> number) and ``trust.<agent>`` / ``trust:<agent>``."""
    out: dict[str, float] = {}
    base = memory.get("trust")
    score = _number(base)
    if score is not None:
        out["session"] = score
    elif isinstance(base, Mapping):
        out.update({str(k): float(v) for k, v in base.items() if _number(v) is not None})
    for key, value in memory.items():
        if key[:6] in ("trust.", "trust:") and _number(value) is not None:
            out[key[6:]] = float(value)
    return out


def open_critical_bugs(memory: Mapping[str, Any]) -> int | None:
    """``bugs.critical``, ``open_critical_bugs`` or ``bugs = {critical = n}``; else None."""
    for key in ("bugs.critical", "open_critical_bugs"):
        n = _number(memory.get(key))
        if n is not None:
            return int(n)
    bugs = memory.get("bugs")
    if isinstance(bugs, Mapping) and _number(bugs.get("critical")) is not None:
        return int(bugs["critical"])
    return None


def session_exit_code(status: str, critical: str | None, current: int = 0) -> int:
    """The exit code of ``run_mega_test`` (README "Exit codes").

    ``interrupted``: the signal's code already chosen (128 + N) or 130. ``completed``: 0
    when no critical criterion failed, 1 when one did or the criteria could not be
    evaluated (``critical`` None: the report failed). Anything else (``failed``,
    ``budget_exhausted``: the plan did not run to its end) is 1.
    """
    if status == "interrupted":
        return current if current > 128 else 130
    if status == "completed":
        return 0 if critical == PASS else 1
    return 1
