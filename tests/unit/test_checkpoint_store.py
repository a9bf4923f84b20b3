"""CheckpointStore: numbering, listing, verification, newest-valid fallback, retention and GC."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import (
    CheckpointStore,
    checkpoint_name,
    encode_manifest,
    manifest_of,
    read_checkpoint,
    write_checkpoint,
)
from supervisor.errors import CheckpointError


class Session:
    """A tiny session: a project, its snapshot store and checkpoint store."""

    def __init__(self, root: Path):
        self.project = root / "project"
        self.project.mkdir(parents=True)
        (self.project / "fixed.txt").write_text("never changes\n")
        self.snaps = SnapshotStore(root / "snapshots", durable=False)
        self.store = CheckpointStore(root / "checkpoints", self.snaps)
        self.n = 0

    def checkpoint(self, trigger: str = "time", **extra: Any) -> Path:
        """Change the project, snapshot it, write the next checkpoint (or a corrupt one)."""
        self.n += 1
        number, path = self.store.next_path()
        if trigger == "bad":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"MTCKPT\n\x00garbage")
            return path
        (self.project / "version.txt").write_text(f"version {self.n}\n" * self.n)
        manifest, _ = self.snaps.snapshot(self.project)
        body = {
            "number": number,
            "trigger": trigger,
            "phase": "development",
            "created_wall": 1_800_000_000.0 + self.n,
            "duration_ms": 5.0 * self.n,
            "session_id": "s1",
            "manifest": encode_manifest(manifest),
            **extra,
        }
        return self.store.write(body).path

    def numbers(self) -> list[int]:
        return [n for n, _ in self.store.paths()]


@pytest.fixture
def session(tmp_path: Path) -> Session:
    return Session(tmp_path / "session")


def test_numbering_starts_at_one_and_grows_past_999(session: Session) -> None:
    """Files are checkpoint_001.msgpack, _002 ... and the number keeps growing past 999."""
    assert session.store.next_path() == (1, session.store.dir / "checkpoint_001.msgpack")
    session.checkpoint()
    assert session.store.next_path()[0] == 2
    (session.store.dir / "checkpoint_999.msgpack").write_bytes(b"")
    assert session.store.next_path() == (1000, session.store.dir / "checkpoint_1000.msgpack")
    assert checkpoint_name(12345) == "checkpoint_12345.msgpack"
    (session.store.dir / "checkpoint_1000.msgpack").write_bytes(b"")
    (session.store.dir / "notes.txt").write_text("ignored")
    assert session.numbers() == [1, 999, 1000]


def test_list_reports_each_checkpoint_and_why_bad_ones_are_bad(session: Session) -> None:
    """list() gives number, time, phase, trigger, files, size, duration and validity."""
    session.checkpoint("time")
    session.checkpoint("bad")
    session.checkpoint("phase_complete")
    infos = session.store.list()
    assert [(i.number, i.valid) for i in infos] == [(1, True), (2, False), (3, True)]
    first = infos[0]
    assert (first.phase, first.trigger, first.files, first.duration_ms) == (
        "development",
        "time",
        2,
        5.0,
    )
    assert first.created_wall == 1_800_000_001.0 and first.session_id == "s1"
    assert first.size_bytes == first.path.stat().st_size and first.error is None
    assert "truncated" in (infos[1].error or "")


def test_list_with_verify_objects_flags_missing_objects(session: Session) -> None:
    """With verify_objects, a checkpoint whose object is gone is listed invalid with the path."""
    path = session.checkpoint()
    manifest = manifest_of(read_checkpoint(path), str(path))
    victim = next(e for e in manifest if e.path == "version.txt")
    os.unlink(session.snaps.object_path(victim.digest or ""))
    assert session.store.list()[0].valid
    info = session.store.list(verify_objects=True)[0]
    assert (
        not info.valid and "version.txt" in (info.error or "") and "missing" in (info.error or "")
    )


def test_wrongly_typed_body_fields_make_a_checkpoint_invalid(session: Session) -> None:
    """A file whose 'phase' is not a string is listed invalid naming the field; write refuses it."""
    manifest, _ = session.snaps.snapshot(session.project)
    body = {"phase": 3, "manifest": encode_manifest(manifest)}
    with pytest.raises(CheckpointError, match="'phase' must be str"):
        session.store.write(body)
    _, path = session.store.next_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(path, body)
    info = session.store.list()[0]
    assert not info.valid and "'phase' must be str, got 3" in (info.error or "")


def test_body_without_manifest_is_invalid(session: Session) -> None:
    """A checkpoint with no manifest cannot be restored and is listed invalid."""
    _, path = session.store.next_path()
    path.parent.mkdir(parents=True)
    write_checkpoint(path, {"trigger": "time"})
    assert session.store.list()[0].error == "the body has no manifest"


def test_newest_valid_falls_back_over_corrupt_and_incomplete_ones(session: Session) -> None:
    """The newest readable checkpoint with all its objects wins; damaged newer ones are passed."""
    session.checkpoint()
    second = session.checkpoint()
    third = session.checkpoint()
    session.checkpoint("bad")
    manifest = manifest_of(read_checkpoint(third), str(third))
    os.unlink(
        session.snaps.object_path(next(e for e in manifest if e.path == "version.txt").digest or "")
    )
    found = session.store.newest_valid()
    assert found is not None and found[0].path == second
    assert found[1] == read_checkpoint(second)


def test_newest_valid_is_none_without_any_usable_checkpoint(session: Session) -> None:
    """No checkpoints, or only corrupt ones, gives None."""
    assert session.store.newest_valid() is None
    session.checkpoint("bad")
    assert session.store.newest_valid() is None


def test_verify_checks_the_file_and_every_object(session: Session) -> None:
    """verify() is empty for a good checkpoint and names each problem otherwise."""
    path = session.checkpoint()
    assert session.store.verify(path) == []
    manifest = manifest_of(read_checkpoint(path), str(path))
    obj = Path(session.snaps.object_path(manifest[0].digest or ""))
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes()[::-1] + b"!")
    assert len(session.store.verify(path)) == 1
    bad = session.checkpoint("bad")
    assert "truncated" in session.store.verify(bad)[0]


def test_show_is_json_with_the_manifest_spelled_out(session: Session) -> None:
    """show() gives JSON-able data: bytes as hex, manifest rows as named fields."""
    path = session.checkpoint(blob=b"\x01\x02")
    shown = json.loads(json.dumps(session.store.show(path)))
    assert shown["format"] == "megatest-checkpoint" and shown["blob"] == "0102"
    rows = {r["path"]: r for r in shown["manifest"]}
    assert rows["fixed.txt"]["mode"] == "0o644" and len(rows["fixed.txt"]["sha256"]) == 64


@pytest.mark.parametrize(
    "triggers,keep_last,remaining",
    [
        ("time time time time time time", 3, [4, 5, 6]),
        ("time phase_complete time time phase_complete time time", 2, [2, 5, 6, 7]),
        ("time time time time time bad", 2, [4, 5, 6]),  # a damaged newest stays, uncounted
        ("time time bad bad", 1, [2, 3, 4]),
        ("time bad time time time", 2, [4, 5]),  # old damaged files go with their window
        ("time time time", 0, [3]),  # the newest valid one is never deleted
        ("phase_complete time time", 1, [1, 3]),
        ("bad bad", 1, [1, 2]),  # nothing valid: nothing deleted
        ("time time", 5, [1, 2]),
    ],
)
def test_retention_table(
    session: Session, triggers: str, keep_last: int, remaining: list[int]
) -> None:
    """Retention keeps the last N valid, every phase completion and the newest valid one."""
    paths = [session.checkpoint(t) for t in triggers.split()]
    deleted = session.store.apply_retention(keep_last)
    assert session.numbers() == remaining
    assert sorted(deleted) == sorted(p for i, p in enumerate(paths, 1) if i not in remaining)


def test_retention_collects_objects_of_deleted_checkpoints_only(session: Session) -> None:
    """After retention, exactly the objects of the remaining checkpoints are stored."""
    for _ in range(5):
        session.checkpoint()
    session.store.apply_retention(2)
    kept = [manifest_of(read_checkpoint(p), str(p)) for _, p in session.store.paths()]
    wanted = {e.digest for m in kept for e in m if e.digest}
    stored = {
        p.parent.name + p.name for p in (session.snaps.root / "objects").rglob("*") if p.is_file()
    }
    assert stored == wanted and len(wanted) == 3  # fixed.txt + two versions
    for manifest in kept:
        assert session.snaps.verify_objects(manifest) == []
    out = session.project.parent / "restored"
    session.snaps.materialize(kept[0], out)
    assert (out / "version.txt").read_text() == "version 4\n" * 4


def test_retention_removes_stale_temp_files(session: Session) -> None:
    """A temp file left by a crashed write is cleaned up by retention."""
    session.checkpoint()
    stale = session.store.dir / ".checkpoint_002.msgpack.abc.tmp"
    stale.write_bytes(b"half")
    session.store.apply_retention(3)
    assert not stale.exists() and session.numbers() == [1]


def test_write_fills_the_number_and_returns_info(session: Session) -> None:
    """store.write() takes the next number and reports the file it wrote."""
    manifest, _ = session.snaps.snapshot(session.project)
    info = session.store.write({"trigger": "forced", "manifest": encode_manifest(manifest)})
    assert info.number == 1 and info.valid and info.files == 1
    assert read_checkpoint(info.path)["number"] == 1
    assert info.size_bytes == info.path.stat().st_size


def test_listing_reads_each_file_once_until_it_changes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeated list()/retention reuse what a file said; a replaced file is read again."""
    from supervisor.checkpoint import store as store_mod

    first = session.checkpoint()
    session.checkpoint()
    reads: list[Path] = []
    real = store_mod.read_checkpoint

    def counting(path: Path) -> dict[str, Any]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(store_mod, "read_checkpoint", counting)
    assert all(i.valid for i in session.store.list())
    session.store.apply_retention(5)
    assert all(i.valid for i in session.store.list())
    assert len(reads) == 2
    first.write_bytes(first.read_bytes()[:-1])  # a new version of the file: damaged
    infos = session.store.list()
    assert [i.valid for i in infos] == [False, True] and len(reads) == 3
