"""``python -m supervisor.agents.sim``: the simulated agent (agent protocol v1).

Exit codes: 0 stopped (stop command, SIGTERM, end of stdin), 1 simulated crash,
2 unusable input (a bad ``MEGATEST_*`` variable or agent config).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .agent import VERSION, SimAgent
from .runtime import Runtime
from .settings import SimInputError, settings_from_env
from .workspace import Workspace

ENVIRONMENT = """\
environment (all optional; set by the supervisor):
  MEGATEST_SESSION_ID, MEGATEST_AGENT_ID, MEGATEST_ROLE, MEGATEST_MODEL
  MEGATEST_PHASE, MEGATEST_PHASE_INDEX, MEGATEST_PHASE_COUNT
  MEGATEST_PHASE_SECONDS   session seconds left in the phase (default 3600)
  MEGATEST_PHASE_ELAPSED   session seconds already spent in the phase (optional)
  MEGATEST_AGENT_INDEX, MEGATEST_AGENT_COUNT   which share of the work is ours
  MEGATEST_PROJECT_DIR     where the project is written (default ./sim-project)
  MEGATEST_PROJECT_TYPE    task_queue | database | microservices
  MEGATEST_PROMPT_FILE     the project prompt (its size seeds the context)
  MEGATEST_RESUME_STATE    JSON file with the data of the last state event
  MEGATEST_TIME_SCALE      session seconds per wall second (default 60)
  MEGATEST_SEED            random seed (default 0)
  MEGATEST_AGENT_CONFIG    agent.toml: [simulation] rates and faults, [limits]

Events go to stdout as JSON lines; commands are read from stdin as JSON lines:
  {"cmd":"quiesce"} {"cmd":"resume"} {"cmd":"switch_model","model":"m"}
  {"cmd":"compress_context"} {"cmd":"throttle","seconds":60} {"cmd":"stop"}
"""


def load_resume(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The resume state in ``path`` (None for no file or an empty one) and a problem note."""
    if not path:
        return None, None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"sim: cannot read resume state {path}: {exc.strerror}; starting fresh"
    if not text.strip():
        return None, None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"sim: resume state {path} is not JSON ({exc}); starting fresh"
    if isinstance(data, dict) and isinstance(data.get("data"), dict) and "schema" not in data:
        data = data["data"]  # a whole state event rather than its data
    if not isinstance(data, dict):
        return None, f"sim: resume state {path} is not a JSON object; starting fresh"
    return data, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m supervisor.agents.sim",
        description="Simulated coding agent speaking agent protocol v1 on stdin/stdout.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=VERSION)
    parser.add_argument("--no-stdin", action="store_true",
                        help="do not read commands (run until SIGTERM/SIGINT)")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_env()
    except SimInputError as exc:
        print(f"sim: {exc}", file=sys.stderr)
        return 2
    resume, problem = load_resume(settings.resume_state)
    prompt_chars = 0
    if settings.prompt_file:
        try:
            prompt_chars = os.path.getsize(settings.prompt_file)
        except OSError:
            pass
    agent = SimAgent(settings, Workspace(settings.project_dir), resume, prompt_chars=prompt_chars)
    if problem:
        agent.stderr.insert(0, problem)
    runtime = Runtime(agent, settings.time_scale, None if args.no_stdin else sys.stdin.buffer,
                      sys.stdout.buffer, sys.stderr)
    return runtime.run()


if __name__ == "__main__":
    sys.exit(main())
