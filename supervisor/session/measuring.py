"""Measuring the project during a session: its tests (really run, under coverage) and
its lines of code, at each phase end and at the end.

A phase-end run works on a copy of ``project/`` taken at the phase end, in the background,
so the next phase starts at once and the figures are still those of that moment. The
final run works on ``project/`` itself once every agent has stopped, with session time
held (a real test run does not speed up with the time scale).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.measure import DEFAULT_EXCLUDES, count_loc, run_project_tests
from supervisor.plan import PlannedPhase

if TYPE_CHECKING:
    from supervisor.runner import SessionRunner

log = logs.get("measure")
SUMMARY_KEYS = ("passed", "failed", "errors", "skipped", "pass_rate", "coverage", "duration_s",
                "exit_code", "timed_out", "command")


def _measure(project: Path, timeout: float, command: tuple[str, ...]) -> dict[str, Any]:
    tests = run_project_tests(project, timeout, command, sys.executable)
    loc = count_loc(project)
    summary = {k: tests.get(k) for k in SUMMARY_KEYS}
    summary.update(lines_of_code=loc["lines_of_code"], loc_by_language=loc["loc_by_language"],
                   files=loc["files"])
    return summary


def _copy_and_measure(project: Path, timeout: float, command: tuple[str, ...],
                      scratch: Path) -> dict[str, Any]:
    # the copy lives in the session directory (``.measure/``), so a supervisor killed in
    # the middle leaves nothing elsewhere; the next run of the session clears it
    scratch.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="phase-", dir=scratch) as tmp:
        copy = Path(tmp) / "project"
        shutil.copytree(project, copy, symlinks=True,
                        ignore=shutil.ignore_patterns(*DEFAULT_EXCLUDES))
        return _measure(copy, timeout, command)


class ProjectMeasurer:
    def __init__(self, runner: SessionRunner):
        self.r = runner
        self._pending: set[asyncio.Task[None]] = set()
        self.scratch = runner.layout.root / ".measure"
        if self.scratch.exists():  # left by a supervisor that was killed mid-run
            shutil.rmtree(self.scratch, ignore_errors=True)

    @property
    def timeout(self) -> float:
        return self.r.cfg.limits.max_test_runtime_min * 60

    def _has_project(self) -> bool:
        p = self.r.layout.project_dir
        return p.is_dir() and any(p.iterdir())

    def phase_end(self, phase: PlannedPhase) -> None:
        """Measure the project as it is now, in the background."""
        if not self._has_project():
            return
        at = self.r.timer.elapsed()
        task = asyncio.create_task(self._phase_run(phase, at), name=f"tests-{phase.name}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _phase_run(self, phase: PlannedPhase, at: float) -> None:
        r = self.r
        try:
            summary = await asyncio.to_thread(_copy_and_measure, r.layout.project_dir,
                                              self.timeout, r.cfg.project.test_command,
                                              self.scratch)
        except Exception as e:
            log.exception("phase_tests_failed", phase=phase.name, error=str(e))
            return
        self._record_phase(phase, summary, at)

    def _record_phase(self, phase: PlannedPhase, summary: dict[str, Any], at: float) -> None:
        """Recorded with the session time of the phase end the figures belong to."""
        r = self.r
        r.loc = summary.get("lines_of_code")
        brief = {k: v for k, v in summary.items() if k != "loc_by_language"}
        r.ledger.record("phase_tests", at, index=phase.index, tests=brief, measured_at=r.timer.elapsed())
        log.info("project_tests", at=f"end of {phase.name}", **brief)

    async def drain(self) -> None:
        """Wait for phase-end runs still going (bounded by the test time limit)."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=self.timeout + 30)

    async def final(self, last_phase: PlannedPhase | None) -> None:
        """The final run on project/ itself; also the last phase's figures."""
        r = self.r
        await self.drain()
        if not self._has_project():
            return
        r.timer.hold()
        try:
            summary = await asyncio.to_thread(_measure, r.layout.project_dir, self.timeout,
                                              r.cfg.project.test_command)
        finally:
            r.timer.release()
        r.tests = summary
        r.loc = summary.get("lines_of_code")
        if last_phase is not None:
            self._record_phase(last_phase, summary, r.timer.elapsed())
        r.ledger.record("final_tests", r.timer.elapsed(), tests=summary)
        log.info("project_tests", at="final", **{k: summary.get(k) for k in SUMMARY_KEYS})
