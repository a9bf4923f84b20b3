"""Resolving a schedule's session config, and starting session and resume processes.

A launched process is detached: its own session and process group
(``start_new_session=True``), stdin from /dev/null, stdout and stderr to a file in
``<test_runs>/daemon-sessions/``, and no parent-death signal, so it outlives the daemon
(a daemon restart must not end a 12-hour run). The daemon still reaps the ones it started
while it lives.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import tomli_w

import supervisor
from supervisor.config import Overrides, default_config_path, load_config
from supervisor.config.loader import CLI_SOURCE
from supervisor.config.schema import Config
from supervisor.config.toml_lines import line_of, read_toml
from supervisor.daemon.schedules import DaemonSpec, ScheduleSpec
from supervisor.errors import ConfigError, Problem

RUN_CODE = "from supervisor.control.cli import run_mega_test_main; run_mega_test_main()"
SUPERVISOR_CODE = "from supervisor.control.cli import supervisor_main; supervisor_main()"
OUT_DIR = "daemon-sessions"


@dataclass(frozen=True)
class ResolvedRun:
    """A schedule's session, ready to start: the config file and the command-line values."""

    schedule: str
    config_path: Path  # the file handed to run_mega_test (merged with settings, if any)
    settings_data: dict[str, Any] | None  # the merged config, when the schedule has settings
    overrides: Overrides
    agents: int


def out_dir(test_runs: Path) -> Path:
    return Path(test_runs) / OUT_DIR


def base_config(spec: ScheduleSpec, daemon: DaemonSpec) -> Path:
    return Path(spec.config or daemon.config or default_config_path())


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: tables merge key by key; anything else is replaced."""
    out = dict(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(
            out.get(k), dict) else v
    return out


def _overrides(spec: ScheduleSpec, file_cfg: Config, test_runs: Path) -> Overrides:
    o = spec.overrides
    positional = o.project is not None or o.hours is not None or o.agents is not None
    s = file_cfg.session
    return Overrides(
        project_type=(o.project or s.project_type) if positional else None,
        hours=(o.hours or s.duration_hours) if positional else None,
        agents=(o.agents or s.agent_count) if positional else None,
        time_scale=o.time_scale, seed=o.seed, checkpoint_interval_minutes=o.checkpoint_interval,
        test_runs_dir=str(test_runs))


def resolve_run(spec: ScheduleSpec, daemon: DaemonSpec, test_runs: Path,
                scratch: Path | None = None) -> tuple[ResolvedRun, Config]:
    """Load the schedule's session config as the session will; problems name the schedule."""
    base = base_config(spec, daemon)
    merged: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="megatest-schedule-") as tmp:
        path = base
        if spec.settings:
            data, _ = _read_base(base, spec, daemon)
            merged = deep_merge(data, spec.settings)
            path = (scratch or Path(tmp)) / f"{spec.name}.config.toml"
            path.write_text(tomli_w.dumps(merged), encoding="utf-8")
        try:
            plain = load_config(path, Overrides(test_runs_dir=str(test_runs)))
            over = _overrides(spec, plain, test_runs)
            cfg = load_config(path, over)
        except ConfigError as e:
            raise ConfigError(_attribute(e.problems, spec, daemon, path, base)) from None
    return ResolvedRun(spec.name, base if merged is None else path, merged, over,
                       cfg.session.agent_count), cfg


def _read_base(base: Path, spec: ScheduleSpec, daemon: DaemonSpec) -> tuple[dict[str, Any],
                                                                              dict[str, int]]:
    try:
        return read_toml(base, base.name)
    except ConfigError as e:
        raise ConfigError(_attribute(e.problems, spec, daemon, base, base)) from None


def _attribute(problems: list[Problem], spec: ScheduleSpec, daemon: DaemonSpec, path: Path,
               base: Path) -> list[Problem]:
    """Problems of a merged config point at the schedule's settings or at the base file;
    problems of the command-line values point at the schedule."""
    here = f"schedules.{spec.name}"
    out: list[Problem] = []
    for p in problems:
        if p.source == CLI_SOURCE:
            out.append(Problem(daemon.source, here, f"{p.key}: {p.message}", spec.line))
        elif p.source == path.name and path != base:
            if _in_settings(spec.settings, p.key):
                key = f"{here}.settings.{p.key}"
                out.append(Problem(daemon.source, key, p.message,
                                   line_of(spec.settings_lines, key) or spec.line))
            else:
                out.append(Problem(base.name, p.key, f"{p.message} (config of {here})"))
        elif p.source == base.name:
            out.append(Problem(p.source, p.key, f"{p.message} (config of {here})", p.line))
        else:
            out.append(p)
    return out


