"""Forks a grandchild that keeps stdout open and sleeps, and another that escapes the
process group (setsid + double fork). Prints one line with their pids, then sleeps.
Everything ends by itself after 60 s at most."""

import json
import os
import sys
import time


def sleep_forever() -> None:
    for _ in range(600):
        time.sleep(0.1)
    os._exit(0)


def main() -> None:
    sys.stdout.flush()
    grand = os.fork()
    if grand == 0:
        sleep_forever()  # stays in the group, holds stdout/stderr
    r, w = os.pipe()
    mid = os.fork()
    if mid == 0:
        os.close(r)
        os.setsid()  # leave the agent's group and session
        escaped = os.fork()
        if escaped == 0:
            os.close(w)
            sleep_forever()
        os.write(w, str(escaped).encode())
        os._exit(0)  # the escaped one is orphaned: re-parented to the subreaper
    os.close(w)
    escaped_pid = int(os.read(r, 32).decode())
    os.close(r)
    os.waitpid(mid, 0)
    print(json.dumps({"type": "hello", "agent": "grandchild", "version": "1",
                      "capabilities": [], "grandchild": grand, "escaped": escaped_pid}),
          flush=True)
    sleep_forever()


if __name__ == "__main__":
    main()
