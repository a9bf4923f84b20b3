"""Planning one task: the tool calls it takes and the files it writes. Pure.

A *unit task* writes the files of one unit (a module as a draft then an edit, its tests,
a test run); a *maintenance task* reads, searches, runs tests and shell commands the way
the agent's role would, and writes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .projects.units import Unit, canonical_role

TOOLS = ("read_file", "write_file", "edit_file", "run_tests", "search", "shell")

# Maintenance tool mix by role: (tool, weight).
ROLE_MIX: dict[str, tuple[tuple[str, int], ...]] = {
    "architect": (("read_file", 45), ("search", 35), ("shell", 10), ("run_tests", 10)),
    "coder": (("read_file", 40), ("search", 25), ("run_tests", 20), ("shell", 15)),
    "tester": (("run_tests", 40), ("read_file", 30), ("search", 15), ("shell", 15)),
    "reviewer": (("read_file", 55), ("search", 25), ("run_tests", 10), ("shell", 10)),
    "security": (("search", 40), ("read_file", 35), ("shell", 20), ("run_tests", 5)),
    "devops": (("shell", 45), ("read_file", 25), ("run_tests", 20), ("search", 10)),
}

MAINTENANCE_TITLES: dict[str, tuple[str, ...]] = {
    "architect": ("review module boundaries", "update the component map", "check interfaces"),
    "coder": ("refactor for clarity", "trace a failing edge case", "tidy imports"),
    "tester": ("run the full test suite", "look for untested branches", "check flaky tests"),
    "reviewer": ("review recent changes", "check docstrings", "read the latest modules"),
    "security": ("audit input handling", "scan for secrets", "check dependency pins"),
    "devops": ("check the CI pipeline", "time the test run", "verify the build"),
}

# Write modes: "replace" (atomic overwrite) or "create" (only if absent).
REPLACE, CREATE = "replace", "create"


@dataclass(frozen=True)
class Step:
    tool: str
    path: str | None = None
    content: str | None = None  # set when the step writes ``path``
    mode: str = REPLACE


@dataclass
class Task:
    seq: int
    id: str
    title: str
    steps: list[Step]
    unit: Unit | None = None
    pos: int = 0
    written: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.pos >= len(self.steps)


def role_key(role: str) -> str:
    key = canonical_role(role)
    return key if key in ROLE_MIX else "coder"


def strip_module_docstring(source: str) -> str:
    """The draft of a module: its text without the leading docstring (still valid Python)."""
    for quote in ('"""', "'''"):
        if source.startswith(quote):
            end = source.find(quote, len(quote))
            if end != -1:
                return source[end + len(quote) :].lstrip("\n")
    return source


def write_mode(unit: Unit, path: str) -> str:
    if path.endswith("__init__.py") or unit.owner != "slot":
        return CREATE
    return REPLACE


def plan_unit_task(
    rng: random.Random, unit: Unit, todo: list[str], context_files: list[str]
) -> list[Step]:
    """Steps writing the files ``todo`` of ``unit`` (in the unit's order)."""
    steps: list[Step] = []
    for path in rng.sample(context_files, min(len(context_files), rng.randint(1, 2))):
        steps.append(Step("read_file", path))
    for _ in range(rng.randint(0, 2)):
        steps.append(Step("search"))
    contents = dict(unit.files)
    for path in todo:
        content = contents[path]
        mode = write_mode(unit, path)
        is_module = path.endswith(".py") and not path.startswith("tests/")
        draft = strip_module_docstring(content) if is_module and mode == REPLACE else content
        if draft != content:
            steps.append(Step("write_file", path, draft, mode))
            steps.append(Step("edit_file", path, content, REPLACE))
        else:
            steps.append(Step("write_file", path, content, mode))
        if path.startswith("tests/"):
            steps.append(Step("run_tests"))
    if unit.kind in ("doc", "config"):
        steps.append(Step("read_file", todo[-1]))
    if rng.random() < 0.5:
        steps.append(Step("shell"))
    return steps


def plan_maintenance_task(
    rng: random.Random, role: str, context_files: list[str]
) -> tuple[str, list[Step]]:
    """A title and the steps of a task that writes nothing."""
    key = role_key(role)
    tools, weights = zip(*ROLE_MIX[key], strict=True)
    steps: list[Step] = []
    for _ in range(rng.randint(3, 9)):
        tool = rng.choices(tools, weights)[0]
        if tool == "read_file" and context_files:
            steps.append(Step(tool, rng.choice(context_files)))
        elif tool == "read_file":
            steps.append(Step("search"))
        else:
            steps.append(Step(tool))
    return rng.choice(MAINTENANCE_TITLES[key]), steps


def tool_duration_ms(rng: random.Random, tool: str) -> int:
    low, high = {
        "read_file": (3, 40),
        "write_file": (4, 45),
        "edit_file": (5, 60),
        "run_tests": (600, 6000),
        "search": (15, 400),
        "shell": (40, 2500),
    }[tool]
    return int(rng.uniform(low, high))
