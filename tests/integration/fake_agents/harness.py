"""Helpers for the integration tests that run the fake agents (imported by file path).

Every process a test starts carries ``MEGATEST_TEST_TAG=<tag>`` in its environment, so
after the test ``leftovers(tag)`` can find (and kill) any that is still alive, however it
escaped: a test passes only if nothing it started outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psutil

from supervisor.agents.command import agent_env

HERE = Path(__file__).resolve().parent
TAG_ENV = "MEGATEST_TEST_TAG"
T = TypeVar("T")


def new_tag() -> str:
    return uuid.uuid4().hex


def argv(script: str, *args: str) -> list[str]:
    return [sys.executable, str(HERE / script), *args]


def env_for(tag: str, agent_id: str = "a1") -> dict[str, str]:
    values = {"session_id": "s-test", "agent_id": agent_id, "role": "Coder",
              "phase": "development", "model": "m", "project_dir": str(HERE),
              "prompt_file": "", "resume_state": ""}
    return agent_env(values, {TAG_ENV: tag})


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run a coroutine with a hard bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def alive(pid: int, create_time: float | None = None) -> bool:
    """True while the process runs (a zombie is dead; ours gets reaped here)."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            return False
        if proc.status() == psutil.STATUS_ZOMBIE:
            if proc.ppid() == os.getpid():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            return False
    except psutil.Error:
        return False
    return True


def wait_until(pred: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    """Poll ``pred`` until true or ``timeout`` wall seconds passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def tagged(tag: str) -> list[psutil.Process]:
    """Living processes whose environment carries this test tag."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TAG_ENV) == tag and alive(proc.pid):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def leftovers(tag: str, settle: float = 2.0) -> list[str]:
    """Describe (then kill) the test's processes still alive after ``settle`` seconds."""
    wait_until(lambda: not tagged(tag), settle)
    left = tagged(tag)
    described = []
    for proc in left:
        with contextlib.suppress(psutil.Error):
            described.append(f"{proc.pid} {' '.join(proc.cmdline())}")
            proc.kill()
    for proc in left:
        wait_until(lambda p=proc: not alive(p.pid), 2.0)  # type: ignore[misc]
    return described
