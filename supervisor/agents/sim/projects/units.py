"""Units of work and who does which, when. Pure: no I/O.

A *unit* is a small piece of the project (a module and its test module, a document, a
CI file) written by one agent. Ownership keeps agents apart:

- ``owner="slot"``: code units are dealt round-robin over agent indexes, so two agents of
  one phase never touch the same file; an agent of a later phase with the same index
  carries on where the files on disk say its predecessor stopped.
- ``owner="scaffold"``: the shared files (package ``__init__``, README, pyproject) belong
  to agent index 0.
- ``owner=<role>``: role work (architecture notes, CI, security docs, property tests) is
  created only if absent, so two agents of one role never both write it.

Stages gate units to the part of the session they belong to (0 bootstrap, 1 development,
2 refinement, 3 finalization); pacing spreads an agent's units over the phases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STAGES = ("bootstrap", "development", "refinement", "finalization")
STAGE_WEIGHTS = (1.0, 2.0, 2.0, 1.0)  # the seed plan: 1h, 2h, 2h, 1h
WORK_FRACTION = 0.8  # an agent plans to finish a phase's units by 80% of the phase


@dataclass(frozen=True)
class Unit:
    key: str
    title: str
    kind: str  # "code", "test", "doc", "config"
    stage: int
    files: tuple[tuple[str, str], ...]  # (relative path, content), in write order
    owner: str = "slot"
    deps: tuple[str, ...] = ()  # relative paths that must exist before this unit
    summary: str = ""  # a fact for the shared memory

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.files)


def canonical_role(role: str) -> str:
    return role.strip().lower()


def stage_of_phase(phase_index: int, phase_count: int) -> int:
    """Map a phase position to a stage; the last phase is always finalization."""
    if phase_count <= 1 or phase_index >= phase_count - 1:
        return 3
    return min(2, phase_index * 4 // phase_count)


def agent_units(
    catalog: list[Unit], role: str, agent_index: int, agent_count: int
) -> list[Unit]:
    """The ordered work list of one agent: its scaffold, role units and slot units."""
    role_key = canonical_role(role)
    count = max(1, agent_count)
    slot = agent_index % count
    mine: list[tuple[int, int, int, Unit]] = []
    slot_seq = 0
    for position, unit in enumerate(catalog):
        if unit.owner == "slot":
            owned = slot_seq % count == slot
            slot_seq += 1
            rank = 2
        elif unit.owner == "scaffold":
            owned, rank = agent_index == 0, 0
        else:
            owned, rank = canonical_role(unit.owner) == role_key, 1
        if owned:
            mine.append((unit.stage, rank, position, unit))
    mine.sort(key=lambda item: item[:3])
    return [unit for *_, unit in mine]


def target_done(total: int, phase_index: int, phase_count: int, progress: float) -> int:
    """How many of ``total`` units an agent should have finished at ``progress`` (0..1)."""
    count = max(1, phase_count)
    weights = [STAGE_WEIGHTS[stage_of_phase(i, count)] for i in range(count)]
    before = sum(weights[: min(phase_index, count)])
    within = weights[min(phase_index, count - 1)] * min(1.0, max(0.0, progress) / WORK_FRACTION)
    fraction = (before + within) / sum(weights)
    return min(total, math.ceil(total * fraction - 1e-9))


def check_catalog(catalog: list[Unit]) -> list[str]:
    """Problems in a catalog: duplicate keys or paths, test modules with the same name."""
    problems: list[str] = []
    keys: set[str] = set()
    paths: set[str] = set()
    test_names: set[str] = set()
    for unit in catalog:
        if unit.key in keys:
            problems.append(f"duplicate unit key {unit.key}")
        keys.add(unit.key)
        for path in unit.paths:
            if path in paths and not path.endswith("__init__.py"):
                problems.append(f"{unit.key}: {path} written by two units")
            paths.add(path)
            name = path.rsplit("/", 1)[-1]
            if path.startswith("tests/") and name.endswith(".py"):
                if name in test_names:
                    problems.append(f"{unit.key}: test module name {name} used twice")
                test_names.add(name)
    return problems
