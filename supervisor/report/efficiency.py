"""Efficiency grades against the seed's targets, the cost estimate and the recommendations.
Pure: ``Facts`` and ``Targets`` (see ``criteria.py``) in, report rows out.

Grades (lower is better): below ``excellent`` is ``excellent``, below ``good`` is
``good``, below ``target`` is ``target``, else ``below``; nothing to grade is
``not_measured``. The seed gives tokens per LOC (500 / 300 / 200), tool calls per task
(50 / 30 / 20) and build time (5 / 3 / 1 min). It gives no scale for the test time, so its
target is ``[project.performance] test_execution_time_secs`` with good and excellent at
the same fractions as the build-time row (0.6 and 0.2 of the target).

Cost: prompt and completion tokens at ``[pricing]`` per million, plus the wall time at
``compute_per_hour``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from supervisor.config.schema import PricingSpec
from supervisor.report.criteria import FAIL, RECOVERED, Facts, Targets, tests_measured

NOT_MEASURED = "not_measured"
TOKENS_PER_LOC = (500.0, 300.0, 200.0)
CALLS_PER_TASK = (50.0, 30.0, 20.0)
BUILD_SECONDS = (300.0, 180.0, 60.0)
TEST_FRACTIONS = (1.0, 0.6, 0.2)
# recommendation thresholds
IDLE_UTILIZATION = 0.5
RATE_LIMITS_PER_HOUR = 1.0
FAILED_TOOL_SHARE = 0.10


def grade(value: float | None, target: float, good: float, excellent: float) -> str:
    if value is None:
        return NOT_MEASURED
    if value < excellent:
        return "excellent"
    if value < good:
        return "good"
    return "target" if value < target else "below"


def _metric(mid: str, name: str, value: float | None, unit: str,
            scale: tuple[float, float, float], detail: str) -> dict[str, Any]:
    target, good, excellent = scale
    return {"id": mid, "name": name, "value": None if value is None else round(value, 2),
            "unit": unit, "grade": grade(value, target, good, excellent),
            "thresholds": {"target": target, "good": good, "excellent": excellent},
            "detail": detail}


def efficiency(f: Facts, t: Targets) -> list[dict[str, Any]]:
    loc = f.lines_of_code
    per_loc = f.tokens / loc if loc else None
    per_task = f.tool_calls / f.tasks_completed if f.tasks_completed else None
    build = f.build or {}
    build_s = build.get("duration_s") if build.get("ok") is not None else None
    test_s = (f.tests or {}).get("duration_s") if tests_measured(f.tests) else None
    test_scale = tuple(t.test_time_s * k for k in TEST_FRACTIONS)
    return [
        _metric("tokens_per_loc", "Tokens per LOC", per_loc, "tokens", TOKENS_PER_LOC,
                f"{f.tokens:,} tokens / {loc:,} lines" if loc else "no lines of code measured"),
        _metric("tool_calls_per_task", "Tool calls per task", per_task, "calls", CALLS_PER_TASK,
                f"{f.tool_calls:,} calls / {f.tasks_completed:,} completed tasks"
                if f.tasks_completed else "no task completed"),
        _metric("build_time", "Build time", build_s, "s", BUILD_SECONDS,
                f"{build.get('tool')} over {build.get('files')} files" if build_s is not None
                else str(build.get("skipped") or "no build check recorded")),
        _metric("test_time", "Test time", test_s, "s", (test_scale[0], test_scale[1],
                                                         test_scale[2]),
                "final test run, under coverage" if test_s is not None
                else "no final test run recorded"),
    ]


def cost(f: Facts, pricing: PricingSpec) -> dict[str, Any]:
    prompt = f.prompt_tokens / 1e6 * pricing.prompt_per_million
    completion = f.completion_tokens / 1e6 * pricing.completion_per_million
    hours = f.wall_seconds / 3600.0
    compute = hours * pricing.compute_per_hour
    return {
        "prompt_usd": round(prompt, 4), "completion_usd": round(completion, 4),
        "tokens_usd": round(prompt + completion, 4), "compute_usd": round(compute, 4),
        "total_usd": round(prompt + completion + compute, 4), "wall_hours": round(hours, 4),
        "detail": (f"{f.prompt_tokens:,} prompt tokens at ${pricing.prompt_per_million:g}/M, "
                   f"{f.completion_tokens:,} completion tokens at "
                   f"${pricing.completion_per_million:g}/M; {hours:.3f} h wall at "
                   f"${pricing.compute_per_hour:g}/h"),
    }


def recommendations(f: Facts, t: Targets, criteria: Sequence[Mapping[str, Any]],
                    eff: Sequence[Mapping[str, Any]]) -> list[str]:
    """Advice, each citing the number it comes from; empty when nothing stands out."""
    out: list[str] = []
    by_id = {str(m.get("id")): m for m in eff}
    per_loc = by_id.get("tokens_per_loc", {}).get("value")
    if isinstance(per_loc, int | float) and per_loc >= TOKENS_PER_LOC[0]:
        out.append(f"High token use: {per_loc:,.0f} tokens per line of code (target under "
                   f"{TOKENS_PER_LOC[0]:.0f}). Trim prompts and context, or give agents "
                   "smaller, clearer tasks.")
    per_task = by_id.get("tool_calls_per_task", {}).get("value")
    if isinstance(per_task, int | float) and per_task >= CALLS_PER_TASK[0]:
        out.append(f"{per_task:.0f} tool calls per completed task (target under "
                   f"{CALLS_PER_TASK[0]:.0f}): split tasks or batch file operations.")
    out += _agent_advice(f)
    out += _failure_advice(f)
    out += _quality_advice(f, t)
    if f.tool_calls and f.tool_calls_failed / f.tool_calls >= FAILED_TOOL_SHARE:
        out.append(f"{f.tool_calls_failed:,} of {f.tool_calls:,} tool calls failed "
                   f"({f.tool_calls_failed / f.tool_calls:.0%}): check tool permissions and "
                   "paths given to agents.")
    if t.token_budget > 0 and f.tokens > t.token_budget:
        out.append(f"The token budget was exceeded ({f.tokens:,} of {t.token_budget:,}): "
                   "raise the budget or shorten the phases.")
    if f.interventions:
        out.append(f"{len(f.interventions)} manual intervention(s) "
                   "(pause, resume or forced checkpoint): see the timeline for why.")
    if f.garbage_lines:
        out.append(f"Agents wrote {f.garbage_lines:,} stdout line(s) that were not protocol "
                   "events: send logs to stderr.")
    bad_ck = [c for c in criteria if c.get("id") == "checkpoints_valid" and c.get("status") == FAIL]
    if bad_ck:
        out.append(f"Checkpoints are not all valid ({bad_ck[0].get('detail')}): check disk "
                   "space and the checkpoint log before relying on restore.")
    return out


def _agent_advice(f: Facts) -> list[str]:
    out = []
    idle = [a for a in f.agents if isinstance(a.get("utilization"), int | float)
            and a["utilization"] < IDLE_UTILIZATION]
    if idle:
        names = ", ".join(f"{a.get('id')} ({a['utilization']:.0%})" for a in idle[:6])
        out.append(f"Agents running under {IDLE_UTILIZATION:.0%} of the session: {names}. "
                   "Give them work in more phases, or run fewer agents.")
    lazy = [str(a.get("id")) for a in f.agents if a.get("active_seconds") and
            not a.get("tool_calls") and not a.get("tasks_completed")]
    if lazy:
        out.append(f"Agents that ran but made no tool call and finished no task: "
                   f"{', '.join(lazy[:6])}. Check their role prompts.")
    restarted = [a for a in f.agents if a.get("restarts")]
    if restarted:
        names = ", ".join(f"{a.get('id')} ×{a.get('restarts')}" for a in restarted[:6])
        out.append(f"Agents had to be restarted: {names}. Look at their stderr.log.")
    return out


def _failure_advice(f: Facts) -> list[str]:
    out = []
    hours = f.session_seconds / 3600.0
    limits = sum(1 for x in f.failures if x.get("type") == "rate_limit")
    if limits and hours > 0 and limits / hours >= RATE_LIMITS_PER_HOUR:
        out.append(f"Frequent rate limits: {limits} in {hours:.1f} h of session time. Lower "
                   "[limits] tokens_per_agent_per_hour or run fewer agents at once.")
    lost = [x for x in f.failures if x.get("outcome") not in (None, RECOVERED)
            and x.get("severity") != "degraded"]
    if lost:
        kinds = ", ".join(sorted({str(x.get("type")) for x in lost}))
        out.append(f"{len(lost)} failure(s) did not end recovered ({kinds}): raise their "
                   "max_attempts or backoff in [recovery], or fix the cause.")
    unhandled = [x for x in f.failures if x.get("outcome") is None]
    if unhandled:
        kinds = ", ".join(sorted({str(x.get("type")) for x in unhandled}))
        out.append(f"{len(unhandled)} failure(s) have no recovery recorded ({kinds}).")
    return out


def _quality_advice(f: Facts, t: Targets) -> list[str]:
    out = []
    tests = f.tests or {}
    cov = tests.get("coverage")
    if isinstance(cov, int | float) and cov < t.coverage:
        out.append(f"Low test coverage: {cov:.0%} (target {t.coverage:.0%}). Give the Tester "
                   "role more of the development and refinement phases.")
    elif isinstance(cov, int | float) and cov < t.coverage_bonus:
        out.append(f"Coverage {cov:.0%} meets the {t.coverage:.0%} target but not the "
                   f"{t.coverage_bonus:.0%} bonus.")
    if tests_measured(f.tests) and (tests.get("failed") or tests.get("errors")):
        out.append(f"The final test run has {tests.get('failed')} failing and "
                   f"{tests.get('errors')} erroring test(s): schedule fixes before "
                   "finalization ends.")
    if tests.get("timed_out"):
        out.append("The final test run timed out: raise [limits] max_test_runtime_min or "
                   "speed the suite up.")
    if (f.build or {}).get("ok") is False:
        out.append("The project does not byte-compile: see the build errors in the report.")
    found = (f.security or {}).get("findings") or {}
    serious = int(found.get("high", 0)) + int(found.get("medium", 0))
    if serious:
        out.append(f"The security scan found {serious} medium or high issue(s): give the "
                   "Security role a review task in refinement.")
    return out
