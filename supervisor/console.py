"""The console while a session runs: a compact rich live view on a terminal, plain lines
otherwise (CI logs, pipes): phase, progress, ETA, tokens, tool calls, agents."""

from __future__ import annotations

import sys
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from supervisor.plan import fmt_duration


def status_renderable(s: dict[str, Any]) -> Any:
    """A rich renderable of a status snapshot (also used by `supervisor status`)."""
    ph = s.get("phase") or {}
    pct = float(s.get("progress_percent") or 0.0)
    tot = s.get("totals") or {}
    eta = (s.get("eta") or {})
    head = Text.assemble(
        (f"{s.get('session_id')}  ", "bold"),
        (f"[{s.get('status')}]  ", "cyan" if s.get("status") == "running" else "yellow"),
        f"phase {int(ph.get('index', 0)) + 1}/{ph.get('of', '?')} {ph.get('name', '-')}  "
        if ph else "",
        f"{pct:5.1f}%  ",
        f"session {fmt_duration(s.get('elapsed_seconds') or 0)}"
        f"/{fmt_duration(s.get('planned_seconds') or 0)}  ",
        f"ETA {fmt_duration(eta.get('wall_seconds_left') or 0)} wall",
    )
    bar = ProgressBar(total=100, completed=pct, width=60)
    health = (s.get("health") or {}).get("score")
    line2 = Text(
        f"tokens {tot.get('tokens', 0):,} ({s.get('tokens_per_minute') or 0:,.0f}/min)  "
        f"tool calls {tot.get('tool_calls', 0):,}  tasks {tot.get('tasks_completed', 0):,}  "
        f"errors {tot.get('errors', 0)}  checkpoints {tot.get('checkpoints', 0)}  "
        f"LOC {s.get('lines_of_code') or 0:,}  health {health if health is not None else '-'}"
    )
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold dim")
    for col in ("agent", "state", "model", "tokens", "tools", "tasks", "err", "util", "cpu%", "rss"):
        table.add_column(col, justify="right" if col not in ("agent", "state", "model") else "left")
    for a in s.get("agents") or []:
        rss = a.get("rss_bytes")
        table.add_row(
            str(a.get("id")), str(a.get("state")), str(a.get("model") or "-"),
            f"{a.get('tokens', 0):,}", f"{a.get('tool_calls', 0):,}",
            str(a.get("tasks_completed", 0)), str(a.get("errors", 0)),
            f"{100 * float(a.get('utilization') or 0):.0f}%",
            f"{a.get('cpu_percent', 0) or 0:.0f}", f"{rss / 2**20:.0f}M" if rss else "-",
        )
    parts: list[Any] = [head, bar, line2, table]
    errs = s.get("recent_errors") or []
    if errs:
        e = errs[-1]
        parts.append(Text(f"last error: {e.get('agent')} {e.get('kind')}: {e.get('message')}",
                          style="red"))
    return Group(*parts)


class SessionView:
    """Live view on a TTY; plain progress lines (every 10%) and events otherwise."""

    def __init__(self, stream: IO[str] | None = None, live: bool | None = None, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live_mode = self.stream.isatty() if live is None else live
        self.console = Console(file=self.stream, highlight=False)
        self._live: Live | None = None
        self._last: dict[str, Any] = {}
        self._printed_decile = -1

    def start(self) -> None:
        if self.live_mode and not self.quiet:
            self._live = Live(console=self.console, refresh_per_second=4,
                              get_renderable=self._render, transient=False)
            self._live.start()

    def _render(self) -> Any:
        return status_renderable(self._last) if self._last else Text("starting...")

    def update(self, snapshot: dict[str, Any]) -> None:
        self._last = snapshot
        if self._live is None and not self.quiet:
            decile = int(float(snapshot.get("progress_percent") or 0) // 10)
            if decile > self._printed_decile:
                self._printed_decile = decile
                tot = snapshot.get("totals") or {}
                ph = snapshot.get("phase") or {}
                self._line(f"{snapshot.get('progress_percent', 0):5.1f}%  phase {ph.get('name', '-')}"
                           f"  tokens {tot.get('tokens', 0):,}  tool calls {tot.get('tool_calls', 0):,}"
                           f"  tasks {tot.get('tasks_completed', 0):,}  errors {tot.get('errors', 0)}")

    def event(self, text: str) -> None:
        if self.quiet:
            return
        if self._live is not None:
            self._live.console.print(Text(text, style="dim"))
        else:
            self._line(text)

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def finished(self, snapshot: dict[str, Any]) -> None:
        self._last = snapshot
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
            self._live = None

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
