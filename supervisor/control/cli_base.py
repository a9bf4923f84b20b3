"""What every ``supervisor`` verb module shares: the exit codes, ``fail`` (print the error,
exit with its code), the ``supervisor`` click group and finding a session. The verbs are
in ``cli.py`` (which imports the others so that they register), ``cli_daemon.py`` and
``cli_report.py``; these modules are the only ones that exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from supervisor.errors import SupervisorError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHECKPOINT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def fail(err: SupervisorError | str, code: int | None = None) -> NoReturn:
    msg = str(err)
    click.echo(f"error: {msg}", err=True)
    if code is None:
        code = err.exit_code if isinstance(err, SupervisorError) else EXIT_FAILED
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--test-runs-dir", type=click.Path(path_type=Path), envvar="MEGATEST_TEST_RUNS",
              default="test_runs", show_default=True, help="Where sessions are.")
@click.pass_context
def supervisor(ctx: click.Context, test_runs_dir: Path) -> None:
    """Watch and steer mega-test sessions."""
    ctx.obj = {"test_runs": test_runs_dir}


def runs_dir(ctx: click.Context) -> Path:
    return Path(ctx.obj["test_runs"])


def find_or_fail(ctx: click.Context, ref: str | None, want_running: bool = False) -> Any:
    from supervisor.control.sessions import find_session

    try:
        return find_session(runs_dir(ctx), ref, want_running)
    except SupervisorError as e:
        fail(e)
