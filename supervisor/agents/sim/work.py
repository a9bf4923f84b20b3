"""The agent's project work: which unit comes next, carrying out tool calls, progress.

Everything the agent knows about the project comes from its own record (units done,
files written) and from the files on disk, so an agent of a later phase, or one resumed
from a state, carries on where the work stopped and never writes a unit twice.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .projects.units import Unit, agent_units, stage_of_phase, target_done
from .settings import SimSettings
from .tasks import (
    CREATE,
    REPLACE,
    Step,
    Task,
    plan_maintenance_task,
    plan_unit_task,
    role_key,
    tool_duration_ms,
    write_mode,
)
from .workspace import Workspace

Event = dict[str, Any]
READABLE = (".py", ".md", ".toml", ".cfg", ".yml", ".yaml", ".txt", "Makefile")


class Worker:
    def __init__(self, settings: SimSettings, workspace: Workspace, catalog: list[Unit]):
        self.s = settings
        self.ws = workspace
        self.role = role_key(settings.role)
        self.units = agent_units(catalog, settings.role, settings.agent_index, settings.agent_count)
        self.stage = stage_of_phase(settings.phase_index, settings.phase_count)
        self.units_done: list[str] = []
        self.files_written: list[str] = []
        self.coverage = 0.0
        self.notes: list[str] = []  # diagnostics for stderr
        self._settled: set[str] = set()  # units seen finished (files never go away)

    # -- state ---------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "units_done": list(self.units_done),
            "files_written": list(self.files_written),
            "coverage": self.coverage,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.units_done = [str(k) for k in data.get("units_done", [])]
        self.files_written = [str(p) for p in data.get("files_written", [])]
        self.coverage = float(data.get("coverage", 0.0))

    # -- choosing work ---------------------------------------------------------------------
    def status(self, unit: Unit) -> str:
        """done | todo | partial (ours, unfinished) | taken (a peer wrote it)."""
        if unit.key in self._settled:
            return "done"
        real = [p for p in unit.paths if not p.endswith("__init__.py")] or list(unit.paths)
        present = [p for p in real if self.ws.exists(p)]
        if not present:
            return "todo"
        if unit.owner in ("slot", "scaffold") or any(p in self.files_written for p in present):
            if self.todo_files(unit):
                return "partial"
        self._settled.add(unit.key)  # finished, by us or by a peer
        return "done" if len(present) == len(real) else "taken"

    def todo_files(self, unit: Unit) -> list[str]:
        todo = []
        for path, content in unit.files:
            if not self.ws.exists(path):
                todo.append(path)
            elif write_mode(unit, path) == REPLACE and self.ws.read(path) != content:
                todo.append(path)
        return todo

    def next_unit(self, progress: float) -> Unit | None:
        """The unit to work on now, or None when on pace (or nothing is ready)."""
        statuses = [(unit, self.status(unit)) for unit in self.units]
        finished = sum(1 for _, st in statuses if st in ("done", "taken"))
        target = target_done(len(self.units), self.s.phase_index, self.s.phase_count, progress)
        if finished >= target:
            return None
        for unit, st in statuses:
            if st not in ("todo", "partial") or unit.stage > self.stage:
                continue
            if all(self.ws.exists(dep) for dep in unit.deps):
                return unit
        return None

    def context_files(self) -> list[str]:
        return [p for p in self.ws.files() if p.endswith(READABLE)]

    def plan(self, seq: int, task_id: str, progress: float, key: str) -> Task:
        rng = random.Random(f"{key}:task:{seq}")
        unit = self.next_unit(progress)
        context = self.context_files()
        if unit is not None:
            steps = plan_unit_task(rng, unit, self.todo_files(unit), context)
            return Task(seq, task_id, unit.title, steps, unit)
        title, steps = plan_maintenance_task(rng, self.role, context)
        return Task(seq, task_id, title, steps)

    # -- doing it -------------------------------------------------------------------------
    def execute(self, task: Task, step: Step, rng: random.Random) -> list[Event]:
        """Carry out one tool call; the ``tool_call`` event and what follows from it."""
        ok = True
        if step.content is not None and step.path is not None:
            ok = self._write(task, step)
        elif step.tool in ("read_file", "search", "shell"):
            ok = rng.random() >= 0.03
        event: Event = {
            "type": "tool_call",
            "name": step.tool,
            "ok": ok,
            "duration_ms": tool_duration_ms(rng, step.tool),
        }
        if step.path is not None:
            event["path"] = step.path
        events = [event]
        if step.tool == "run_tests" and (task.unit or self.role == "tester" or rng.random() < 0.3):
            events.append(self.test_result(rng))
        return events

    def _write(self, task: Task, step: Step) -> bool:
        assert step.path is not None and step.content is not None
        try:
            if step.mode == CREATE:
                created = self.ws.create(step.path, step.content)
                if not created:
                    ours = step.path in self.files_written or step.path.endswith("__init__.py")
                    if not ours:  # a peer took this unit
                        _drop_writes(task)
                    return ours
            else:
                self.ws.write(step.path, step.content)
        except OSError as exc:
            # Tests must never land without the module they test: give up on the unit.
            self.notes.append(f"sim: cannot write {step.path}: {exc.strerror or exc}")
            _drop_writes(task)
            return False
        if step.path not in self.files_written:
            self.files_written.append(step.path)
        task.written.append(step.path)
        return True

    def finish(self, task: Task, rng: random.Random) -> list[Event]:
        """Record a finished task; maybe share a fact about it."""
        unit = task.unit
        if unit is None:
            return []
        if self.status(unit) == "done" and unit.key not in self.units_done:
            self.units_done.append(unit.key)
        chance = 0.6 if self.role == "architect" else 0.25
        if task.written and rng.random() < chance:
            area = "architecture" if unit.stage == 0 else "progress"
            return [{"type": "memory", "key": f"{area}.{unit.key}", "value": unit.summary or unit.title}]
        return []

    def test_result(self, rng: random.Random, failed: int = 0) -> Event:
        """Tests as the project has them: passed = test functions present."""
        count = self.ws.count_tests()
        if count:
            figure = 0.4 + 0.52 * (1.0 - math.exp(-count / 70.0)) + rng.uniform(-0.01, 0.01)
            self.coverage = max(self.coverage, round(min(0.97, figure), 3))
        return {
            "type": "test_result",
            "passed": max(0, count - failed),
            "failed": failed,
            "coverage": self.coverage,
        }


def _drop_writes(task: Task) -> None:
    """Remove the remaining writing steps of ``task`` (its other tool calls stay)."""
    task.steps[task.pos + 1 :] = [s for s in task.steps[task.pos + 1 :] if s.content is None]
