"""Read a recorded session back from its directory: the config it ran with, the counters
rebuilt by replaying the whole journal, the timeline of supervisor records, and the
metrics history. Reports are built from this, so every number traces to a record.

Besides the counters, the replay keeps the records a report needs as they are:
checkpoints (and failed checkpoint attempts), failures and recoveries (paired into the
error log by ``pair_failures``), operator commands, the final and phase-end test runs,
and the ``quality`` records (build and security checks run at session end).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    "alert", "session_start", "session_end", "command", "checkpoint_failed",
})
# Commands a person gave (pause, resume, forced checkpoint) count as manual interventions
# when they came from outside the session: the CLI, the HTTP API or a signal.
INTERVENTION_COMMANDS = frozenset({"pause", "resume", "checkpoint"})
INTERVENTION_SOURCES = frozenset({"cli", "http", "signal"})
RECOVERED = "recovered"


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
    checkpoint_failures: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)  # both, in journal order
    commands: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)  # by check name
    final_tests: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumes: int = 0
    ended: bool = False  # the last run of the supervisor wrote its session_end
    end_status: str | None = None  # the status that session_end recorded
    skipped_lines: int = 0  # corrupt journal lines the reader had to skip

    @property
    def interventions(self) -> list[dict[str, Any]]:
        return [c for c in self.commands if c.get("command") in INTERVENTION_COMMANDS
                and c.get("source") in INTERVENTION_SOURCES]


def load_record(root: Path) -> SessionRecord:  # noqa: C901 - one branch per session file read, each optional
    layout = SessionLayout(Path(root))
    try:
        cfg = config_from_dict(read_json(layout.config_json), source=str(layout.config_json))
    except FileNotFoundError:
        raise SessionError(f"{root} is not a session directory (no config.json)") from None
    except ValueError as e:
        raise SessionError(f"{layout.config_json}: not valid JSON ({e})") from None
    if not layout.journal.is_file():
        raise SessionError(f"{root}: no events journal (events.wal); nothing to report")
    counters = Counters()
    rec = SessionRecord(layout=layout, cfg=cfg, counters=counters,
                        status=read_status_word(layout.root) or "unknown")
    run_start_w: float | None = None
    reader = read_journal(layout.journal)
    for r in reader:
        fold(counters, r)
        if r.kind != "ev":
            if r.kind == "session_start":
                if run_start_w is not None and rec.ended_wall is not None:
                    rec.wall_seconds += rec.ended_wall - run_start_w  # a run that crashed
                if rec.started_wall is None:
                    rec.started_wall = r.w
                else:
                    rec.resumes += 1
                run_start_w = r.w
                rec.ended = False
                rec.end_status = None
            elif r.kind == "session_end":
                rec.ended_wall = r.w
                rec.ended = True
                rec.end_status = str(r.fields.get("status") or "") or None
                if run_start_w is not None:
                    rec.wall_seconds += r.w - run_start_w
                    run_start_w = None
            _note(rec, r.seq, r.kind, r.t, r.w, r.fields)
        rec.last_t = max(rec.last_t, r.t)
        if run_start_w is not None:
            rec.ended_wall = r.w
    if run_start_w is not None and rec.ended_wall is not None:
        rec.wall_seconds += rec.ended_wall - run_start_w
    rec.skipped_lines = reader.skipped
    counters.close_running(rec.last_t)
    rec.history = read_history(layout.metrics_history)
    return rec


def _note(rec: SessionRecord, seq: int, kind: str, t: float, w: float,  # noqa: C901 - one branch per journal record kind the report reads
          f: dict[str, Any]) -> None:
    if kind == "final_tests":
        rec.final_tests = dict(f.get("tests") or {})
        return
    if kind == "quality":
        rec.quality[str(f.get("check"))] = {"t": t, **f}
        return
    if kind not in TIMELINE_KINDS:
        return
    if kind == "command":
        if f.get("command") == "status":
            return
        rec.commands.append({"t": t, "command": f.get("command"), "source": f.get("source")})
    label = kind.replace("_", " ")
    detail = ""
    if kind in ("phase_start", "phase_end"):
        label = f"{f.get('name')} {'start' if kind == 'phase_start' else 'end'}"
        detail = str(f.get("status", ""))
    elif kind == "checkpoint":
        label = f"checkpoint {f.get('number')}"
        detail = str(f.get("trigger", ""))
        rec.checkpoints.append({"t": t, **f})
    elif kind == "checkpoint_failed":
        detail = f"{f.get('trigger')}: {str(f.get('error', ''))[:300]}"
        rec.checkpoint_failures.append({"t": t, **f})
    elif kind == "failure":
        label = f"{f.get('type')} ({f.get('agent') or 'session'})"
        detail = str(f.get("message", ""))[:300]
        rec.failures.append({"t": t, **f})
        rec.incidents.append({"seq": seq, "t": t, "k": "failure", **f})
    elif kind == "recovery":
        label = f"{f.get('action')} -> {f.get('outcome')}"
        detail = str(f.get("type", ""))
        rec.recoveries.append({"t": t, **f})
        rec.incidents.append({"seq": seq, "t": t, "k": "recovery", **f})
    elif kind == "command":
        label = f"{f.get('command')} ({f.get('source')})"
    elif kind == "session_end":
        detail = str(f.get("status", ""))
    rec.timeline.append({"t": round(t, 3), "w": w, "kind": kind, "label": label, "detail": detail})


def pair_failures(incidents: Sequence[Mapping[str, Any]],
                  severity_of: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The error log: one row per failure, with the action taken and how it ended.

    ``incidents`` are ``failure`` and ``recovery`` records in journal order (key ``k``,
    journal ``seq``). A recovery belongs to the failure its ``failure_seq`` names; without
    one, to the latest failure before it of the same agent and type (else of the same
    type). Several recoveries of one failure (pending, retries) leave the last action and
    outcome, the most tries (or attempt number), and the last ``recovery_seconds``
    recorded (absent from the record: the session time from the failure to it).
    A recovery whose failure is not in the journal gets a row of its own. A failure
    nobody acted on keeps the action it was given (if any) and outcome None. Severity:
    the record's, else ``severity_of`` (the config's recovery table).
    """
    rows: list[dict[str, Any]] = []
    by_seq: dict[Any, dict[str, Any]] = {}
    sev = severity_of or {}
    for inc in incidents:
        ftype = inc.get("type")
        if inc.get("k") == "failure":
            row = {"t": inc.get("t"), "agent": inc.get("agent"), "type": ftype,
                   "severity": inc.get("severity") or sev.get(str(ftype)),
                   "action": inc.get("action"), "outcome": None, "attempts": 0,
                   "recovery_seconds": None, "message": inc.get("message"),
                   "source": inc.get("source")}
            rows.append(row)
            if inc.get("seq") is not None:
                by_seq[inc["seq"]] = row
            continue
        owner = by_seq.get(inc["failure_seq"]) if inc.get("failure_seq") is not None else None
        if owner is None and inc.get("failure_seq") is None:
            owner = _owner(rows, inc.get("agent"), ftype)
        if owner is None:
            owner = {"t": inc.get("t"), "agent": inc.get("agent"), "type": ftype,
                     "severity": inc.get("severity") or sev.get(str(ftype)), "action": None,
                     "outcome": None, "attempts": 0, "recovery_seconds": None,
                     "message": None, "source": "recovery record without its failure"}
            rows.append(owner)
        _apply_recovery(owner, inc)
    return rows


def _apply_recovery(row: dict[str, Any], inc: Mapping[str, Any]) -> None:
    row["action"] = inc.get("action") or row["action"]
    row["outcome"] = inc.get("outcome") or row["outcome"]
    counts = [v for v in (inc.get("tries"), inc.get("attempt"))
              if isinstance(v, int) and not isinstance(v, bool)]
    row["attempts"] = (max([int(row["attempts"] or 0), *counts]) if counts
                       else int(row["attempts"] or 0) + 1)
    if "recovery_seconds" not in inc:
        if isinstance(inc.get("t"), int | float) and isinstance(row["t"], int | float):
            row["recovery_seconds"] = round(float(inc["t"]) - float(row["t"]), 3)
    elif isinstance(inc["recovery_seconds"], int | float):
        row["recovery_seconds"] = round(float(inc["recovery_seconds"]), 3)


def _owner(rows: list[dict[str, Any]], agent: Any, ftype: Any) -> dict[str, Any] | None:
    """The row itself (the caller updates it in place)."""
    row: dict[str, Any]
    for row in reversed(rows):
        if row["agent"] == agent and row["type"] == ftype:
            return row
    for row in reversed(rows):
        if row["type"] == ftype:
            return row
    return None
