"""Checkpoint inspection for the CLI: list, verify (checksum and every object), show."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import CheckpointStore, decode_manifest, read_checkpoint
from supervisor.errors import CheckpointCorrupt
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


def session_of(path: Path) -> SessionLayout:
    """A checkpoint lives in <session>/checkpoints/; its objects in <session>/snapshots/."""
    return SessionLayout(path.resolve().parent.parent)


def verify_checkpoint(path: Path) -> list[str]:
    """Check the file's checksum and schema, the manifest, and every object it references.

    Returns lines describing what was checked; raises CheckpointCorrupt on any problem.
    """
    body = read_checkpoint(path)
    manifest = decode_manifest(body.get("manifest"), str(path))
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
    body = read_checkpoint(path)
    manifest = decode_manifest(body.get("manifest"), str(path))
    out = {k: v for k, v in body.items() if k != "manifest"}
    out["manifest"] = [
        {"path": e.path, "kind": e.kind, "mode": oct(e.mode), "size": e.size,
         "digest": e.digest, "target": e.target} for e in manifest]
    return _jsonable(out)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj
