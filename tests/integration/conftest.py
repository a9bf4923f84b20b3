"""Shared helpers for integration tests: run the CLI as a user would, check no process of
the session survives."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psutil
import pytest

from supervisor.clock import monotonic, sleep_real

REPO = Path(__file__).resolve().parents[2]
FAKE_AGENTS = Path(__file__).resolve().parent / "fake_agents"


def cli(*args: str, cwd: Path | None = None, timeout: float = 120,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m supervisor.control.cli``-style entry points in a subprocess."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("CHECKPOINT_INTERVAL", None) if env is None or "CHECKPOINT_INTERVAL" not in env else None
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO, env=full_env, text=True,
                          capture_output=True, timeout=timeout)


def run_mega_test(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    code = "from supervisor.control.cli import run_mega_test_main; run_mega_test_main()"
    return cli("-c", code, *args, **kw)  # type: ignore[arg-type]


def supervisor_cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    code = "from supervisor.control.cli import supervisor_main; supervisor_main()"
    return cli("-c", code, *args, **kw)  # type: ignore[arg-type]


def session_processes(session_root: Path) -> list[psutil.Process]:
    """Live processes whose environment or command line names the session."""
    found = []
    needle = str(session_root)
    sid = session_root.name
    for p in psutil.process_iter(["pid", "cmdline", "environ", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            env = p.info.get("environ") or {}
            cmd = " ".join(p.info.get("cmdline") or [])
            # the project dir names this very session (ids repeat across concurrent tests)
            in_session = (env.get("MEGATEST_SESSION_ID") == sid
                          and env.get("MEGATEST_PROJECT_DIR", "").startswith(needle))
            if in_session or needle in cmd:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def assert_no_session_processes(session_root: Path, wait: float = 5.0) -> None:
    deadline = monotonic() + wait
    alive = session_processes(session_root)
    while alive and monotonic() < deadline:
        sleep_real(0.1)
        alive = session_processes(session_root)
    assert not alive, "processes of the session still alive: " + "; ".join(
        _describe(p) for p in alive)


def _describe(p: psutil.Process) -> str:
    try:
        return f"{p.pid} ppid {p.ppid()} {' '.join(p.cmdline())[:200]}"
    except psutil.Error:
        return str(p.pid)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "runs"
    d.mkdir()
    yield d


def load_fake(name: str) -> ModuleType:
    """A module of tests/integration/fake_agents/ (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"fake_agents_{name}", FAKE_AGENTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tag() -> Iterator[str]:
    """A tag for the test's processes; none may be alive after the test."""
    harness = load_fake("harness")
    t = harness.new_tag()
    yield t
    assert harness.leftovers(t) == []
