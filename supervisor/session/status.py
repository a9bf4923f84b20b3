"""The ``status`` word and ``status.json``: what a user (or `supervisor status`) reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supervisor.session.files import read_json, write_json_atomic, write_text_atomic
from supervisor.session.layout import SessionLayout

SCHEMA_VERSION = 1


def write_status(layout: SessionLayout, word: str, snapshot: dict[str, Any] | None) -> None:
    """Rewrite ``status`` (one word) and, when given, ``status.json`` atomically."""
    if snapshot is not None:
        write_json_atomic(layout.status_json, snapshot, durable=False)
    write_text_atomic(layout.status, word + "\n", durable=False)


def read_status_word(root: Path) -> str | None:
    try:
        return (root / "status").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def read_status_json(root: Path) -> dict[str, Any] | None:
    try:
        data = read_json(root / "status.json")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def eta(plan_total_s: float, elapsed_s: float, time_scale: float) -> dict[str, float]:
    """Session seconds left and, at the current scale, wall seconds left (pauses excluded)."""
    left = max(0.0, plan_total_s - elapsed_s)
    return {"session_seconds_left": round(left, 1), "wall_seconds_left": round(left / time_scale, 1)}
