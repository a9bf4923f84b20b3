"""How an agent is started: its argv from the config's command template, its environment,
and the parent-death prefix that makes it die with the supervisor.

``render_command`` and ``agent_env`` are pure. ``launch_prefix`` only looks for ``setpriv``.

Parent-death signal (Linux ``PR_SET_PDEATHSIG``): the kernel sends the signal when the
*thread* that forked the child exits, not the whole process. asyncio forks from the
event-loop thread, so an agent dies with the loop's thread: start agents from the thread
that runs the session loop for the whole session, never from a short-lived worker thread.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import signal
import string
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from supervisor.config.schema import PLACEHOLDERS

ENV_PREFIX = "MEGATEST_"
LAUNCH_ENV = "MEGATEST_LAUNCH"  # set by spawn, unique per launch: marks all its processes

# The simulated agent: what an empty ``[agent] command`` means.
SIM_MODULE = "supervisor.agents.sim"

PdeathsigMethod = Literal["auto", "setpriv", "shim", "none"]

# Exec shim for machines without setpriv: set PR_SET_PDEATHSIG, check the parent did not
# already die between fork and prctl (then the signal would never come), exec the agent.
# argv: python -I -S -c SHIM <supervisor pid> <agent argv...>
PDEATHSIG_SHIM = (
    "import ctypes,os,signal,sys\n"
    "libc=ctypes.CDLL(None,use_errno=True)\n"
    "if libc.prctl(1,int(signal.SIGKILL),0,0,0)!=0:\n"
    " sys.stderr.write('pdeathsig shim: prctl failed: %s\\n'%os.strerror(ctypes.get_errno()))\n"
    "if os.getppid()!=int(sys.argv[1]):\n"
    " os._exit(125)\n"
    "try:\n"
    " os.execvp(sys.argv[2],sys.argv[2:])\n"
    "except OSError as e:\n"
    " sys.stderr.write('cannot start %r: %s\\n'%(sys.argv[2],e.strerror))\n"
    " os._exit(127)\n"
)

PR_SET_CHILD_SUBREAPER = 36

_ENV_NAME_BAD = re.compile(r"[^A-Za-z0-9_]")


def sim_command() -> list[str]:
    """The simulated agent's argv, run by the supervisor's own interpreter."""
    return [sys.executable, "-m", SIM_MODULE]


def template_problems(template: Sequence[str]) -> list[str]:
    """Every problem with a command template (unknown or malformed placeholders), as text.

    Meant for config validation: an empty list means ``render_command`` can render it.
    """
    problems: list[str] = []
    for i, arg in enumerate(template):
        try:
            fields = list(string.Formatter().parse(arg))
        except ValueError as exc:
            problems.append(f"command[{i}] {arg!r}: {exc} (write {{{{ and }}}} for braces)")
            continue
        for _literal, name, spec, conv in fields:
            if name is None:
                continue
            if name not in PLACEHOLDERS:
                known = " ".join("{" + p + "}" for p in PLACEHOLDERS)
                problems.append(
                    f"command[{i}] {arg!r}: unknown placeholder {{{name}}}; known: {known}"
                )
            elif spec or conv:
                problems.append(
                    f"command[{i}] {arg!r}: placeholder {{{name}}} takes no format spec"
                    " or conversion"
                )
    return problems


def render_command(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Fill the placeholders of a command template. Empty template: the simulated agent.

    Raises ValueError naming the argument and the placeholder when the template uses an
    unknown placeholder, is malformed, or a placeholder it uses has no value.
    """
    if not template:
        return sim_command()
    problems = template_problems(template)
    if problems:
        raise ValueError("; ".join(problems))
    argv: list[str] = []
    for i, arg in enumerate(template):
        parts: list[str] = []
        for literal, name, _spec, _conv in string.Formatter().parse(arg):
            parts.append(literal)
            if name is None:
                continue
            if name not in values:
                raise ValueError(f"command[{i}] {arg!r}: no value for placeholder {{{name}}}")
            parts.append(str(values[name]))
        argv.append("".join(parts))
    return argv


def env_name(name: str) -> str:
    """``agent_id`` -> ``MEGATEST_AGENT_ID`` (characters a shell would reject become ``_``)."""
    return ENV_PREFIX + _ENV_NAME_BAD.sub("_", name).upper()


def agent_env(
    values: Mapping[str, str],
    extra_env: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    base_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The agent's environment: ``base_env`` (default: ours), the config's extra variables,
    then ``MEGATEST_<NAME>`` for every value. The supervisor's values win over both,
    so an agent can always trust its ``MEGATEST_AGENT_ID`` and friends."""
    env = dict(os.environ if base_env is None else base_env)
    pairs = extra_env.items() if isinstance(extra_env, Mapping) else extra_env
    for key, val in pairs:
        env[str(key)] = str(val)
    for name, val in values.items():
        env[env_name(name)] = str(val)
    return env


def launch_prefix(method: PdeathsigMethod = "auto", supervisor_pid: int | None = None) -> list[str]:
    """The argv to put before an agent's argv so it gets SIGKILL when the supervisor dies.

    ``auto``: ``setpriv --pdeathsig KILL --`` when setpriv exists (it execs, so the pid
    stays the agent's), else the Python exec shim. ``none``: no protection (tests only).
    """
    if method == "none":
        return []
    setpriv = shutil.which("setpriv") if method in ("auto", "setpriv") else None
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"]
    if method == "setpriv":
        raise OSError(errno.ENOENT, "setpriv not found (needed for the parent-death signal)")
    pid = os.getpid() if supervisor_pid is None else supervisor_pid
    return [sys.executable, "-I", "-S", "-c", PDEATHSIG_SHIM, str(pid)]


def describe_exit(returncode: int | None) -> str:
    """``0`` -> "exit 0", ``-9`` -> "killed by SIGKILL", ``-15`` -> "terminated by SIGTERM"."""
    if returncode is None:
        return "running"
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    polite = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    verb = "terminated" if -returncode in {int(s) for s in polite} else "killed"
    return f"{verb} by {name}"


def check_startable(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
    """Raise OSError (errno, strerror, filename) if argv[0] cannot be exec'd from cwd."""
    if not argv:
        raise OSError(errno.ENOENT, "empty command")
    if not cwd.is_dir():
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), f"working directory {cwd}")
    exe = argv[0]
    found = str(cwd / exe) if "/" in exe else shutil.which(exe, path=env.get("PATH", os.defpath))
    if found is None:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
    path = found
    if not os.path.exists(path):
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux). Call once, early.

    Descendants that escape an agent's group (setsid + double fork) are then re-parented
    here instead of to init, so ``sweep`` can find and kill them. False if unsupported.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
