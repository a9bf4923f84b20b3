"""Bringing a session back: ``resume`` after a crash, ``restore`` from a checkpoint file.

resume: the newest valid checkpoint (a corrupt newest one falls back to the previous,
with a warning), then the journal after it replayed, so nothing acknowledged is lost; the
project files stay as they are; agents of the dead supervisor are found by the pid and
create time the journal recorded (and their launch tokens), stopped, and their exit is
journaled, so every ``agent_start`` has its ``agent_exit``.

restore: the session goes back to exactly the checkpoint's moment: project files made
identical to its manifest, session time, phase and agent states from it (state files of
agents the checkpoint does not know are removed, so no agent resumes from the future).
The totals keep counting what really happened (work undone by a restore was still paid
for); the journal records the restore, and a ``restore`` checkpoint is written at once,
so that a crash before the next regular checkpoint resumes on the restored timeline, not
from a newer checkpoint of the abandoned one.

Nothing outside the session directory is written: the file must lie in
``<session>/checkpoints/``, its manifest is validated (no ``..``, no absolute paths, no
link out of ``project/``), and a ``project`` that is itself a symbolic link is refused.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.agents.process import reap_orphans
from supervisor.checkpoint.inspect import existing_file
from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import CheckpointStore, decode_manifest, read_checkpoint
from supervisor.clock import Clock
from supervisor.config import config_from_dict, config_hash
from supervisor.config.schema import Config
from supervisor.counters import Counters
from supervisor.errors import CheckpointCorrupt, CheckpointMismatch, SessionError, UsageError
from supervisor.ledger import Ledger, fold
from supervisor.session.files import read_json, write_json_atomic
from supervisor.session.items import ResumePoint
from supervisor.session.journal import read_journal
from supervisor.session.layout import SessionLayout
from supervisor.session.lock import supervisor_pid


@dataclass
class ReplayResult:
    counters: Counters
    last_t: float = 0.0
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_agents: dict[str, tuple[int, float]] = field(default_factory=dict)  # started, not exited
    tokens: list[str] = field(default_factory=list)  # launch tokens of every agent ever started


def replay_journal(path: Path, counters: Counters, after_seq: int = 0) -> ReplayResult:
    """Fold the records after ``after_seq`` into ``counters``; note the agents left open
    and every launch token over the whole journal (a torn last record is ignored)."""
    res = ReplayResult(counters)
    if not path.exists():  # the supervisor died before it opened the journal
        return res
    for rec in read_journal(path):
        if rec.kind == "agent_start":
            if rec.fields.get("launch_token"):
                res.tokens.append(str(rec.fields["launch_token"]))
            res.open_agents[str(rec.fields.get("agent"))] = (
                int(rec.fields.get("pid") or 0), float(rec.fields.get("create_time") or 0.0))
        elif rec.kind == "agent_exit":
            res.open_agents.pop(str(rec.fields.get("agent")), None)
        if rec.seq <= after_seq:
            continue
        fields = fold(counters, rec)
        if fields is not None and fields.get("type") == "state" and rec.agent is not None:
            if isinstance(fields.get("data"), dict):
                res.states[rec.agent] = fields["data"]
        res.last_t = max(res.last_t, rec.t)
    return res


def load_session_config(layout: SessionLayout) -> Config:
    try:
        data = read_json(layout.config_json)
    except FileNotFoundError:
        raise SessionError(f"{layout.root} is not a session directory (no config.json)") from None
    except ValueError as e:
        raise SessionError(f"{layout.config_json} is not valid JSON: {e}") from None
    return config_from_dict(data, source=str(layout.config_json))


def ensure_not_running(layout: SessionLayout) -> None:
    pid = supervisor_pid(layout)
    if pid is not None:
        raise SessionError(f"session {layout.session_id} is running (supervisor pid {pid}); "
                           "stop it first, or use `supervisor resume` to unpause it")


def _point_from_body(body: dict[str, Any], counters: Counters, reason: str) -> ResumePoint:
    return ResumePoint(
        elapsed=float(body.get("elapsed", 0.0)),
        counters=counters,
        agent_states={str(k): v for k, v in (body.get("agent_states") or {}).items()
                      if isinstance(v, dict)},
        agent_models={str(k): int(v) for k, v in (body.get("agent_models") or {}).items()},
        reason=reason,
        extra={"checkpoint": body.get("number"), "recovery": body.get("recovery"),
               "triggers": body.get("triggers")},
    )


def _stop_orphans(layout: SessionLayout, res: ReplayResult, at: float) -> list[int]:
    """Kill what the dead supervisor left running and journal each open agent's exit."""
    killed = reap_orphans(res.open_agents.values(), tokens=res.tokens)
    if res.open_agents:
        ledger = Ledger(layout.journal, res.counters)
        try:
            for aid, (pid, _) in sorted(res.open_agents.items()):
                how = "killed" if pid in killed else "gone"
                ledger.record("agent_exit", at, agent=aid, how=how, why="supervisor died")
        finally:
            ledger.close()
        res.open_agents.clear()
    return killed


