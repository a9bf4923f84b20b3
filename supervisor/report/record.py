"""Read a recorded session back from its directory: the config it ran with, the counters
rebuilt by replaying the whole journal, the timeline of supervisor records, and the
metrics history. Reports are built from this, so every number traces to a record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.config import config_from_dict
from supervisor.config.schema import Config
from supervisor.counters import Counters
from supervisor.errors import SessionError
from supervisor.ledger import fold
from supervisor.metrics import read_history
from supervisor.session.files import read_json
from supervisor.session.journal import read_journal
from supervisor.session.layout import SessionLayout
from supervisor.session.status import read_status_word

TIMELINE_KINDS = frozenset({
    "phase_start", "phase_end", "checkpoint", "failure", "recovery", "pause", "resume",
    "alert", "session_start", "session_end", "command",
})


@dataclass
class SessionRecord:
    layout: SessionLayout
    cfg: Config
    counters: Counters
    status: str
    started_wall: float | None = None
    ended_wall: float | None = None
    last_t: float = 0.0
    wall_seconds: float = 0.0
    timeline: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    final_tests: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0


def load_record(root: Path) -> SessionRecord:
    layout = SessionLayout(Path(root))
    try:
        cfg = config_from_dict(read_json(layout.config_json), source=str(layout.config_json))
    except FileNotFoundError:
        raise SessionError(f"{root} is not a session directory (no config.json)") from None
    except ValueError as e:
        raise SessionError(f"{layout.config_json}: not valid JSON ({e})") from None
    counters = Counters()
    rec = SessionRecord(layout=layout, cfg=cfg, counters=counters,
                        status=read_status_word(layout.root) or "unknown")
    run_start_w: float | None = None
    for r in read_journal(layout.journal):
        fold(counters, r)
        if r.kind != "ev":
            _note(rec, r.kind, r.t, r.w, r.fields)
            if r.kind == "session_start":
                if rec.started_wall is None:
                    rec.started_wall = r.w
                else:
                    rec.resumes += 1
                if run_start_w is not None and rec.ended_wall is not None:
                    pass
                run_start_w = r.w
            elif r.kind == "session_end":
                rec.ended_wall = r.w
                if run_start_w is not None:
                    rec.wall_seconds += r.w - run_start_w
                    run_start_w = None
        rec.last_t = max(rec.last_t, r.t)
        if run_start_w is not None:
            rec.ended_wall = r.w
    if run_start_w is not None and rec.ended_wall is not None:
        rec.wall_seconds += rec.ended_wall - run_start_w
    counters.close_running(rec.last_t)
    rec.history = read_history(layout.metrics_history)
    return rec


def _note(rec: SessionRecord, kind: str, t: float, w: float, f: dict[str, Any]) -> None:
    if kind not in TIMELINE_KINDS and kind != "final_tests":
        return
    if kind == "final_tests":
        rec.final_tests = dict(f.get("tests") or {})
        return
    if kind == "command" and f.get("command") == "status":
        return
    label = kind.replace("_", " ")
    detail = ""
    if kind in ("phase_start", "phase_end"):
        label = f"{f.get('name')} {'start' if kind == 'phase_start' else 'end'}"
        detail = str(f.get("status", ""))
    elif kind == "checkpoint":
        label = f"checkpoint {f.get('number')}"
        detail = str(f.get("trigger", ""))
        rec.checkpoints.append({"t": t, **f})
    elif kind == "failure":
        label = f"{f.get('type')} ({f.get('agent') or 'session'})"
        detail = str(f.get("message", ""))[:300]
        rec.failures.append({"t": t, **f})
    elif kind == "recovery":
        label = f"{f.get('action')} -> {f.get('outcome')}"
        detail = str(f.get("type", ""))
        rec.recoveries.append({"t": t, **f})
    elif kind == "command":
        label = f"{f.get('command')} ({f.get('source')})"
    rec.timeline.append({"t": round(t, 3), "w": w, "kind": kind, "label": label, "detail": detail})
