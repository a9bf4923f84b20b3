"""Command line: ``run_mega_test`` and ``supervisor``. The only module that exits.

Exit codes (README.md "Exit codes"):
  0   the session completed and every critical criterion passed (other verbs: success)
  1   the session failed, or a critical criterion failed (other verbs: the action failed)
  2   config or usage error (nothing was started or changed)
  3   a checkpoint file is corrupt, of an unknown version, or does not match the session
  130 the session was interrupted: Ctrl+C (SIGINT) or `supervisor stop`; stopped by another
      signal N: 128 + N (SIGTERM: 143). A final checkpoint and a partial report are written.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import click

from supervisor.control.cli_base import (
    EXIT_CHECKPOINT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    find_or_fail,
    runs_dir,
    supervisor,
)
from supervisor.errors import SupervisorError

__all__ = ["EXIT_CHECKPOINT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE",
           "fail", "run_mega_test_main", "supervisor", "supervisor_main"]

# ---------------------------------------------------------------- run_mega_test
@click.command(name="run_mega_test", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("project", required=False)
@click.argument("hours", required=False, type=click.FloatRange(min=0, min_open=True))
@click.argument("agents", required=False, type=click.IntRange(min=1))
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="Session config (TOML). Default: configs/mega_test_config.toml.")
@click.option("--session-id", help="Session id (default: mega-YYYYMMDD-HHMMSS-xxxxxxxx).")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True),
              help="Run N times faster than the wall clock (720: 6 hours in 30 s).")
@click.option("--checkpoint-interval", type=click.FloatRange(min=0, min_open=True),
              help="Minutes between timed checkpoints (also env CHECKPOINT_INTERVAL).")
@click.option("--test-runs-dir", type=click.Path(path_type=Path),
              help="Where sessions go (default: ./test_runs).")
@click.option("--seed", type=int, help="Seed for the simulated agents.")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; launch nothing.")
@click.option("--quiet", "-q", is_flag=True, help="No live view; only the final summary.")
def run_mega_test(project: str | None, hours: float | None, agents: int | None,
                  config_path: Path | None, session_id: str | None, time_scale: float | None,
                  checkpoint_interval: float | None, test_runs_dir: Path | None,
                  seed: int | None, dry_run: bool, quiet: bool) -> None:
    """Run a mega-test session: PROJECT (task_queue, database, microservices) for HOURS
    hours with AGENTS agents. Defaults: task_queue 6 6."""
    from supervisor.config import Overrides, load_config
    from supervisor.plan import render_plan
    from supervisor.session.setup import create_session, resolve_session_id

    overrides = Overrides(
        project_type=project, hours=hours, agents=agents, session_id=session_id,
        time_scale=time_scale, checkpoint_interval_minutes=checkpoint_interval,
        test_runs_dir=str(test_runs_dir) if test_runs_dir else None, seed=seed)
    try:
        cfg = resolve_session_id(load_config(config_path, overrides, os.environ))
        if dry_run:
            click.echo(render_plan(cfg, cfg.session.id))
            click.echo("\ndry run: nothing was started")
            return
        if cfg.control.http_enabled:
            from supervisor.control.http import check_port

            try:
                check_port(cfg.control.http_port, cfg.control.port_fallback)
            except SupervisorError as e:
                fail(e, EXIT_USAGE)  # nothing was created: a usage error
        layout = create_session(cfg)
    except SupervisorError as e:
        fail(e)
    code = _run_session(cfg, layout, quiet=quiet)
    sys.exit(code)


def _run_session(cfg: Any, layout: Any, quiet: bool = False, resume: Any = None) -> int:
    from supervisor import logs
    from supervisor.agents.process import become_subreaper
    from supervisor.clock import Clock
    from supervisor.console import VIEW_KINDS, SessionView
    from supervisor.runner import SessionRunner
    from supervisor.session.lock import SessionLock

    lock = SessionLock(layout)
    try:
        lock.acquire()
    except SupervisorError as e:
        fail(e)
    logs.configure(layout.log, cfg.monitoring.log_level)
    become_subreaper()
    view = SessionView(quiet=quiet)
    click.echo(f"session {layout.session_id} -> {layout.root}"
               f"{' (resumed)' if resume else ''}")
    view.start()
    runner = SessionRunner(cfg, layout, Clock(cfg.session.time_scale), resume=resume)
    runner.publisher.subscribe(view, VIEW_KINDS)
    try:
        code = asyncio.run(runner.run())
    except SupervisorError as e:
        view.stop()
        fail(e)
    finally:
        view.stop()
        logs.close()
        lock.release()
    _print_summary(layout)
    return code


def _print_summary(layout: Any) -> None:
    from supervisor.session.files import read_json

    try:
        rep = read_json(layout.final_report_json)
    except (OSError, ValueError):
        click.echo(f"no final report was written; see {layout.log}")
        return
    tot = rep.get("totals", {})
    code = rep.get("code", {}) or {}
    tests = code.get("tests") or {}
    dur = rep.get("duration", {})
    click.echo(
        f"\n{rep.get('status')}: {dur.get('session_seconds', 0) / 3600:.2f} h session time in "
        f"{dur.get('wall_seconds', 0):.1f} s wall; tokens {tot.get('tokens', 0):,}, "
        f"tool calls {tot.get('tool_calls', 0):,}, tasks {tot.get('tasks_completed', 0):,}, "
        f"errors {tot.get('errors', 0)}, checkpoints {tot.get('checkpoints', 0)}")
    if tests:
        cov = tests.get("coverage")
        click.echo(f"project: {code.get('lines_of_code') or 0:,} LOC, tests {tests.get('passed')} passed"
                   f" / {tests.get('failed')} failed"
                   + (f", coverage {cov:.0%}" if isinstance(cov, (int, float)) else ""))
    click.echo(f"report: {layout.final_report_json}")


def run_mega_test_main() -> None:
    run_mega_test(prog_name="run_mega_test")


# ---------------------------------------------------------------- supervisor
def supervisor_main() -> None:
    supervisor(prog_name="supervisor")


# ---- helpers for verbs
def _send(info: Any, kind: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A command to a live session: over its HTTP API when it serves one (the answer is the
    session's), else by signal (checkpoint: SIGUSR2, stop: SIGINT, reload: SIGHUP)."""
    import signal as _signal

    from supervisor.control.http_client import call_sync, read_control

    if not info.alive:
        fail(f"session {info.session_id} is not running (status {info.effective_status})",
             EXIT_FAILED)
    try:
        ctl = read_control(info.layout.root)
    except SupervisorError:
        ctl = None
    if ctl is not None:
        try:
            status, answer = call_sync(info.layout.root, "POST", f"/api/{kind}", body)
        except SupervisorError as e:
            fail(e)
        if not isinstance(answer, dict):
            answer = {"ok": False, "error": str(answer)}
        answer.setdefault("http_status", status)
        return answer
    # SIGINT for stop: the same exit code (130) as `supervisor stop` over HTTP
    sig = {"checkpoint": _signal.SIGUSR2, "stop": _signal.SIGINT,
           "reload": _signal.SIGHUP}.get(kind)
    if sig is None or info.pid is None or info.pid <= 0:
        fail(f"session {info.session_id} has no control API (http disabled); "
             f"{kind} needs it", EXIT_FAILED)
    try:
        os.kill(info.pid, sig)
    except OSError as e:
        fail(f"cannot signal session {info.session_id} (pid {info.pid}): {e.strerror}",
             EXIT_FAILED)
    return {"ok": True, "sent": _signal.Signals(sig).name}


