"""Closes its stdin, says so, then sleeps (60 s at most)."""

import json
import os
import time

os.close(0)
print(json.dumps({"type": "hello", "agent": "closed_stdin", "version": "1", "capabilities": []}),
      flush=True)
for _ in range(600):
    time.sleep(0.1)
