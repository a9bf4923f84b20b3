"""``supervisor status --watch``: follow a session until it ends.

On a terminal, a rich live view redrawn every interval; otherwise (a pipe, a CI log) one
compact line per interval. Either way the loop ends when the session's supervisor is gone,
after showing the final status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live

from supervisor.clock import sleep_real
from supervisor.console import status_renderable
from supervisor.control.sessions import SessionInfo, fresh_status, info
from supervisor.plan import fmt_duration

MIN_INTERVAL = 0.2


def with_effective(found: SessionInfo, snap: dict[str, Any]) -> dict[str, Any]:
    """The snapshot with the status a user should see (``crashed`` for a dead supervisor)."""
    return {**snap, "status": found.effective_status}


def status_text(s: dict[str, Any]) -> str:
    """One line of a snapshot, for logs and pipes."""
    ph = s.get("phase") or {}
    tot = s.get("totals") or {}
    eta = s.get("eta") or {}
    health = (s.get("health") or {}).get("score")
    where = f"phase {int(ph.get('index', 0)) + 1}/{ph.get('of', '?')} {ph.get('name')}" if ph \
        else "no phase yet"
    left = "" if s.get("status") not in ("running", "paused") else \
        f"  ETA {fmt_duration(float(eta.get('wall_seconds_left') or 0))}"
    return (f"{s.get('session_id')} {s.get('status')}  {where}  "
            f"{float(s.get('progress_percent') or 0):.1f}%{left}  "
            f"tokens {tot.get('tokens', 0):,}  tool calls {tot.get('tool_calls', 0):,}  "
            f"errors {tot.get('errors', 0)}  health {health if health is not None else '-'}")


def watch(found: SessionInfo, console: Console, interval: float,
          sleep: Callable[[float], None] = sleep_real) -> dict[str, Any]:
    """Show ``found`` until its supervisor ends; returns the last snapshot shown."""
    interval = max(MIN_INTERVAL, interval)
    cur = found
    snap = with_effective(cur, fresh_status(cur) or {"session_id": cur.session_id})

    def step() -> bool:
        nonlocal cur, snap
        sleep(interval)
        cur = info(found.layout.root)
        got = fresh_status(cur)
        if got is not None:
            snap = with_effective(cur, got)
        return cur.alive

    if console.is_terminal:
        with Live(status_renderable(snap), console=console, refresh_per_second=4) as live:
            while cur.alive:
                step()
                live.update(status_renderable(snap))
        return snap
    console.print(status_text(snap), soft_wrap=True)
    while cur.alive:
        step()
        console.print(status_text(snap), soft_wrap=True)
    console.print(status_renderable(snap))
    return snap
