"""Snapshots of a project tree: what is recorded, incrementality, round trips through restore."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgpack
import pytest

from supervisor.checkpoint import objects as objects_mod
from supervisor.checkpoint.snapshot import DEFAULT_EXCLUDES, Entry, SnapshotStore
from tests.snapshot_support import FAR_FUTURE, tree_state


def make_tree(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "empty" / "nested_empty").mkdir(parents=True)
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "secret.txt").write_text("s3cret")
    (root / "secret.txt").chmod(0o600)
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "src" / "pkg" / "mod.py").chmod(0o644)
    (root / "src" / "empty_file").write_bytes(b"")
    (root / "src" / "ünïcødé ✓.txt").write_text("unicode\n")
    (root / "src" / "link_to_mod").symlink_to("pkg/mod.py")
    (root / "src" / "pkg" / "up").symlink_to("../../run.sh")
    (root / "dangling").symlink_to("does/not/exist")


def test_round_trip_keeps_content_modes_links_and_empty_dirs(
    store: SnapshotStore, tmp_path: Path
) -> None:
    """Restoring a snapshot into an empty dir gives the same tree byte for byte."""
    project = tmp_path / "project"
    make_tree(project)
    manifest, stats = store.snapshot(project)
    assert stats.files == 5 and stats.links == 3 and stats.dirs == 4
    out = tmp_path / "restored"
    store.materialize(manifest, out)
    assert tree_state(out) == tree_state(project)
    modes = {e.path: e.mode for e in manifest}
    assert modes["run.sh"] == 0o755 and modes["secret.txt"] == 0o600
    assert next(e for e in manifest if e.path == "dangling").target == "does/not/exist"


def test_manifest_is_sorted_parents_first(store: SnapshotStore, tmp_path: Path) -> None:
    """The manifest is sorted by path, so every directory comes before what it holds."""
    project = tmp_path / "project"
    make_tree(project)
    manifest, _ = store.snapshot(project)
    paths = [e.path for e in manifest]
    assert paths == sorted(paths)
    assert paths.index("src") < paths.index("src/pkg") < paths.index("src/pkg/mod.py")


def test_two_thousand_small_files_round_trip(store: SnapshotStore, tmp_path: Path) -> None:
    """2,000 small files in 40 dirs survive a snapshot and restore unchanged."""
    project = tmp_path / "project"
    for i in range(2000):
        path = project / f"d{i % 40:02d}" / f"f{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"file {i}\n".encode() * (i % 7))
    manifest, stats = store.snapshot(project)
    assert stats.files == 2000 and stats.files_hashed == 2000
    out = tmp_path / "restored"
    store.materialize(manifest, out)
    assert tree_state(out) == tree_state(project)


def test_file_replaced_by_dir_and_dir_by_file_across_snapshots(
    store: SnapshotStore, tmp_path: Path
) -> None:
    """A path that changes kind between snapshots restores to either state exactly."""
    project = tmp_path / "project"
    (project / "y").mkdir(parents=True)
    (project / "x").write_text("x is a file")
    (project / "y" / "inner.txt").write_text("inside y")
    first, _ = store.snapshot(project)
    state1 = tree_state(project)
    (project / "x").unlink()
    (project / "x").mkdir()
    (project / "x" / "now.txt").write_text("x is a dir")
    (project / "y" / "inner.txt").unlink()
    (project / "y").rmdir()
    (project / "y").write_text("y is a file")
    second, _ = store.snapshot(project)
    state2 = tree_state(project)
    store.materialize(first, project)
    assert tree_state(project) == state1
    store.materialize(second, project)
    assert tree_state(project) == state2


def test_unchanged_tree_hashes_nothing(store: SnapshotStore, tmp_path: Path) -> None:
    """A second snapshot of an unchanged tree reads no file and gives the same manifest."""
    project = tmp_path / "project"
    make_tree(project)
    first, _ = store.snapshot(project)
    second, stats = store.snapshot(project)
    assert stats.files_hashed == 0 and stats.objects_new == 0
    assert second == first


def test_one_changed_file_hashes_one(store: SnapshotStore, tmp_path: Path) -> None:
    """Changing one file makes the next snapshot read exactly that file."""
    project = tmp_path / "project"
    make_tree(project)
    first, _ = store.snapshot(project)
    (project / "src" / "pkg" / "mod.py").write_text("x = 2  # changed\n")
    second, stats = store.snapshot(project)
    assert stats.files_hashed == 1 and stats.objects_new == 1
    changed = [b.path for a, b in zip(first, second, strict=True) if a != b]
    assert changed == ["src/pkg/mod.py"]


def test_mode_change_alone_is_seen(store: SnapshotStore, tmp_path: Path) -> None:
    """A chmod with the content untouched changes the entry's mode, not its object."""
    project = tmp_path / "project"
    make_tree(project)
    store.snapshot(project)
    (project / "secret.txt").chmod(0o640)
    manifest, stats = store.snapshot(project)
    assert next(e for e in manifest if e.path == "secret.txt").mode == 0o640
    assert stats.objects_new == 0


