"""The ``status`` word and ``status.json``: what a user (or `supervisor status`) reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervisor import logs
from supervisor.session.files import read_json, write_json_atomic, write_text_atomic
from supervisor.session.layout import SessionLayout
from supervisor.session.publisher import FINISHED, STATUS, Update

SCHEMA_VERSION = 1
STATUS_FILE_KINDS = frozenset({STATUS, FINISHED})

log = logs.get("session")


def write_status(layout: SessionLayout, word: str, snapshot: dict[str, Any] | None) -> None:
    """Rewrite ``status`` (one word) and, when given, ``status.json`` atomically."""
    if snapshot is not None:
        write_json_atomic(layout.status_json, snapshot, durable=False)
    write_text_atomic(layout.status, word + "\n", durable=False)


class StatusFile:
    """Subscriber that keeps ``status`` and ``status.json`` equal to the latest snapshot
    (subscribe it for ``STATUS_FILE_KINDS``). A failed write (disk full) is logged; the
    next snapshot tries again."""

    def __init__(self, layout: SessionLayout):
        self.layout = layout
        self.failures = 0

    def notify(self, update: Update) -> None:
        snap: Mapping[str, Any] = update.data
        try:
            write_status(self.layout, str(snap.get("status")), dict(snap))
        except OSError as e:
            self.failures += 1
            log.error("status_write_failed", path=str(self.layout.status_json), error=str(e))


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
