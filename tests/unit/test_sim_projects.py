"""The simulated agents' project templates, work partition, pacing and workspace."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from supervisor.agents.sim.projects import MODULES, load_project
from supervisor.agents.sim.projects.redis_commands import source_repr
from supervisor.agents.sim.projects.units import (
    agent_units,
    check_catalog,
    stage_of_phase,
    target_done,
)
from supervisor.agents.sim.tasks import strip_module_docstring
from supervisor.agents.sim.workspace import Workspace

ROLES = ["Architect", "Coder", "Tester", "Reviewer", "Security", "DevOps"]


@pytest.mark.parametrize("project_type", sorted(MODULES))
def test_catalog_is_consistent_and_compiles(project_type: str) -> None:
    """No path written by two units, test modules uniquely named, every .py file compiles."""
    catalog = load_project(project_type).catalog()
    assert check_catalog(catalog) == []
    assert len(catalog) > 60
    all_paths = {p for unit in catalog for p in unit.paths}
    for unit in catalog:
        assert set(unit.deps) <= all_paths, unit.key
        for path, text in unit.files:
            if path.endswith(".py"):
                compile(text, path, "exec")
                compile(strip_module_docstring(text), path, "exec")
    lines = sum(len(text.splitlines()) for unit in catalog for _, text in unit.files)
    assert lines > 2500


@pytest.mark.parametrize("project_type", sorted(MODULES))
@pytest.mark.parametrize("count", [1, 3, 6, 8])
def test_agents_never_share_a_file(project_type: str, count: int) -> None:
    """Scaffold and slot units go to exactly one agent; role units only to that role."""
    catalog = load_project(project_type).catalog()
    owners: Counter[str] = Counter()
    for index in range(count):
        role = ROLES[index % len(ROLES)]
        for unit in agent_units(catalog, role, index, count):
            if unit.owner in ("slot", "scaffold"):
                owners.update(p for p in unit.paths if not p.endswith("__init__.py"))
            else:
                assert unit.owner.lower() == role.lower()
    assert owners and max(owners.values()) == 1
    slot_paths = {p for u in catalog if u.owner in ("slot", "scaffold") for p in u.paths
                  if not p.endswith("__init__.py")}
    assert set(owners) == slot_paths


def test_work_lists_put_earlier_stages_first() -> None:
    """An agent's list is ordered by stage; agent 0 starts with the scaffold."""
    catalog = load_project("task_queue").catalog()
    mine = agent_units(catalog, "Architect", 0, 3)
    assert mine[0].key == "scaffold"
    assert [u.stage for u in mine] == sorted(u.stage for u in mine)
    assert any(u.key == "doc.architecture" for u in mine)


def test_stages_and_pacing() -> None:
    """Phases map to stages; the target grows with progress and reaches all at the end."""
    assert [stage_of_phase(i, 4) for i in range(4)] == [0, 1, 2, 3]
    assert [stage_of_phase(i, 2) for i in range(2)] == [0, 3]
    assert stage_of_phase(0, 1) == 3
    targets = [target_done(30, i, 4, p / 10) for i in range(4) for p in range(11)]
    assert targets == sorted(targets)
    assert target_done(30, 0, 4, 0.0) == 0 and target_done(30, 3, 4, 0.8) == 30
    assert target_done(30, 0, 4, 1.0) == 5  # bootstrap is 1 of the 6 hours


def test_generated_values_do_not_depend_on_hash_order() -> None:
    """Sets in generated test modules are written sorted."""
    assert source_repr({b"b", b"a"}) == "{b'a', b'b'}"
    assert source_repr({b"k": {b"z", b"y"}}) == "{b'k': {b'y', b'z'}}"
    assert source_repr(set()) == "set()"


def test_workspace_writes_atomically_and_creates_once(tmp_path: Path) -> None:
    """write replaces whole files, create only makes absent ones; no temp files remain."""
    ws = Workspace(str(tmp_path))
    ws.write("pkg/a.py", "x = 1\n")
    ws.write("pkg/a.py", "x = 2\n")
    assert ws.read("pkg/a.py") == "x = 2\n"
    assert ws.create("pkg/b.py", "y = 1\n") is True
    assert ws.create("pkg/b.py", "y = 2\n") is False
    assert ws.read("pkg/b.py") == "y = 1\n"
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["a.py", "b.py"]


def test_workspace_counts_test_functions(tmp_path: Path) -> None:
    """count_tests counts def test_* in tests/ and follows edits."""
    ws = Workspace(str(tmp_path))
    ws.write("tests/test_a.py", "def test_one():\n    pass\n\n\nasync def test_two():\n    pass\n")
    ws.write("tests/helper.txt", "def test_not_python(): pass\n")
    ws.write("pkg/test_outside.py", "def test_x():\n    pass\n")
    assert ws.count_tests() == 2
    ws.write("tests/test_a.py", "def test_one():\n    pass\n")
    assert ws.count_tests() == 1
