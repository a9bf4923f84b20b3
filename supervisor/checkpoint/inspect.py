"""Checkpoint inspection for the CLI: list, verify (checksum and every object), show."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import CheckpointStore, decode_manifest, read_checkpoint, to_json
from supervisor.errors import CheckpointCorrupt, UsageError
from supervisor.session.layout import SessionLayout


def _stores(layout: SessionLayout) -> tuple[CheckpointStore, SnapshotStore]:
    snaps = SnapshotStore(layout.snapshots_dir)
    return CheckpointStore(layout.checkpoints_dir, snaps), snaps


def list_checkpoints(layout: SessionLayout, verify_objects: bool = False) -> list[dict[str, Any]]:
    store, _ = _stores(layout)
    rows = []
    for i in store.list(verify_objects=verify_objects):
        rows.append({
            "number": i.number, "path": str(i.path),
            "time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(i.created_wall))
            if i.created_wall else None,
            "created_wall": i.created_wall, "phase": i.phase, "trigger": i.trigger,
            "files": i.files, "size_bytes": i.size_bytes, "duration_ms": i.duration_ms,
            "valid": i.valid, "error": i.error,
        })
    return rows


def existing_file(path: Path) -> Path:
    """``path`` if it is an existing regular file; UsageError (exit 2) otherwise."""
    if not path.exists():
        raise UsageError(f"no checkpoint file at {path}")
    if not path.is_file():
        raise UsageError(f"{path} is not a file (give checkpoints/checkpoint_NNN.msgpack)")
    return path


def session_of(path: Path) -> SessionLayout:
    """A checkpoint lives in <session>/checkpoints/; its objects in <session>/snapshots/."""
    where = path.resolve().parent
    if where.name != "checkpoints" or not (where.parent / "snapshots").is_dir():
        raise UsageError(f"{path} is not in the checkpoints/ directory of a session, so its "
                         "objects cannot be checked")
    return SessionLayout(where.parent)


def verify_checkpoint(path: Path) -> list[str]:
    """Check the file's checksum and schema, the manifest, and every object it references.

    Returns lines describing what was checked; raises CheckpointCorrupt on any problem
    (CheckpointVersionError for an unknown schema), UsageError for a bad path.
    """
    body = read_checkpoint(existing_file(path))
    if "manifest" not in body:
        raise CheckpointCorrupt(str(path), "the body has no manifest")
    manifest = decode_manifest(body["manifest"], str(path))
    snaps = SnapshotStore(session_of(path).snapshots_dir)
    problems = snaps.verify_objects(manifest)
    if problems:
        more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        raise CheckpointCorrupt(str(path), "; ".join(problems[:10]) + more)
    files = sum(1 for e in manifest if e.kind == "file")
    return [f"{path}: ok",
            f"  session {body.get('session_id')}, checkpoint {body.get('number')}, "
            f"trigger {body.get('trigger')}, phase {body.get('phase')}",
            f"  checksum ok; {len(manifest)} entries ({files} files), every object present "
            "with the right hash"]


def show_checkpoint(path: Path) -> dict[str, Any]:
    """The whole checkpoint as JSON-able data (manifest spelled out, bytes as hex)."""
    return to_json(read_checkpoint(existing_file(path)), str(path))