def _report_answer(answer: dict[str, Any], ok_text: str) -> None:
    if answer.get("ok"):
        click.echo(ok_text)
        return
    fail(str(answer.get("error") or answer), EXIT_FAILED)


# ---------------------------------------------------------------- session verbs
@supervisor.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Sessions with status, phase, progress and age (newest last)."""
    import json as _json

    from rich.console import Console
    from rich.table import Table

    from supervisor.control.sessions import all_sessions
    from supervisor.plan import fmt_duration

    rows = [s.row() for s in all_sessions(runs_dir(ctx))]
    if as_json:
        click.echo(_json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no sessions in {runs_dir(ctx)}")
        return
    t = Table(box=None, header_style="bold")
    for col in ("session", "status", "phase", "progress", "pid", "age"):
        t.add_column(col)
    for r in rows:
        pct = r["progress_percent"]
        pid = str(r["pid"]) if r["pid"] else (f"{r['stale_pid']} (stale)" if r["stale_pid"]
                                               else "-")
        t.add_row(r["session_id"], r["status"], r["phase"] or "-",
                  f"{pct:.1f}%" if isinstance(pct, (int, float)) else "-",
                  pid, fmt_duration(r["age_seconds"]))
    Console().print(t)


@supervisor.command()
@click.argument("session", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print status.json.")
@click.option("--watch", is_flag=True, help="Live view until the session ends (Ctrl+C leaves).")
@click.option("--interval", default=1.0, show_default=True,
              type=click.FloatRange(min=0.2), help="Seconds between refreshes.")
@click.pass_context
def status(ctx: click.Context, session: str | None, as_json: bool, watch: bool,
           interval: float) -> None:
    """Where a session is: phase, progress per phase and overall, ETA, rates, each agent,
    health, last checkpoint, recent errors. A running session is asked (SIGUSR1) first."""
    import json as _json

    from rich.console import Console

    from supervisor.console import status_renderable
    from supervisor.control.watch import watch as watch_session
    from supervisor.control.watch import with_effective

    found = find_or_fail(ctx, session)
    snap = _fresh_status(found)
    if snap is None:
        fail(f"session {found.session_id} has no status.json yet", EXIT_FAILED)
    if as_json and not watch:
        click.echo(_json.dumps(with_effective(found, snap), indent=2))
        return
    console = Console()
    if not watch:
        console.print(status_renderable(with_effective(found, snap)))
        return
    try:
        watch_session(found, console, interval)
    except KeyboardInterrupt:
        pass


def _fresh_status(found: Any) -> dict[str, Any] | None:
    """Ask a live session to rewrite status.json (SIGUSR1), then read it."""
    from supervisor.control.sessions import fresh_status

    return fresh_status(found)


@supervisor.command()
@click.argument("session", required=False)
@click.pass_context
def pause(ctx: click.Context, session: str | None) -> None:
    """Pause a running session (agents held; session time stops)."""
    found = find_or_fail(ctx, session, want_running=True)
    _report_answer(_send(found, "pause"), f"paused {found.session_id}")


@supervisor.command()
@click.argument("session", required=False)
@click.option("--wait", "wait_done", is_flag=True, default=True, hidden=True)
@click.option("--quiet", "-q", is_flag=True, help="No live view when bringing back a dead session.")
@click.pass_context
def resume(ctx: click.Context, session: str | None, wait_done: bool, quiet: bool) -> None:
    """Unpause a running session, or bring back one whose supervisor died."""
    found = find_or_fail(ctx, session)
    if found.alive:
        _report_answer(_send(found, "resume"), f"resumed {found.session_id}")
        return
    if found.status in ("completed", "budget_exhausted"):
        fail(f"session {found.session_id} already ended ({found.status}); "
             "use `supervisor restore --checkpoint FILE` to run part of it again", EXIT_USAGE)
    from supervisor.checkpoint.restore import plan_resume

    try:
        cfg, point, warnings = plan_resume(found.layout)
    except SupervisorError as e:
        fail(e)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    sys.exit(_run_session(cfg, found.layout, quiet=quiet, resume=point))


@supervisor.command()
@click.argument("session", required=False)
@click.pass_context
def stop(ctx: click.Context, session: str | None) -> None:
    """Stop a session gracefully (final checkpoint and report)."""
    found = find_or_fail(ctx, session, want_running=True)
    _report_answer(_send(found, "stop"), f"stopping {found.session_id}")


@supervisor.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("--reason", default="cli", help="Recorded with a forced checkpoint.")
@click.pass_context
def checkpoint(ctx: click.Context, args: tuple[str, ...], reason: str) -> None:
    """Force a checkpoint: `checkpoint [SESSION]`; inspect one: `checkpoint verify FILE`,
    `checkpoint show FILE`."""
    if args and args[0] in ("verify", "show"):
        if len(args) != 2:
            fail(f"usage: supervisor checkpoint {args[0]} FILE", EXIT_USAGE)
        _checkpoint_file(args[0], Path(args[1]))
        return
    if len(args) > 1:
        fail("usage: supervisor checkpoint [SESSION] | verify FILE | show FILE", EXIT_USAGE)
    found = find_or_fail(ctx, args[0] if args else None, want_running=True)
    answer = _send(found, "checkpoint", {"reason": reason})
    ck = answer.get("checkpoint") or {}
    _report_answer(answer, f"checkpoint {ck.get('number', '?')} of {found.session_id}"
                   + (f": {ck.get('path')}" if ck.get("path") else f" requested ({answer.get('sent')})"))


def _checkpoint_file(action: str, path: Path) -> None:
    import json as _json

    from supervisor.checkpoint.inspect import show_checkpoint, verify_checkpoint

    try:
        if action == "verify":
            lines = verify_checkpoint(path)
            for line in lines:
                click.echo(line)
        else:
            click.echo(_json.dumps(show_checkpoint(path), indent=2, default=str))
    except SupervisorError as e:
        fail(e)


@supervisor.command()
@click.argument("session", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.option("--verify", "deep", is_flag=True, help="Also check every stored object.")
@click.pass_context
def checkpoints(ctx: click.Context, session: str | None, as_json: bool, deep: bool) -> None:
    """List a session's checkpoints: number, time, phase, trigger, files, size, duration, valid."""
    import json as _json

    from rich.console import Console
    from rich.table import Table

    from supervisor.checkpoint.inspect import list_checkpoints

    found = find_or_fail(ctx, session)
    rows = list_checkpoints(found.layout, deep)
    if as_json:
        click.echo(_json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"no checkpoints in {found.layout.checkpoints_dir}")
        return
    t = Table(box=None, header_style="bold")
    for col in ("#", "time (UTC)", "phase", "trigger", "files", "size", "ms", "valid"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r["number"]), r["time"] or "-", r["phase"] or "-", r["trigger"] or "-",
                  str(r["files"] if r["files"] is not None else "-"),
                  f"{r['size_bytes'] / 1024:.0f} KiB",
                  f"{r['duration_ms']:.0f}" if r["duration_ms"] is not None else "-",
                  "yes" if r["valid"] else f"NO: {r['error']}")
    Console().print(t)