def _interrupted_writes(layout: SessionLayout) -> list[str]:
    with contextlib.suppress(OSError):
        return sorted(p.name for p in layout.checkpoints_dir.glob(".checkpoint_*.tmp"))
    return []


def plan_resume(layout: SessionLayout) -> tuple[Config, ResumePoint, list[str]]:
    """Everything needed to continue a session whose supervisor died. Returns warnings."""
    cfg = load_session_config(layout)
    ensure_not_running(layout)
    warnings: list[str] = []
    store = CheckpointStore(layout.checkpoints_dir, SnapshotStore(layout.snapshots_dir))
    infos = store.list()
    newest = store.newest_valid()
    for i in infos:
        if newest is None or i.number > newest[0].number:
            why = i.error or "not usable"
            warnings.append(f"{i.path.name} is not usable ({why}); falling back to "
                            + (newest[0].path.name if newest else "the journal alone"))
    for name in _interrupted_writes(layout):
        warnings.append(f"{name}: a checkpoint write that never finished; ignored")
    if newest is not None:
        _, body = newest
        counters = Counters.from_dict(body["counters"])
        after = int(body.get("journal_seq", 0))
        point = _point_from_body(body, counters, "resume")
    else:
        counters = Counters()
        after = 0
        point = ResumePoint(elapsed=0.0, counters=counters, reason="resume")
    res = replay_journal(layout.journal, counters, after_seq=after)
    point.elapsed = max(point.elapsed, res.last_t)
    point.agent_states.update(res.states)
    killed = _stop_orphans(layout, res, point.elapsed)
    if killed:
        warnings.append(f"stopped {len(killed)} process(es) left by the dead supervisor: "
                        + ", ".join(map(str, killed)))
    return cfg, point, warnings


# ---------------------------------------------------------------- restore


def checkpoint_session(path: Path) -> SessionLayout:
    """The session a checkpoint file belongs to: it must lie in ``<session>/checkpoints/``."""
    where = existing_file(path).resolve().parent
    if where.name != "checkpoints" or not (where.parent / "config.json").is_file():
        raise UsageError(f"{path} is not in the checkpoints/ directory of a session; "
                         "restore works on the session the file belongs to")
    return SessionLayout(where.parent)


def _check_belongs(path: Path, body: dict[str, Any], cfg: Config, force: bool) -> None:
    if body.get("session_id") != cfg.session.id:
        raise CheckpointMismatch(str(path), f"it belongs to session {body.get('session_id')!r}, "
                                 f"not {cfg.session.id!r}; it cannot be restored here")
    if body.get("config_hash") != config_hash(cfg) and not force:
        raise CheckpointMismatch(str(path), "it was taken with a different config than "
                                 f"{cfg.session.id}/config.json (use --force to restore anyway)")


def _project_dir(layout: SessionLayout) -> Path:
    project = layout.project_dir
    if project.is_symlink():
        raise SessionError(f"{project} is a symbolic link; restore writes only inside "
                           f"{layout.root} and will not follow it")
    return project


