"""Ignores SIGTERM and keeps running (at most 60 s): only SIGKILL ends it."""

import json
import signal
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: sys.stderr.write("ignoring SIGTERM\n"))
print(json.dumps({"type": "hello", "agent": "ignore_term", "version": "1", "capabilities": []}),
      flush=True)
for _ in range(600):
    time.sleep(0.1)
