"""Starts N (argv[1], default 3) sleeping children holding ~8 MiB each, prints hello with
their pids, then sleeps (60 s at most)."""

import json
import os
import sys
import time


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    pids = []
    for _ in range(n):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            ballast = bytearray(8 * 1024 * 1024)
            for i in range(0, len(ballast), 4096):
                ballast[i] = 1
            for _ in range(600):
                time.sleep(0.1)
            os._exit(0)
        pids.append(pid)
    time.sleep(0.2)  # let the children touch their memory
    print(json.dumps({"type": "hello", "agent": "children", "version": "1",
                      "capabilities": [], "children": pids}), flush=True)
    for _ in range(600):
        time.sleep(0.1)


if __name__ == "__main__":
    main()