def _reset_agent_states(layout: SessionLayout, states: dict[str, dict[str, Any]]) -> None:
    """Agent state files as of the checkpoint; states newer than it are removed."""
    with contextlib.suppress(OSError):
        for d in layout.agents_dir.iterdir():
            if d.is_dir() and not d.is_symlink() and d.name not in states:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(layout.agent_state(d.name))
    for aid, data in states.items():
        if layout.agent_dir(aid).resolve().parent == layout.agents_dir.resolve():
            layout.agent_dir(aid).mkdir(parents=True, exist_ok=True)
            write_json_atomic(layout.agent_state(aid), data, durable=False)


def _journal_restore(layout: SessionLayout, store: CheckpointStore, path: Path,
                     body: dict[str, Any], res: ReplayResult, force: bool) -> int:
    """Journal the restore and write it as a new checkpoint; returns that one's number."""
    t = float(body.get("elapsed", 0.0))
    ledger = Ledger(layout.journal, res.counters)
    try:
        ledger.record("restore", t, checkpoint=body.get("number"), path=str(path),
                      phase=body.get("phase"), forced=force)
        ledger.sync()
        c = res.counters
        number, new_path = store.next_path()
        new = {**body, "number": number, "trigger": "restore", "restored_from": body.get("number"),
               "journal_seq": ledger.last_seq, "counters": c.to_dict(),
               "triggers": {"last_t": t, "last_tool_calls": c.tool_calls, "last_tokens": c.tokens},
               "duration_ms": 0.0, "held_ms": 0.0, "created_wall": Clock().wall()}
        info = store.write(new)
        ledger.record("checkpoint", t, number=info.number, path=str(new_path), trigger="restore",
                      duration_ms=0.0, held_ms=0.0, size_bytes=info.size_bytes,
                      files=info.files, phase=body.get("phase"),
                      reason=f"restored from {path.name}")
    finally:
        ledger.close()
    return number


def plan_restore(checkpoint: Path, force: bool = False
                 ) -> tuple[SessionLayout, Config, ResumePoint, list[str]]:
    """Roll a session back to a checkpoint file: files and journal now, the rest when the
    runner starts. Returns the session, its config, where to continue, and warnings."""
    checkpoint = Path(checkpoint)
    layout = checkpoint_session(checkpoint)
    cfg = load_session_config(layout)
    ensure_not_running(layout)
    body = read_checkpoint(checkpoint)
    _check_belongs(checkpoint, body, cfg, force)
    if "manifest" not in body:
        raise CheckpointCorrupt(str(checkpoint), "the body has no manifest")
    manifest = decode_manifest(body["manifest"], str(checkpoint))
    project = _project_dir(layout)
    snapshots = SnapshotStore(layout.snapshots_dir)
    problems = snapshots.verify_objects(manifest)
    if problems:
        raise CheckpointCorrupt(str(checkpoint), "its files are not all in the store: "
                                + "; ".join(problems[:5]))
    warnings: list[str] = []
    res = replay_journal(layout.journal, Counters())
    killed = _stop_orphans(layout, res, res.last_t)  # before the files: nobody may write them
    if killed:
        warnings.append(f"stopped {len(killed)} process(es) left by a dead supervisor: "
                        + ", ".join(map(str, killed)))
    snapshots.materialize(manifest, project, tuple(cfg.checkpoint.excludes))
    point = _point_from_body(body, res.counters, "restore")
    _reset_agent_states(layout, point.agent_states)
    store = CheckpointStore(layout.checkpoints_dir, snapshots)
    number = _journal_restore(layout, store, checkpoint, body, res, force)
    c = res.counters
    point.extra.update(checkpoint=number, restored_from=body.get("number"),
                       triggers={"last_t": point.elapsed, "last_tool_calls": c.tool_calls,
                                 "last_tokens": c.tokens})
    return layout, cfg, point, warnings
