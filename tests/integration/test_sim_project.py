"""Several simulated agents build one project over four phases; its tests then pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.clock import sleep_real

REPO = Path(__file__).resolve().parents[2]
ROLES = ("Architect", "Coder", "Tester")
PHASES = ("bootstrap", "development", "refinement", "finalization")
SCALE = 7200.0  # one session hour per phase = 0.5 wall seconds


def run_phase(project: Path, project_type: str, index: int, states: Path,
              snapshot: Path | None = None) -> dict[str, list[dict]]:
    """Start one agent per role, let the phase run, stop them; their events by agent id.

    With ``snapshot``, halfway through all agents are quiesced (as for a checkpoint), the
    project is copied there, and they resume.
    """
    procs = {}
    for slot, role in enumerate(ROLES):
        agent_id = f"{role.lower()}-1"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEGATEST_")}
        env.update({
            "MEGATEST_AGENT_ID": agent_id, "MEGATEST_ROLE": role, "MEGATEST_PHASE": PHASES[index],
            "MEGATEST_PHASE_INDEX": str(index), "MEGATEST_PHASE_COUNT": str(len(PHASES)),
            "MEGATEST_PROJECT_DIR": str(project), "MEGATEST_PROJECT_TYPE": project_type,
            "MEGATEST_TIME_SCALE": str(SCALE), "MEGATEST_SEED": "21",
            "MEGATEST_PHASE_SECONDS": "3600", "MEGATEST_AGENT_INDEX": str(slot),
            "MEGATEST_AGENT_COUNT": str(len(ROLES)),
            "MEGATEST_RESUME_STATE": str(states / f"{agent_id}.json"),
        })
        procs[agent_id] = subprocess.Popen(
            [sys.executable, "-m", "supervisor.agents.sim"], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    early: dict[str, list[bytes]] = {agent_id: [] for agent_id in procs}
    if snapshot is not None:
        sleep_real(3600 / SCALE / 2 + 0.3)
        for proc in procs.values():
            send(proc, b'{"cmd":"quiesce"}\n')
        for agent_id, proc in procs.items():
            assert proc.stdout is not None
            while not early[agent_id] or b'"quiesced"' not in early[agent_id][-1]:
                line = proc.stdout.readline()
                assert line, f"{agent_id} exited before quiescing"
                early[agent_id].append(line)
        shutil.copytree(project, snapshot)
        for proc in procs.values():
            send(proc, b'{"cmd":"resume"}\n')
        sleep_real(3600 / SCALE / 2)
    else:
        sleep_real(3600 / SCALE + 0.3)  # the phase, plus the agents' start-up
    events = {}
    for agent_id, proc in procs.items():
        out, err = proc.communicate(b'{"cmd":"stop"}\n', timeout=20)
        assert proc.returncode == 0, err.decode()
        lines = [json.loads(line) for line in b"".join(early[agent_id]).splitlines() + out.splitlines()]
        assert lines[0]["type"] == "hello" and lines[-1]["type"] == "state"
        (states / f"{agent_id}.json").write_text(json.dumps(lines[-1]["data"]))
        events[agent_id] = lines
    return events


def send(proc: subprocess.Popen[bytes], line: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line)
    proc.stdin.flush()


def run_pytest(project: Path) -> int:
    """Run the project's tests; the number passed (the run must succeed)."""
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=project, capture_output=True, text=True, timeout=120)
    assert tests.returncode == 0, tests.stdout[-2000:] + tests.stderr[-2000:]
    summary = tests.stdout.strip().splitlines()[-1]
    return int(summary.split(" passed")[0].split()[-1])


@pytest.mark.parametrize("project_type", ["task_queue", "database", "microservices"])
def test_three_agents_build_a_passing_project(tmp_path: Path, project_type: str) -> None:
    """3 roles x 4 phases into one project: files are disjoint per agent and pytest passes,
    both at a quiesced point mid-development and at the end."""
    project, states = tmp_path / "project", tmp_path / "states"
    project.mkdir()
    states.mkdir()
    writers: dict[str, set[str]] = {}
    for index in range(len(PHASES)):
        snapshot = tmp_path / "snapshot" if index == 1 else None
        for agent_id, lines in run_phase(project, project_type, index, states, snapshot).items():
            writers.setdefault(agent_id, set()).update(
                e["path"] for e in lines if e["type"] == "tool_call" and e["ok"]
                and e["name"] in ("write_file", "edit_file") and not e["path"].endswith("__init__.py"))
    ids = list(writers)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            assert not writers[a] & writers[b], f"{a} and {b} both wrote {writers[a] & writers[b]}"
    assert (project / "pyproject.toml").exists() and (project / "docs/ARCHITECTURE.md").exists()
    midway = run_pytest(tmp_path / "snapshot")
    assert run_pytest(project) > max(50, midway) > 0
