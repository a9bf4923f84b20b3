"""``supervisor report`` and ``supervisor compare``: final reports rebuilt from a session
directory (finished, interrupted, crashed or still running), and sessions side by side.

Registered by one import line at the end of ``cli.py``. Exit codes: 0 done, 1 the report
could not be written, 2 usage (no such session, not a session directory, fewer than two
sessions to compare).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from supervisor.control.cli_base import EXIT_FAILED, EXIT_USAGE, fail, find_or_fail, supervisor
from supervisor.errors import SupervisorError

FINAL_WORDS = ("completed", "failed", "interrupted", "budget_exhausted")


def _status_of(found: Any) -> str:
    """The status word when it is final; else running, or crashed if nobody runs it."""
    return str(found.status if found.status in FINAL_WORDS else found.effective_status)


def _build(found: Any, measure: bool) -> dict[str, Any]:
    from supervisor.report.summary import report_for

    try:
        return report_for(found.layout.root, _status_of(found), measure=measure)
    except SupervisorError as e:
        fail(e)


@supervisor.command("report")
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(["html", "json", "md"]), default="html",
              show_default=True, help="html: final_report.html (and .json); json; md: printed.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write here instead of the session directory (md: instead of stdout).")
@click.option("--no-measure", is_flag=True,
              help="Only what the session recorded: do not run the build and security checks "
                   "a crashed or older session lacks.")
@click.pass_context
def report(ctx: click.Context, session: str, fmt: str, output: Path | None,
           no_measure: bool) -> None:
    """Rebuild SESSION's final report from its directory (journal, metrics, checkpoints)."""
    from supervisor.report.markdown import render_markdown
    from supervisor.session.files import write_json_atomic, write_text_atomic

    found = find_or_fail(ctx, session)
    rep = _build(found, measure=not no_measure)
    layout = found.layout
    written: list[Path] = []
    try:
        if fmt == "md":
            text = render_markdown(rep)
            if output is None:
                click.echo(text)
                return
            write_text_atomic(output, text)
            written.append(output)
        elif fmt == "json":
            path = output or layout.final_report_json
            write_json_atomic(path, rep)
            written.append(path)
        else:
            from supervisor.report.html import write_html

            if output is None:
                write_json_atomic(layout.final_report_json, rep)
                written.append(layout.final_report_json)
            path = output or layout.final_report_html
            write_html(rep, path)
            written.append(path)
    except OSError as e:
        fail(f"cannot write the report: {e}", EXIT_FAILED)
    verdict = rep.get("verdict") or {}
    counts = verdict.get("counts") or {}
    tally = ", ".join(f"{tier} {c.get('pass', 0)}/{c.get('fail', 0)}/{c.get('not_measured', 0)}"
                      for tier, c in counts.items())
    click.echo(f"{found.session_id}: {rep.get('status')}; critical criteria "
               f"{verdict.get('critical')} (pass/fail/not measured: {tally})")
    for path in written:
        click.echo(f"wrote {path}")


@supervisor.command("compare")
@click.argument("sessions", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--measure", is_flag=True,
              help="Run the build and security checks a session did not record.")
@click.pass_context
def compare_cmd(ctx: click.Context, sessions: tuple[str, ...], as_json: bool,
                measure: bool) -> None:
    """Metrics, criteria and efficiency of sessions A B [C ...] side by side, with deltas
    against A."""
    from rich.console import Console

    from supervisor.report.compare import compare, render_tables

    if len(sessions) < 2:
        fail("compare needs at least two sessions: supervisor compare A B [C ...]", EXIT_USAGE)
    reports = [_build(find_or_fail(ctx, ref), measure) for ref in sessions]
    result = compare(reports)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    console = Console(width=max(100, 28 + 30 * len(sessions)), soft_wrap=False)
    for table in render_tables(result):
        console.print(table)
    console.print("* criterion status differs between sessions")
