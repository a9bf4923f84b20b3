"""The checkpoint files of a session (``<session>/checkpoints/checkpoint_NNN.msgpack``):
numbering, listing, verification, retention and garbage collection of snapshot objects.

The body of a checkpoint is the runner's; the keys read here are ``number``,
``created_wall``, ``phase``, ``trigger``, ``duration_ms``, ``session_id`` and
``manifest`` (``encode_manifest`` form). A checkpoint is *valid* when its file reads
back whole (header, schema, checksum) and its manifest and those keys are well formed;
``verify_objects=True`` also asks that every object it references is present and
hashes right. Calls are not meant to run concurrently with ``write``/``snapshot``.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.checkpoint.format import (
    FORMAT_NAME,
    SCHEMA_VERSION,
    read_checkpoint,
    write_checkpoint,
)
from supervisor.checkpoint.manifest import Entry, decode_manifest, encode_manifest
from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.errors import CheckpointCorrupt, CheckpointError
from supervisor.session.files import fsync_dir

__all__ = [
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "CheckpointInfo",
    "CheckpointStore",
    "checkpoint_name",
    "decode_manifest",
    "encode_manifest",
    "manifest_of",
    "read_checkpoint",
    "to_json",
    "write_checkpoint",
]

PHASE_COMPLETE = "phase_complete"
_NAME = re.compile(r"checkpoint_(\d{3,})\.msgpack")


def checkpoint_name(number: int) -> str:
    """checkpoint_001.msgpack ... checkpoint_999.msgpack, checkpoint_1000.msgpack ..."""
    return f"checkpoint_{number:03d}.msgpack"


@dataclass
class CheckpointInfo:
    number: int
    path: Path
    created_wall: float | None = None
    phase: str | None = None
    trigger: str | None = None
    files: int | None = None
    size_bytes: int = 0
    duration_ms: float | None = None
    valid: bool = False
    error: str | None = None
    session_id: str | None = None


def manifest_of(body: dict[str, Any], where: str) -> list[Entry]:
    """The decoded, validated manifest of a checkpoint body."""
    if "manifest" not in body:
        raise CheckpointCorrupt(where, "the body has no manifest")
    return decode_manifest(body["manifest"], where)


def _field(body: dict[str, Any], key: str, types: tuple[type, ...], where: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, types) or isinstance(value, bool):
        names = " or ".join(t.__name__ for t in types)
        raise CheckpointCorrupt(where, f"field {key!r} must be {names}, got {value!r:.60}")
    return value


def _fill(info: CheckpointInfo, body: dict[str, Any], manifest: list[Entry] | None) -> None:
    """Copy the keys the store reads into ``info``, refusing wrong types."""
    where = str(info.path)
    _field(body, "number", (int,), where)
    wall = _field(body, "created_wall", (int, float), where)
    info.created_wall = None if wall is None else float(wall)
    info.phase = _field(body, "phase", (str,), where)
    info.trigger = _field(body, "trigger", (str,), where)
    duration = _field(body, "duration_ms", (int, float), where)
    info.duration_ms = None if duration is None else float(duration)
    info.session_id = _field(body, "session_id", (str,), where)
    if manifest is not None:
        info.files = sum(1 for e in manifest if e.kind == "file")
    else:  # rows we encoded ourselves: count without decoding
        info.files = sum(1 for row in body.get("manifest") or () if row[1] == 0)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(body: dict[str, Any], where: str) -> dict[str, Any]:
    """A checkpoint body as JSON-able data: the manifest spelled out, bytes as hex."""
    out: dict[str, Any] = {"format": FORMAT_NAME, "schema": SCHEMA_VERSION}
    for key, value in body.items():
        if key == "manifest":
            out[key] = [
                {
                    "path": e.path,
                    "kind": e.kind,
                    "mode": f"0o{e.mode:o}",
                    "size": e.size,
                    "sha256": e.digest,
                    "target": e.target,
                }
                for e in manifest_of(body, where)
            ]
        else:
            out[key] = _jsonable(value)
    return out


class CheckpointStore:
    """The checkpoint files of one session and the snapshot store they reference."""

    def __init__(self, checkpoints_dir: Path, snapshots: SnapshotStore):
        self.dir = Path(checkpoints_dir)
        self.snapshots = snapshots
        # a checkpoint file never changes once written (it is replaced whole, if at all):
        # what reading it told us, by (size, mtime_ns, inode)
        self._seen: dict[Path, tuple[tuple[int, int, int], CheckpointInfo, frozenset[str]]] = {}

    def paths(self) -> list[tuple[int, Path]]:
        """Every checkpoint file, by number."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        found = [(int(m.group(1)), self.dir / n) for n in names if (m := _NAME.fullmatch(n))]
        return sorted(found)

    def next_path(self) -> tuple[int, Path]:
        found = self.paths()
        number = found[-1][0] + 1 if found else 1
        return number, self.dir / checkpoint_name(number)

    def write(self, body: dict[str, Any]) -> CheckpointInfo:
        """Write ``body`` as the next checkpoint (``number`` filled in if absent)."""
        number, path = self.next_path()
        body = {**body, "number": body.get("number", number)}
        self.dir.mkdir(parents=True, exist_ok=True)
        info = CheckpointInfo(number, path, valid=True)
        _fill(info, body, None)
        info.size_bytes = write_checkpoint(path, body)
        return info

    def inspect(
        self, number: int, path: Path, verify_objects: bool = False
    ) -> tuple[CheckpointInfo, dict[str, Any] | None]:
        """Read one checkpoint: its info (valid or not, with the reason) and its body."""
        info = CheckpointInfo(number, path)
        with contextlib.suppress(OSError):
            info.size_bytes = path.stat().st_size
        try:
            body = read_checkpoint(path)
            manifest = manifest_of(body, str(path))
            _fill(info, body, manifest)
        except CheckpointError as exc:
            info.error = exc.reason
            return info, None
        if verify_objects:
            problems = self.snapshots.verify_objects(manifest)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                info.error = problems[0] + more
                return info, body
        info.valid = True
        return info, body

    def verify(self, path: Path) -> list[str]:
        """Everything wrong with one checkpoint file: checksum and every object; [] if fine."""
        m = _NAME.fullmatch(path.name)
        info, body = self.inspect(int(m.group(1)) if m else 0, path, verify_objects=False)
        if body is None:
            return [info.error or "unreadable"]
        return self.snapshots.verify_objects(manifest_of(body, str(path)))

    def show(self, path: Path) -> dict[str, Any]:
        """One checkpoint as JSON-able data (raises if it cannot be read)."""
        return to_json(read_checkpoint(path), str(path))

    def summary(self, number: int, path: Path) -> tuple[CheckpointInfo, frozenset[str]]:
        """Info and referenced digests of one checkpoint, read once per version of the file."""
        try:
            st = path.stat()
            key = (st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            key = (-1, -1, -1)
        seen = self._seen.get(path)
        if seen is not None and seen[0] == key:
            return dataclasses.replace(seen[1]), seen[2]
        info, body = self.inspect(number, path)
        digests: frozenset[str] = frozenset()
        if body is not None and info.valid:
            digests = frozenset(
                e.digest for e in manifest_of(body, str(path)) if e.digest is not None
            )
        if key[0] >= 0:
            self._seen[path] = (key, dataclasses.replace(info), digests)
        return info, digests

    def list(self, verify_objects: bool = False) -> list[CheckpointInfo]:
        """Every checkpoint, by number; invalid ones have ``valid=False`` and the error."""
        if verify_objects:
            return [self.inspect(n, p, True)[0] for n, p in self.paths()]
        return [self.summary(n, p)[0] for n, p in self.paths()]

    def newest_valid(
        self, verify_objects: bool = True
    ) -> tuple[CheckpointInfo, dict[str, Any]] | None:
        """The newest checkpoint that reads back and (by default) has all its objects."""
        for number, path in reversed(self.paths()):
            info, body = self.inspect(number, path, verify_objects)
            if info.valid and body is not None:
                return info, body
        return None

    def apply_retention(self, keep_last: int) -> builtins.list[Path]:
        """Delete old checkpoints, then the objects no remaining checkpoint references.

        Kept: the last ``keep_last`` valid ones, every valid ``phase_complete`` one, and
        always the newest valid one. An invalid file is deleted only once it is older
        than that window (a damaged newest file stays, for inspection). With no valid
        checkpoint at all nothing is deleted.
        """
        read = [self.summary(n, p) for n, p in self.paths()]
        valid = [(i, d) for i, d in read if i.valid]
        if not valid:
            return []
        window = valid[-max(1, keep_last) :]
        floor = window[0][0].number
        keep = {i.number for i, _ in window}
        keep |= {i.number for i, _ in valid if i.trigger == PHASE_COMPLETE}
        doomed = [i.path for i, _ in read if i.number not in keep and (i.valid or i.number < floor)]
        digests: set[str] = set()
        for info, refs in valid:
            if info.number in keep:
                digests |= refs
        deleted: builtins.list[Path] = []
        for path in doomed:
            self._seen.pop(path, None)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted.append(path)
        for stale in self.dir.glob(".checkpoint_*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        if deleted:
            fsync_dir(self.dir)
        self.snapshots.collect_garbage(digests)
        return deleted