@supervisor.command()
@click.option("--checkpoint", "checkpoint_file", required=True,
              type=click.Path(path_type=Path), help="checkpoints/checkpoint_NNN.msgpack")
@click.option("--force", is_flag=True, help="Restore even if the config hash does not match.")
@click.option("--quiet", "-q", is_flag=True)
def restore(checkpoint_file: Path, force: bool, quiet: bool) -> None:
    """Roll a session back to a checkpoint (files and state) and run it on to its end."""
    from supervisor.checkpoint.restore import plan_restore

    try:
        layout, cfg, point, warnings = plan_restore(checkpoint_file, force=force)
    except SupervisorError as e:
        fail(e)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"restored {layout.session_id} to {checkpoint_file.name} "
               f"(session time {point.elapsed / 3600:.2f} h; "
               f"checkpoint {point.extra.get('checkpoint')} records the restore)")
    sys.exit(_run_session(cfg, layout, quiet=quiet, resume=point))


@supervisor.command()
@click.argument("session", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the session ends.")
@click.option("--agent", "agent_id", help="That agent's output (its protocol events) instead.")
@click.option("--stderr", "agent_stderr", is_flag=True, help="With --agent: its stderr instead.")
@click.option("--raw", is_flag=True, help="The lines as they are (JSON).")
@click.pass_context
def logs(ctx: click.Context, session: str | None, follow: bool, agent_id: str | None,
         agent_stderr: bool, raw: bool) -> None:
    """Print a session's log (session.log, one readable line per record), or with --agent
    one agent's output; -f follows it until the session ends."""
    from collections.abc import Callable

    from supervisor.control.logview import follow_lines, format_agent_line, format_log_line

    found = find_or_fail(ctx, session)
    fmt: Callable[[str], str] | None
    if agent_id:
        folder = found.layout.agent_dir(agent_id)
        if not folder.is_dir():
            known = sorted(p.name for p in found.layout.agents_dir.glob("*") if p.is_dir())
            fail(f"no agent {agent_id!r} in {found.session_id}"
                 + (f" (agents: {', '.join(known)})" if known else " (no agent has run yet)"),
                 EXIT_USAGE)
        path = folder / ("stderr.log" if agent_stderr else "stdout.log")
        fmt = None if raw or agent_stderr else format_agent_line
    else:
        if agent_stderr:
            fail("--stderr needs --agent ID", EXIT_USAGE)
        path = found.layout.log
        fmt = None if raw else format_log_line
    try:
        for line in follow_lines(path, follow, lambda: _alive(found)):
            click.echo(fmt(line) if fmt else line.rstrip("\n"))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()


def _alive(found: Any) -> bool:
    from supervisor.session.lock import supervisor_pid

    return supervisor_pid(found.layout) is not None


# the verbs defined elsewhere register themselves on ``supervisor`` when imported
from supervisor.control import cli_daemon, cli_report  # noqa: E402,F401
