"""The console while a session runs: a compact rich live view on a terminal, plain lines
otherwise (CI logs, pipes): phase, progress, ETA, tokens, tool calls, agents."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from supervisor.plan import fmt_duration
from supervisor.session.publisher import EVENT, FINISHED, STATUS, Update

STATUS_STYLE = {"running": "bold green", "paused": "bold yellow", "recovering": "bold magenta",
                "completed": "bold cyan", "failed": "bold red", "crashed": "bold red",
                "interrupted": "bold yellow", "budget_exhausted": "bold red"}


BAR = 30  # width of the progress bars


def _bar(fraction: float, width: int, style: str = "green") -> ProgressBar:
    return ProgressBar(total=1000, completed=round(1000 * max(0.0, min(1.0, fraction))),
                       width=width, complete_style=style, finished_style=style)


def _clock(wall: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall)) if wall else "-"


def _eta_text(s: dict[str, Any]) -> str:
    status = str(s.get("status"))
    if status not in ("running", "paused", "recovering", "starting"):
        return ""
    e = s.get("eta") or {}
    left = fmt_duration(float(e.get("wall_seconds_left") or 0.0))
    if e.get("on_hold") or s.get("paused"):
        return f"ETA on hold (paused; {left} wall left after resume)"
    return f"ETA {left} wall (about {_clock(e.get('finish_wall'))})"


def _head(s: dict[str, Any]) -> Text:
    status = str(s.get("status") or "?")
    head = Text.assemble((f"{s.get('session_id')}  ", "bold"),
                         (f" {status.upper()} ", f"reverse {STATUS_STYLE.get(status, 'bold')}"))
    scale = s.get("time_scale")
    bits = [str(s.get("project_type") or "")]
    if isinstance(scale, (int, float)) and scale != 1:
        bits.append(f"time x{scale:g}")
    if s.get("pid"):
        bits.append(f"pid {s.get('pid')}")
    bits.append(f"updated {_clock(s.get('updated_wall'))}")
    head.append("  " + "  ".join(b for b in bits if b), style="dim")
    return head


def _progress(s: dict[str, Any]) -> Group:
    pct = float(s.get("progress_percent") or 0.0)
    ph = s.get("phase") or {}
    grid = Table.grid(padding=(0, 1))
    grid.add_column(min_width=15, no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", min_width=6, no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_row(Text("overall", style="bold"), _bar(pct / 100, BAR, "cyan"), f"{pct:.1f}%",
                 Text(f"{fmt_duration(s.get('elapsed_seconds') or 0)} of "
                      f"{fmt_duration(s.get('planned_seconds') or 0)}", style="bold"))
    for row in s.get("phases") or []:
        state = str(row.get("state", ""))
        current = bool(ph) and row.get("index") == ph.get("index")
        name = Text(f"{int(row.get('index', 0)) + 1}. {row.get('name')}",
                    style="bold" if current else ("dim" if state == "pending" else ""))
        span = float(row.get("end_s", 0)) - float(row.get("start_s", 0))
        note = f"{fmt_duration(span)} {state}"
        if current and state == "running":
            note = f"{fmt_duration(span)}, {fmt_duration(ph.get('session_seconds_left') or 0)} left"
        done = float(row.get("progress") or 0.0)
        grid.add_row(name, _bar(done, BAR, "green" if state == "done" else "yellow"),
                     f"{100 * done:.0f}%", Text(note, style="dim"))
    eta = _eta_text(s)
    return Group(grid, Text(eta, style="bold")) if eta else Group(grid)


def _numbers(s: dict[str, Any]) -> Text:
    tot = s.get("totals") or {}
    tpm = s.get("tokens_per_minute") or 0
    cpm = s.get("tool_calls_per_minute") or 0
    return Text(
        f"tokens {tot.get('tokens', 0):,} ({tpm:,.0f}/min)   "
        f"tool calls {tot.get('tool_calls', 0):,} ({cpm:,.1f}/min)\n"
        f"tasks {tot.get('tasks_completed', 0):,}   errors {tot.get('errors', 0)}   "
        f"LOC {s.get('lines_of_code') or 0:,}")


def _health(s: dict[str, Any]) -> Text:
    h = s.get("health") or {}
    score = h.get("score")
    if not isinstance(score, (int, float)):
        out = Text("health -")
    else:
        style = "green" if score >= 80 else "yellow" if score >= 50 else "red"
        out = Text.assemble("health ", (f"{score:.0f}/100", f"bold {style}"))
        lost = [f"{k} -{v:g}" for k, v in (h.get("parts") or {}).items() if v]
        if lost:
            out.append(f"  ({', '.join(lost)})", style="dim")
    ck = s.get("last_checkpoint")
    if isinstance(ck, dict):
        ago = ""
        if ck.get("wall") and s.get("updated_wall"):
            ago = f", {fmt_duration(float(s['updated_wall']) - float(ck['wall']))} ago"
        out.append(f"\nlast checkpoint #{ck.get('number')} ({ck.get('trigger')}{ago}, "
                   f"session {fmt_duration(ck.get('t') or 0)})")
    else:
        out.append("\nno checkpoint yet", style="dim")
    return out


def _util_cell(util: float, width: int = 5) -> Text:
    filled = round(width * max(0.0, min(1.0, util)))
    return Text.assemble(f"{100 * util:3.0f}% ", ("━" * filled, "blue"),
                         ("━" * (width - filled), "dim"))


def _agents(s: dict[str, Any]) -> Table:
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold dim")
    for col in ("agent", "state", "model", "util", "tokens", "tools", "tasks", "err", "cpu%",
                "rss"):
        table.add_column(col, no_wrap=True, overflow="ellipsis",
                         justify="left" if col in ("agent", "state", "model", "util")
                         else "right")
    for a in s.get("agents") or []:
        rss = a.get("rss_bytes")
        util = float(a.get("utilization") or 0.0)
        state = str(a.get("state"))
        state_style = {"running": "green", "paused": "yellow", "frozen": "yellow",
                       "crashed": "red", "hung": "red"}.get(state, "dim")
        table.add_row(
            str(a.get("id")), Text(state, style=state_style), str(a.get("model") or "-"),
            _util_cell(util),
            f"{a.get('tokens', 0):,}", f"{a.get('tool_calls', 0):,}",
            str(a.get("tasks_completed", 0)), str(a.get("errors", 0)),
            f"{a.get('cpu_percent', 0) or 0:.0f}", f"{rss / 2**20:.0f}M" if rss else "-",
        )
    return table


def status_renderable(s: dict[str, Any], errors: int = 3) -> Any:
    """A rich renderable of a status snapshot (``supervisor status``, the live view):
    phase and progress per phase and overall, ETA, rates, health, last checkpoint, each
    agent with state and utilization, the most recent errors."""
    parts: list[Any] = [_head(s), _progress(s), _numbers(s), _health(s)]
    if s.get("agents"):
        parts.append(_agents(s))
    recent = (s.get("recent_errors") or [])[-errors:]
    for e in recent:
        parts.append(Text(f"error {fmt_duration(e.get('t') or 0)}: {e.get('agent')} "
                          f"{e.get('kind')}: {e.get('message')}", style="red"))
    return Group(*parts)


VIEW_KINDS = frozenset({STATUS, EVENT, FINISHED})


class SessionView:
    """Live view on a TTY; plain progress lines (every 10%) and events otherwise.
    A subscriber of the session's publisher (``VIEW_KINDS``)."""

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

    def notify(self, update: Update) -> None:
        if update.kind == STATUS:
            self.update(dict(update.data))
        elif update.kind == EVENT:
            self.event(str(update.data.get("text", "")))
        elif update.kind == FINISHED:
            self.finished(dict(update.data))

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
