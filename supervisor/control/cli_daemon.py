"""``supervisor daemon [--schedules FILE] [--detach]`` and ``supervisor daemon
status|stop|reload``: scheduled sessions and crash resume (``supervisor/daemon/``).

Exit codes as in cli.py: 0 done; 1 the action failed (no daemon running, it did not
stop in time); 2 a schedules problem (the daemon does not start; a reload keeps the old
schedules).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from supervisor.clock import monotonic, sleep_real
from supervisor.control.cli_base import EXIT_FAILED, EXIT_USAGE, fail, runs_dir, supervisor
from supervisor.errors import SupervisorError

SCHEDULES_ENV = "MEGATEST_SCHEDULES"


def _schedules_path(given: Path | None) -> Path:
    from supervisor.daemon.schedules import default_schedules_path

    if given is not None:
        return given
    env = os.environ.get(SCHEDULES_ENV)
    return Path(env) if env else default_schedules_path()


@supervisor.group("daemon", invoke_without_command=True)
@click.option("--schedules", "schedules", type=click.Path(path_type=Path),
              help=f"Schedules file (default: ${SCHEDULES_ENV} or configs/schedules.toml).")
@click.option("--detach", is_flag=True, help="Run in the background; print its pid and return.")
@click.pass_context
def daemon(ctx: click.Context, schedules: Path | None, detach: bool) -> None:
    """Run sessions on schedules and resume crashed ones, until SIGTERM
    (`supervisor daemon stop`). Also: `daemon status`, `daemon stop`, `daemon reload`."""
    if ctx.invoked_subcommand is not None:
        if schedules is not None or detach:
            fail("--schedules and --detach go with `supervisor daemon` itself", EXIT_USAGE)
        return
    from supervisor.daemon.launcher import check_schedules
    from supervisor.daemon.pidfile import daemon_pid
    from supervisor.daemon.schedules import load_schedules
    from supervisor.daemon.service import Daemon

    runs = runs_dir(ctx).resolve()
    path = _schedules_path(schedules).resolve()
    pid = daemon_pid(runs)
    if pid is not None:
        fail(f"a daemon already runs for {runs} (pid {pid})", EXIT_FAILED)
    try:  # problems are reported here, before anything starts
        check_schedules(load_schedules(path), runs)
    except SupervisorError as e:
        fail(e)
    if detach:
        _detach(runs, path)
        return
    click.echo(f"daemon for {runs} with {path} (log: {runs / 'daemon.log'})")
    try:
        code = asyncio.run(Daemon(runs, path).run())
    except SupervisorError as e:
        fail(e)
    click.echo("daemon stopped; sessions it started keep running")
    sys.exit(code)


def _detach(runs: Path, path: Path) -> None:
    from supervisor.daemon.launcher import SUPERVISOR_CODE, spawn_detached
    from supervisor.daemon.pidfile import daemon_pid

    argv = [sys.executable, "-c", SUPERVISOR_CODE, "--test-runs-dir", str(runs), "daemon",
            "--schedules", str(path)]
    launched = spawn_detached(argv, runs / "daemon.out")
    deadline = monotonic() + 20.0
    while monotonic() < deadline:
        if daemon_pid(runs) == launched.pid:
            click.echo(f"daemon started (pid {launched.pid}); log: {runs / 'daemon.log'}")
            return
        code = launched.proc.poll()
        if code is not None:
            tail = _tail(launched.out)
            fail(f"the daemon exited at once (code {code}):\n{tail}", code or EXIT_FAILED)
        sleep_real(0.05)
    fail(f"the daemon (pid {launched.pid}) did not take its lock within 20 s; "
         f"see {launched.out}", EXIT_FAILED)


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _live_daemon(ctx: click.Context) -> tuple[Path, int]:
    from supervisor.daemon.pidfile import daemon_pid

    runs = runs_dir(ctx).resolve()
    pid = daemon_pid(runs)
    if pid is None or pid <= 0:
        fail(f"no daemon is running for {runs}", EXIT_FAILED)
    return runs, pid


@daemon.command("stop")
@click.option("--timeout", default=15.0, show_default=True, help="Seconds to wait for it.")
@click.pass_context
def stop_cmd(ctx: click.Context, timeout: float) -> None:
    """SIGTERM the daemon: it exits; the sessions it started keep running."""
    from supervisor.daemon.pidfile import daemon_pid

    runs, pid = _live_daemon(ctx)
    os.kill(pid, signal.SIGTERM)
    deadline = monotonic() + timeout
    while daemon_pid(runs) is not None:
        if monotonic() > deadline:
            fail(f"the daemon (pid {pid}) did not stop within {timeout:g} s", EXIT_FAILED)
        sleep_real(0.05)
    click.echo(f"daemon stopped (pid {pid}); running sessions keep running")


@daemon.command("reload")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for it.")
@click.pass_context
def reload_cmd(ctx: click.Context, timeout: float) -> None:
    """SIGHUP the daemon: it re-reads its schedules (a bad file keeps the old ones)."""
    runs, pid = _live_daemon(ctx)
    before = _reload_info(runs).get("count", 0)
    os.kill(pid, signal.SIGHUP)
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        info = _reload_info(runs)
        if info.get("count", 0) > before:
            if info.get("ok"):
                off = info.get("disabled") or []
                click.echo(f"reloaded: {', '.join(info.get('schedules') or []) or 'no schedules'}"
                           + (f" (disabled: {', '.join(off)})" if off else ""))
                return
            fail(f"reload failed, the daemon keeps its old schedules:\n{info.get('error')}",
                 EXIT_USAGE)
        sleep_real(0.05)
    fail(f"sent SIGHUP to pid {pid}, but it did not report a reload within {timeout:g} s",
         EXIT_FAILED)


def _reload_info(runs: Path) -> dict[str, Any]:
    from supervisor.daemon.state import load_state

    try:
        return load_state(runs).reload
    except SupervisorError:
        return {}


@daemon.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Schedules with their last and next runs, queued runs, running sessions, resumes."""
    import json as _json

    from supervisor.daemon.report import daemon_status, render_status

    runs = runs_dir(ctx).resolve()
    try:
        report = daemon_status(runs)
    except SupervisorError as e:
        fail(e)
    if as_json:
        click.echo(_json.dumps(report, indent=2, default=str))
        return
    render_status(report)
