"""Speaks a little of the protocol: hello, then answers ``quiesce`` with ``quiesced``,
``resume`` with a heartbeat, exits 0 on ``stop`` or at end of stdin."""

import json
import sys


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


emit({"type": "hello", "agent": "echo", "version": "1", "capabilities": ["quiesce"]})
for line in sys.stdin:
    try:
        cmd = json.loads(line)
    except ValueError:
        emit({"type": "error", "kind": "parse_failure", "message": line.strip()[:100]})
        continue
    kind = cmd.get("type") if isinstance(cmd, dict) else None
    if kind == "quiesce":
        emit({"type": "quiesced"})
    elif kind == "resume":
        emit({"type": "heartbeat"})
    elif kind == "stop":
        break
sys.exit(0)
