"""Bringing a session back: ``resume`` after a crash, ``restore`` from a checkpoint file.

resume: the newest valid checkpoint (a corrupt newest one falls back to the previous,
with a warning), then the journal after it replayed, so nothing acknowledged is lost; the
project files stay as they are; agents of the dead supervisor are found by the pid and
create time the journal recorded, and stopped.

restore: the session goes back to exactly the checkpoint's moment: project files made
identical to its manifest, session time, phase and agent states from it. The totals keep
counting what really happened (work undone by a restore was still paid for); the journal
records the restore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor import logs
from supervisor.agents.process import reap_orphans
from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import CheckpointStore, decode_manifest, read_checkpoint
from supervisor.config import config_from_dict, config_hash
from supervisor.config.schema import Config
from supervisor.counters import Counters
from supervisor.errors import CheckpointMismatch, SessionError
from supervisor.ledger import fold
from supervisor.runner import ResumePoint
from supervisor.session.files import read_json
from supervisor.session.journal import read_journal
from supervisor.session.layout import SessionLayout
from supervisor.session.lock import supervisor_pid

log = logs.get("restore")


@dataclass
class ReplayResult:
    counters: Counters
    last_t: float = 0.0
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_agents: dict[str, tuple[int, float]] = field(default_factory=dict)  # started, not exited
    tokens: list[str] = field(default_factory=list)  # launch tokens of every agent ever started


def replay_journal(path: Path, counters: Counters, after_seq: int = 0) -> ReplayResult:
    res = ReplayResult(counters)
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
        agent_states=dict(body.get("agent_states") or {}),
        agent_models={k: int(v) for k, v in (body.get("agent_models") or {}).items()},
        reason=reason,
        extra={"checkpoint": body.get("number"), "recovery": body.get("recovery"),
               "triggers": body.get("triggers")},
    )


def plan_resume(layout: SessionLayout) -> tuple[Config, ResumePoint, list[str]]:
    """Everything needed to continue a session whose supervisor died. Returns warnings."""
    cfg = load_session_config(layout)
    ensure_not_running(layout)
    warnings: list[str] = []
    store = CheckpointStore(layout.checkpoints_dir, SnapshotStore(layout.snapshots_dir))
    infos = store.list()
    newest = store.newest_valid()
    bad = [i for i in infos if not i.valid and (newest is None or i.number > newest[0].number)]
    for i in bad:
        warnings.append(f"{i.path.name} is not usable ({i.error}); falling back to an older one")
    if newest is not None:
        info, body = newest
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
    killed = reap_orphans(res.open_agents.values(), tokens=res.tokens)
    if killed:
        warnings.append(f"stopped {len(killed)} agent(s) left by the dead supervisor: "
                        + ", ".join(map(str, killed)))
    return cfg, point, warnings


def plan_restore(checkpoint: Path, force: bool = False) -> tuple[SessionLayout, Config, ResumePoint]:
    """Roll a session back to a checkpoint file: files now, the rest when the runner starts."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise SessionError(f"no checkpoint file at {checkpoint}")
    body = read_checkpoint(checkpoint)
    layout = SessionLayout(checkpoint.resolve().parent.parent)
    cfg = load_session_config(layout)
    if body.get("session_id") != cfg.session.id and not force:
        raise CheckpointMismatch(str(checkpoint), f"it belongs to session {body.get('session_id')!r}, "
                                 f"not {cfg.session.id!r} (use --force to restore it anyway)")
    if body.get("config_hash") != config_hash(cfg) and not force:
        raise CheckpointMismatch(str(checkpoint), "it was taken with a different config than "
                                 f"{layout.config_json.name} (use --force to restore anyway)")
    ensure_not_running(layout)
    manifest = decode_manifest(body["manifest"], str(checkpoint))
    snapshots = SnapshotStore(layout.snapshots_dir)
    problems = snapshots.verify_objects(manifest)
    if problems:
        raise CheckpointMismatch(str(checkpoint), "its files are not all in the store: "
                                 + "; ".join(problems[:5]))
    snapshots.materialize(manifest, layout.project_dir)
    res = replay_journal(layout.journal, Counters())
    point = _point_from_body(body, res.counters, "restore")
    killed = reap_orphans(res.open_agents.values(), tokens=res.tokens)
    if killed:
        log.warning("orphans_stopped", pids=killed)
    return layout, cfg, point
