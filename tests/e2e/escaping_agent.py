"""An agent that first leaves a descendant outside its process group (setsid + double
fork, stdio closed: nothing ties it to the agent), then becomes the simulated agent. The
descendant carries the agent's environment (session id, launch token) and sleeps 60 s at
most, so a test that fails to reap it still ends clean."""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    mid = os.fork()
    if mid == 0:
        os.setsid()
        if os.fork() == 0:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            for _ in range(600):
                time.sleep(0.1)
            os._exit(0)
        os._exit(0)
    os.waitpid(mid, 0)
    os.execv(sys.executable, [sys.executable, "-m", "supervisor.agents.sim"])


if __name__ == "__main__":
    main()
