"""Says hello, complains on stderr, exits 3."""

import json
import sys

print(json.dumps({"type": "hello", "agent": "crash", "version": "1", "capabilities": []}))
sys.stdout.flush()
sys.stderr.write("fatal: boom\n")
sys.exit(3)
