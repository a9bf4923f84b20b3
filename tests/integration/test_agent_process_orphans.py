"""Agents never outlive the supervisor: parent-death signal and orphan reaping on resume."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from supervisor.agents.command import LAUNCH_ENV
from supervisor.agents.process import reap_orphans
from tests.integration.conftest import load_fake

FAKE = Path(__file__).resolve().parent / "fake_agents"


_load = load_fake


h = _load("harness")

pytestmark = pytest.mark.timeout(60)




async def _fake_supervisor(tag: str, method: str) -> tuple[int, dict]:
    """Start fake_supervisor.py, return its pid and the agent it spawned."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(FAKE / "fake_supervisor.py"), method,
        stdout=subprocess.PIPE, env=h.env_for(tag, "supervisor"), cwd=FAKE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    return proc.pid, {"proc": proc, **json.loads(line)}


@pytest.mark.parametrize("method", [
    "setpriv",
    "shim",
    pytest.param("none", id="none-control"),
])
def test_agent_dies_when_supervisor_is_sigkilled(tag, method):
    """SIGKILL of the supervisor kills its agent within seconds (and, as a control,
    without a parent-death signal the agent would have survived)."""
    if method == "setpriv" and not shutil.which("setpriv"):
        pytest.skip("setpriv not installed")

    async def go():
        sup_pid, agent = await _fake_supervisor(tag, method)
        cmdline: list[str] = []
        for _ in range(100):  # empty while the launcher is still exec'ing the agent
            cmdline = psutil.Process(agent["pid"]).cmdline()
            if cmdline and cmdline[-1].endswith("silent.py"):
                break
            await asyncio.sleep(0.05)
        os.kill(sup_pid, signal.SIGKILL)
        await agent["proc"].wait()
        dead = await asyncio.to_thread(  # the control only needs to show it lives on
            h.wait_until, lambda: not h.alive(agent["pid"], agent["create_time"]),
            1.0 if method == "none" else 5.0)
        return agent, cmdline, dead

    agent, cmdline, dead = h.run(go())
    assert cmdline[-1].endswith("silent.py")  # the launcher exec'd: the pid is the agent's
    if method == "none":
        assert not dead
        reap_orphans([(agent["pid"], agent["create_time"])])
    else:
        assert dead


def _orphan(tag: str, script: str, *args: str, env: dict | None = None) -> tuple[int, float]:
    """A process leading its own group whose parent (a shell) has exited: an orphan."""
    env = env or h.env_for(tag)
    out = subprocess.run(
        ["sh", "-c", 'setsid "$@" >/dev/null 2>&1 </dev/null & echo $!', "sh",
         *h.argv(script, *args)],
        env=env, capture_output=True, text=True, timeout=10, check=True)
    pid = int(out.stdout.strip())
    assert h.wait_until(lambda: psutil.Process(pid).cmdline()[-1:] == h.argv(script, *args)[-1:]
                        and os.getpgid(pid) == pid, 5)
    return pid, psutil.Process(pid).create_time()


def test_reap_orphans_kills_recorded_process_and_its_children(tag):
    """A recorded (pid, create_time) still alive is killed with its children."""
    pid, ctime = _orphan(tag, "children.py", "2")
    assert h.wait_until(lambda: len(psutil.Process(pid).children()) == 2, 10)
    children = [c.pid for c in psutil.Process(pid).children()]
    killed = reap_orphans([(pid, ctime), (999_999_999, 1.0)])
    assert set(killed) == {pid, *children}
    assert h.wait_until(lambda: not any(h.alive(p) for p in [pid, *children]), 5)


def test_reap_orphans_spares_a_pid_with_another_create_time(tag):
    """A recorded pid whose create time differs is a reused pid: it is left alone."""
    pid, ctime = _orphan(tag, "silent.py")
    assert reap_orphans([(pid, ctime + 5.0), (pid, ctime - 0.5)]) == []
    assert h.alive(pid)
    assert reap_orphans([(pid, ctime)]) == [pid]


def test_reap_orphans_finds_processes_by_launch_token(tag):
    """A process carrying a recorded launch token is killed even if its pid was never seen."""
    env = {**h.env_for(tag), LAUNCH_ENV: "tok-" + tag}
    pid, _ = _orphan(tag, "silent.py", env=env)
    other, other_ctime = _orphan(tag, "silent.py")
    assert reap_orphans([], tokens=["tok-" + tag]) == [pid]
    assert h.alive(other)
    reap_orphans([(other, other_ctime)])