def _in_settings(settings: dict[str, Any], key: str) -> bool:
    node: Any = settings
    for part in key.replace("[", ".[").split("."):
        if not isinstance(node, dict) or part.startswith("["):
            return node is not settings
        if part not in node:
            return False
        node = node[part]
    return True


def check_schedules(daemon: DaemonSpec, test_runs: Path) -> dict[str, int]:
    """Resolve every schedule's session config now (not a week later): agents per schedule.
    Every problem of every schedule in one ConfigError."""
    problems: list[Problem] = []
    agents: dict[str, int] = {}
    for spec in daemon.schedules:
        try:
            run, _ = resolve_run(spec, daemon, test_runs)
        except ConfigError as e:
            problems += e.problems
            continue
        agents[spec.name] = run.agents
        if run.agents > daemon.capacity.max_agents:
            problems.append(Problem(daemon.source, f"schedules.{spec.name}",
                                    f"its session has {run.agents} agents, more than "
                                    f"capacity.max_agents ({daemon.capacity.max_agents}): "
                                    "it could never start", spec.line))
    if problems:
        raise ConfigError(problems)
    return agents


# ---------------------------------------------------------------- processes
def session_argv(run: ResolvedRun, session_id: str) -> list[str]:
    o = run.overrides
    argv = [sys.executable, "-c", RUN_CODE]
    if o.project_type is not None:
        argv += [o.project_type, repr(float(o.hours or 0)), str(o.agents)]
    argv += ["--config", str(run.config_path), "--session-id", session_id,
             "--test-runs-dir", str(o.test_runs_dir), "--quiet"]
    if o.time_scale is not None:
        argv += ["--time-scale", repr(o.time_scale)]
    if o.seed is not None:
        argv += ["--seed", str(o.seed)]
    if o.checkpoint_interval_minutes is not None:
        argv += ["--checkpoint-interval", repr(o.checkpoint_interval_minutes)]
    return argv


def resume_argv(test_runs: Path, session_id: str) -> list[str]:
    return [sys.executable, "-c", SUPERVISOR_CODE, "--test-runs-dir", str(test_runs),
            "resume", session_id, "--quiet"]


@dataclass
class Launched:
    proc: subprocess.Popen[bytes]
    create_time: float
    out: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def spawn_detached(argv: list[str], out: Path, cwd: Path | None = None) -> Launched:
    """Start ``argv`` in a new session (no parent-death signal), output to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    pkg_root = str(Path(supervisor.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
    with open(out, "ab") as fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True, cwd=cwd, env=env)
    create = 0.0
    with contextlib.suppress(psutil.Error):
        create = psutil.Process(proc.pid).create_time()
    return Launched(proc, create, out)


def launch_session(run: ResolvedRun, session_id: str, test_runs: Path) -> Launched:
    """Start ``run_mega_test`` for a scheduled run (writing its merged config first)."""
    out = out_dir(test_runs)
    out.mkdir(parents=True, exist_ok=True)
    if run.settings_data is not None:
        path = out / f"{session_id}.config.toml"
        path.write_text(tomli_w.dumps(run.settings_data), encoding="utf-8")
        run = ResolvedRun(run.schedule, path, run.settings_data, run.overrides, run.agents)
    return spawn_detached(session_argv(run, session_id), out / f"{session_id}.out")


def launch_resume(test_runs: Path, session_id: str, attempt: int) -> Launched:
    """Start ``supervisor resume SESSION --quiet`` detached."""
    out = out_dir(test_runs) / f"{session_id}.resume-{attempt}.out"
    return spawn_detached(resume_argv(test_runs, session_id), out)


def process_alive(pid: int | None, create_time: float | None) -> bool:
    """Whether the process we started (same pid AND start time) still runs."""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if create_time and abs(p.create_time() - create_time) > 0.5:
            return False
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