def test_identical_content_is_stored_once(store: SnapshotStore, tmp_path: Path) -> None:
    """Fifty files with the same bytes make one object."""
    project = tmp_path / "project"
    project.mkdir()
    for i in range(50):
        (project / f"copy{i}.txt").write_text("same bytes\n")
    manifest, stats = store.snapshot(project)
    assert stats.files == 50 and stats.objects_new == 1
    assert len({e.digest for e in manifest}) == 1
    objects = [p for p in (store.root / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 1


def test_default_excludes_and_globs_are_honoured(store: SnapshotStore, tmp_path: Path) -> None:
    """Excluded names match any path component; globs and path globs are accepted."""
    project = tmp_path / "project"
    for rel in (
        ".git/HEAD",
        "a/node_modules/x/index.js",
        "b/c/__pycache__/m.pyc",
        ".venv/bin/python",
        ".cache/k",
        "keep/mod.py",
        "keep/mod.pyc",
        "build/out/a.o",
        "build/keep.txt",
    ):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(rel)
    manifest, _ = store.snapshot(project, (*DEFAULT_EXCLUDES, "*.pyc", "build/out"))
    paths = {e.path for e in manifest}
    assert paths == {"a", "b", "b/c", "keep", "keep/mod.py", "build", "build/keep.txt"}


def test_links_escaping_the_project_are_left_out_and_reported(
    store: SnapshotStore, tmp_path: Path
) -> None:
    """Absolute links and links climbing out are never recorded (restore would refuse them)."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "abs").symlink_to("/etc/passwd")
    (project / "sub" / "out").symlink_to("../../outside")
    (project / "sub" / "fine").symlink_to("../abs_target")
    manifest, stats = store.snapshot(project)
    assert {e.path for e in manifest} == {"sub", "sub/fine"}
    skipped = dict(stats.skipped)
    assert "absolute" in skipped["abs"] and "climbs out" in skipped["sub/out"]


def test_special_files_are_skipped(store: SnapshotStore, tmp_path: Path) -> None:
    """A fifo is neither read (which would block) nor recorded."""
    project = tmp_path / "project"
    project.mkdir()
    os.mkfifo(project / "pipe")
    (project / "a.txt").write_text("a")
    manifest, stats = store.snapshot(project)
    assert [e.path for e in manifest] == ["a.txt"]
    assert stats.skipped[0][0] == "pipe"


def test_stat_cache_survives_a_new_process(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh store on the same directory (a resumed supervisor) stays incremental."""
    project = tmp_path / "project"
    make_tree(project)
    first, _ = store.snapshot(project)
    again = SnapshotStore(store.root, durable=False)
    monkeypatch.setattr(again, "fs_now_ns", lambda: FAR_FUTURE)
    second, stats = again.snapshot(project)
    assert stats.files_hashed == 0 and second == first


def test_stat_cache_entry_with_a_lost_object_is_not_trusted(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a crash that lost an object, the cold-loaded cache re-reads that file."""
    project = tmp_path / "project"
    make_tree(project)
    manifest, _ = store.snapshot(project)
    victim = next(e for e in manifest if e.path == "secret.txt")
    os.unlink(store.object_path(victim.digest or ""))
    again = SnapshotStore(store.root, durable=False)
    monkeypatch.setattr(again, "fs_now_ns", lambda: FAR_FUTURE)
    _, stats = again.snapshot(project)
    assert stats.files_hashed == 1 and stats.objects_new == 1
    assert os.path.exists(store.object_path(victim.digest or ""))


def test_damaged_stat_cache_only_costs_a_rehash(store: SnapshotStore, tmp_path: Path) -> None:
    """A garbage stat cache file is ignored: every file is hashed again, nothing fails."""
    project = tmp_path / "project"
    make_tree(project)
    first, _ = store.snapshot(project)
    store.statcache.path.write_bytes(b"\xc1 not msgpack")
    again = SnapshotStore(store.root, durable=False)
    second, stats = again.snapshot(project)
    assert stats.files_hashed == 5 and second == first


def test_racy_files_are_hashed_again(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file changed in the clock tick the snapshot began is not trusted to the cache."""
    project = tmp_path / "project"
    make_tree(project)
    monkeypatch.setattr(store, "fs_now_ns", lambda: 0)  # every file looks just-modified
    store.snapshot(project)
    store.forget_tree()  # as a resumed process would: walk and consult the stat cache
    _, stats = store.snapshot(project)
    assert stats.files_hashed == 5


def test_file_growing_during_read_is_read_again(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that changes while read once is re-read and recorded as it ended up."""
    project = tmp_path / "project"
    project.mkdir()
    target = project / "log.txt"
    target.write_text("first part\n")
    real_read, grown = os.read, list[bool]()

    def read(fd: int, n: int) -> bytes:
        if not grown and os.fstat(fd).st_ino == target.stat().st_ino:
            grown.append(True)
            with open(target, "a") as fh:
                fh.write("appended while reading\n")
        return real_read(fd, n)

    monkeypatch.setattr(objects_mod.os, "read", read)
    manifest, stats = store.snapshot(project)
    monkeypatch.setattr(objects_mod.os, "read", real_read)
    final = target.read_bytes()
    assert manifest[0].digest == hashlib.sha256(final).hexdigest()
    assert manifest[0].size == len(final) and not stats.skipped


def test_file_that_never_holds_still_is_recorded_consistently_and_not_cached(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file changing on every read is stored as read (hash matches object) and re-read later."""
    project = tmp_path / "project"
    project.mkdir()
    target = project / "busy.txt"
    target.write_text("0")
    real_read = os.read
    ino = target.stat().st_ino

    def read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        if data and os.fstat(fd).st_ino == ino:
            with open(target, "a") as fh:
                fh.write("+")
        return data

    monkeypatch.setattr(objects_mod.os, "read", read)
    manifest, _ = store.snapshot(project)
    monkeypatch.setattr(objects_mod.os, "read", real_read)
    entry = manifest[0]
    stored = Path(store.object_path(entry.digest or "")).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == entry.digest and len(stored) == entry.size
    _, stats = store.snapshot(project)
    assert stats.files_hashed == 1


def test_file_vanishing_before_read_is_skipped(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file deleted between the directory listing and the read is left out, no crash."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "stays.txt").write_text("stays")
    (project / "goes.txt").write_text("goes")
    real_open = os.open

    def open_(path: str, flags: int, *args: int, **kw: int) -> int:
        if str(path).endswith("goes.txt"):
            os.unlink(path)
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(objects_mod.os, "open", open_)
    manifest, stats = store.snapshot(project)
    assert [e.path for e in manifest] == ["stays.txt"]
    assert stats.skipped == [("goes.txt", "vanished during the snapshot")]


def test_large_file_streams_into_the_store(store: SnapshotStore, tmp_path: Path) -> None:
    """A file over the in-memory limit is hashed while copied and stored intact."""
    project = tmp_path / "project"
    project.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)
    (project / "big.bin").write_bytes(data)
    manifest, stats = store.snapshot(project)
    assert manifest == [
        Entry("big.bin", "file", manifest[0].mode, len(data), hashlib.sha256(data).hexdigest())
    ]
    assert Path(store.object_path(manifest[0].digest or "")).read_bytes() == data
    assert stats.bytes_new == len(data)


def test_project_that_is_not_a_directory_is_refused(store: SnapshotStore, tmp_path: Path) -> None:
    """Snapshotting a missing project raises a CheckpointError naming it."""
    from supervisor.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not a directory"):
        store.snapshot(tmp_path / "nope")


def test_stat_cache_changes_are_appended_and_reloaded(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small change appends to the cache log (no rewrite); a new process sees it all."""
    project = tmp_path / "project"
    make_tree(project)
    store.snapshot(project)
    base = store.statcache.path.read_bytes()
    (project / "src" / "pkg" / "mod.py").write_text("x = 3  # changed again\n")
    (project / "secret.txt").unlink()
    second, _ = store.snapshot(project)
    assert store.statcache.path.read_bytes() == base
    assert store.statcache.log_path.stat().st_size > 0
    again = SnapshotStore(store.root, durable=False)
    monkeypatch.setattr(again, "fs_now_ns", lambda: FAR_FUTURE)
    third, stats = again.snapshot(project)
    assert stats.files_hashed == 0 and third == second
    assert "secret.txt" not in again.statcache.entries


def test_stat_cache_log_with_a_torn_tail_or_old_generation_is_tolerated(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A torn last record, or records of an older base, are ignored on load."""
    project = tmp_path / "project"
    make_tree(project)
    store.snapshot(project)
    (project / "run.sh").write_text("#!/bin/sh\necho changed\n")
    store.snapshot(project)
    log = store.statcache.log_path
    log.write_bytes(log.read_bytes() + b"\x93\x01\xa3se")  # a record cut short
    stale = msgpack.packb([0, "del", "src/pkg/mod.py"])  # generation 0: before the base
    log.write_bytes(stale + log.read_bytes())
    again = SnapshotStore(store.root, durable=False)
    monkeypatch.setattr(again, "fs_now_ns", lambda: FAR_FUTURE)
    _, stats = again.snapshot(project)
    assert stats.files_hashed == 0


@pytest.mark.parametrize("tmpfile", [True, False])
def test_objects_are_written_with_or_without_o_tmpfile(
    store: SnapshotStore, tmp_path: Path, tmpfile: bool
) -> None:
    """Small and streamed objects land intact whether or not O_TMPFILE is used."""
    store.objects._tmpfile = tmpfile and hasattr(os, "O_TMPFILE")  # noqa: SLF001 - both object-writing paths, with and without O_TMPFILE
    project = tmp_path / "project"
    project.mkdir()
    small, big = b"small\n" * 10, os.urandom(2 * 1024 * 1024 + 3)
    (project / "s").write_bytes(small)
    (project / "b").write_bytes(big)
    (project / "s2").write_bytes(small)
    manifest, stats = store.snapshot(project)
    assert stats.objects_new == 2 and store.verify_objects(manifest) == []
    assert list((store.root / "tmp").iterdir()) == []
