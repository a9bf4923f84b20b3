"""A stand-in supervisor: spawns silent.py through AgentProcess.spawn with the given
parent-death method (argv[1]: auto, setpriv or shim), prints the agent's pid and create
time as JSON, then sleeps until killed (60 s at most)."""

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from supervisor.agents.process import AgentProcess

HERE = Path(__file__).resolve().parent


async def main(method: str) -> None:
    logs = Path(tempfile.mkdtemp(prefix="fake_supervisor_"))
    env = dict(os.environ)
    proc = await AgentProcess.spawn("orphan-to-be", [sys.executable, str(HERE / "silent.py")],
                                    env, HERE, logs, pdeathsig=method)  # type: ignore[arg-type]
    print(json.dumps({"pid": proc.pid, "create_time": proc.create_time}), flush=True)
    await asyncio.sleep(60)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "auto"))
