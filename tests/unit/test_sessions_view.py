"""What `supervisor status` and `supervisor logs` show of a session."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from supervisor.console import status_renderable
from supervisor.control.logview import format_agent_line, format_log_line
from supervisor.control.watch import status_text


def snapshot(**over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "session_id": "mega-x", "status": "running", "pid": 4242, "project_type": "task_queue",
        "time_scale": 360.0, "updated_wall": 1_000_000.0,
        "phase": {"index": 1, "name": "development", "of": 3, "progress": 0.5,
                  "session_seconds_left": 600.0},
        "phases": [
            {"index": 0, "name": "bootstrap", "start_s": 0, "end_s": 600, "state": "done",
             "progress": 1.0},
            {"index": 1, "name": "development", "start_s": 600, "end_s": 1800,
             "state": "running", "progress": 0.5},
            {"index": 2, "name": "finalization", "start_s": 1800, "end_s": 2400,
             "state": "pending", "progress": 0.0}],
        "elapsed_seconds": 1200.0, "planned_seconds": 2400.0, "progress_percent": 50.0,
        "eta": {"session_seconds_left": 1200.0, "wall_seconds_left": 4.0,
                "finish_wall": 1_000_004.0, "on_hold": False},
        "paused": False,
        "totals": {"tokens": 123456, "tool_calls": 789, "tasks_completed": 12, "errors": 2},
        "tokens_per_minute": 6172.8, "tool_calls_per_minute": 39.5, "lines_of_code": 2048,
        "health": {"score": 87.5, "parts": {"errors": 12.5, "recovery": 0.0, "budget": 0.0,
                                            "idle": 0.0}},
        "last_checkpoint": {"number": 7, "trigger": "tool_calls", "t": 1100.0,
                            "wall": 999_990.0},
        "recent_errors": [{"t": 1000.0, "agent": "coder-2", "kind": "rate_limit",
                           "message": "429 slow down"}],
        "agents": [{"id": "coder-2", "state": "running", "model": "primary-model",
                    "tokens": 60000, "tool_calls": 400, "tasks_completed": 6, "errors": 2,
                    "utilization": 0.75, "cpu_percent": 12.0, "rss_bytes": 50 * 2**20}],
    }
    s.update(over)
    return s


def render(s: dict[str, Any], width: int = 100) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(status_renderable(s))
    return out.getvalue()


def test_status_view_shows_everything_a_user_asks_for() -> None:
    """Phase, per-phase and overall progress, ETA, rates, agents, health, checkpoint, errors."""
    text = render(snapshot())
    for needle in ("mega-x", "RUNNING", "overall", "50.0%", "1. bootstrap", "2. development",
                   "3. finalization", "pending", "ETA 4s wall", "tokens 123,456 (6,173/min)",
                   "tool calls 789 (39.5/min)", "health 88/100", "errors -12.5",
                   "last checkpoint #7 (tool_calls, 10s ago", "coder-2", "75%", "50M",
                   "rate_limit: 429 slow down"):
        assert needle in text, needle


def test_paused_view_says_the_eta_is_on_hold() -> None:
    """A paused session shows its status and that the ETA waits for a resume."""
    text = render(snapshot(status="paused", paused=True,
                           eta={"wall_seconds_left": 4.0, "on_hold": True}))
    assert "PAUSED" in text and "ETA on hold" in text


def test_finished_view_has_no_eta_and_old_snapshots_render() -> None:
    """A completed session shows no ETA; a snapshot missing newer keys still renders."""
    assert "ETA" not in render(snapshot(status="completed"))
    text = render({"session_id": "old", "status": "crashed", "progress_percent": 12.0})
    assert "old" in text and "CRASHED" in text and "12.0%" in text


def test_view_fits_eighty_columns() -> None:
    """The view fits an 80-column terminal without wrapping a line in two."""
    lines = render(snapshot(), 80).splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("errors 2" in line and "LOC 2,048" in line for line in lines)
    assert any(line.startswith("last checkpoint #7") for line in lines)


def test_status_text_is_one_line() -> None:
    """The plain form (pipes, CI logs) is one line with phase, progress and ETA."""
    line = status_text(snapshot())
    assert "\n" not in line
    assert "phase 2/3 development" in line and "50.0%" in line and "ETA 4s" in line


def test_log_lines_read_as_text() -> None:
    """A session.log JSON record becomes `time LEVEL event key=value`; other text passes."""
    rec = {"timestamp": "2026-11-21T14:38:27.123Z", "level": "info", "event": "paused",
           "session_id": "s", "source": "http", "phase": None}
    assert format_log_line(json.dumps(rec)) == "14:38:27 INFO  paused source=http"
    assert format_log_line("not json\n") == "not json"


def test_agent_lines_read_as_events() -> None:
    """An agent's protocol line becomes `type key=value`; banners pass unchanged."""
    line = json.dumps({"type": "tool_call", "name": "write_file", "ok": True,
                       "duration_ms": 12, "path": "src/a.py"})
    assert format_agent_line(line) == \
        "tool_call name=write_file ok=true duration_ms=12 path=src/a.py"
    assert format_agent_line("===== launch coder-2 =====\n") == "===== launch coder-2 ====="
