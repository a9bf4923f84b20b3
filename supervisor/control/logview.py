"""Reading session logs for people: one readable line per JSON log record (the session's
structlog lines, an agent's protocol events), and following a file as it grows (like
``tail -f``) until the session ends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from supervisor.clock import sleep_real

SKIP = {"event", "timestamp", "level", "session_id"}


def format_log_line(line: str) -> str:
    try:
        rec = json.loads(line)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(rec, dict):
        return line.rstrip("\n")
    ts = str(rec.get("timestamp", ""))[11:19]
    level = str(rec.get("level", "")).upper()[:5]
    rest = " ".join(f"{k}={v}" for k, v in rec.items() if k not in SKIP and v is not None)
    return f"{ts} {level:<5} {rec.get('event', '')} {rest}".rstrip()


def format_agent_line(line: str) -> str:
    """One line of an agent's ``stdout.log``: a protocol event as ``type key=value ...``;
    anything else (agent output, launch banners) as it is."""
    try:
        rec = json.loads(line)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(rec, dict) or "type" not in rec:
        return line.rstrip("\n")
    rest = " ".join(f"{k}={_short(v)}" for k, v in rec.items() if k != "type" and v is not None)
    return f"{rec['type']} {rest}".rstrip()


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def follow_lines(path: Path, follow: bool, alive: Callable[[], bool],
                 poll: float = 0.25) -> Iterator[str]:
    """Lines of ``path``; with ``follow``, keep yielding new ones while ``alive()``."""
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        if not follow:
            return
        while not path.exists():
            if not alive():
                return
            sleep_real(poll)
        fh = open(path, encoding="utf-8", errors="replace")
    with fh:
        partial = ""
        while True:
            chunk = fh.readline()
            if chunk:
                partial += chunk
                if partial.endswith("\n"):
                    yield partial
                    partial = ""
                continue
            if not follow:
                if partial:
                    yield partial
                return
            if not alive():
                rest = fh.read()
                if rest or partial:
                    yield from (partial + rest).splitlines(keepends=True)
                return
            sleep_real(poll)
