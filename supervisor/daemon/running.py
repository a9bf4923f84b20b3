"""Which sessions run now: every session in test_runs whose supervisor holds its lock,
plus runs the daemon launched whose process is up but has not taken the lock yet (a
session needs a moment to load its config and create its directory). Capacity counts
them all; ``daemon status`` lists them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from supervisor.control.sessions import SessionInfo, all_sessions
from supervisor.daemon.launcher import process_alive
from supervisor.daemon.state import RunRecord
from supervisor.session.files import read_json


@dataclass(frozen=True)
class Running:
    session_id: str
    agents: int
    info: SessionInfo | None  # None: launched, not up yet
    pid: int | None


def running_sessions(test_runs: Path, runs: list[RunRecord]) -> list[Running]:
    ours = {r.session_id: r for r in runs if r.state == "launched"}
    out: dict[str, Running] = {}
    for s in all_sessions(test_runs):
        if s.alive:
            run = ours.get(s.session_id)
            agents = run.agents if run else session_agents(s.layout.config_json)
            out[s.session_id] = Running(s.session_id, agents, s, s.pid)
    for sid, run in ours.items():
        if sid not in out and process_alive(run.pid, run.create_time):
            out[sid] = Running(sid, run.agents, None, run.pid)
    return list(out.values())


def session_agents(config_json: Path) -> int:
    """The agent count a session was started with (1 when its config cannot be read)."""
    try:
        return int(read_json(config_json)["session"]["agent_count"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1
