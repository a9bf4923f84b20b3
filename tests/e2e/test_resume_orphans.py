"""Descendants of agents that escaped their process group outlive a SIGKILLed supervisor
(no parent-death signal reaches them); `supervisor resume` finds them by the launch
tokens in the journal and stops them before the session goes on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Session, assert_dead, check_resumed, resume, write_config
from tests.integration.conftest import assert_no_session_processes, session_processes

pytestmark = pytest.mark.slow
AGENT = Path(__file__).resolve().parent / "escaping_agent.py"


def test_resume_reaps_escaped_descendants(runs: Path, tmp_path: Path,
                                          sessions: list[Session]) -> None:
    """After the kill the agents are gone but their escaped descendants live on; resume
    stops every one of them (warning on stderr), and the session completes."""
    cfg = write_config(tmp_path / "c.toml",
                       extra=f'[agent]\ncommand = ["{sys.executable}", "{AGENT}"]\n')
    sess = Session(runs, "e2e-orph", cfg, "task_queue", "1", "3", "--time-scale", "480",
                   "--seed", "4")
    sessions.append(sess)
    sess.wait_for(lambda r: r["k"] == "ev" and r["e"]["type"] == "tool_call" and r["t"] > 700,
                  what="development under way")
    killed = sess.kill()
    assert_dead(killed.agents)
    agent_pids = {pid for pid, _ in killed.agents}
    survivors = [p for p in session_processes(killed.root) if p.pid not in agent_pids]
    assert len(survivors) >= len(killed.open_agents()), "no escaped descendant to reap"
    r = resume(runs, "e2e-orph")
    assert "left by the dead supervisor" in r.stderr, r.stderr
    for p in survivors:
        assert not p.is_running() or p.status() == "zombie", p
    check_resumed(killed, r)
    assert_no_session_processes(killed.root)
