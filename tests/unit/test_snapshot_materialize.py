"""Materializing a manifest into a project: exactness, safety, skipping; object checks and GC."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from supervisor.checkpoint.snapshot import Entry, SnapshotStore
from supervisor.errors import CheckpointCorrupt, CheckpointError
from tests.snapshot_support import tree_state


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "session" / "project"
    (root / "src").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "src" / "main.py").write_text("print('hello')\n")
    (root / "src" / "tool.sh").write_text("#!/bin/sh\n")
    (root / "src" / "tool.sh").chmod(0o755)
    (root / "a.txt").write_text("alpha\n")
    (root / "data" / "table.csv").write_text("a,b\n1,2\n")
    (root / "latest").symlink_to("src/main.py")
    return root


def test_materialize_removes_extras_but_leaves_excluded_names(
    store: SnapshotStore, project: Path
) -> None:
    """Files, dirs and links not in the manifest go; .git and node_modules stay untouched."""
    manifest, _ = store.snapshot(project)
    expected = tree_state(project)
    (project / "extra.txt").write_text("new")
    (project / "newdir" / "deeper").mkdir(parents=True)
    (project / "newdir" / "deeper" / "f").write_text("f")
    (project / "stray_link").symlink_to("a.txt")
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: main")
    (project / "old" / "node_modules" / "lib").mkdir(parents=True)
    (project / "old" / "node_modules" / "lib" / "i.js").write_text("js")
    (project / "old" / "gone.txt").write_text("gone")
    stats = store.materialize(manifest, project)
    after = tree_state(project, skip=(".git", "node_modules"))
    kept = {".git", "old", "old/node_modules"}
    assert {k: v for k, v in after.items() if k not in kept} == expected
    assert kept <= after.keys()
    assert (project / ".git" / "HEAD").read_text() == "ref: main"
    assert (project / "old" / "node_modules" / "lib" / "i.js").read_text() == "js"
    assert not (project / "old" / "gone.txt").exists()
    assert stats.removed >= 5


def test_materialize_restores_changed_deleted_and_retyped_paths(
    store: SnapshotStore, project: Path
) -> None:
    """Edits, deletions, chmods and kind changes are all undone."""
    manifest, _ = store.snapshot(project)
    expected = tree_state(project)
    (project / "a.txt").write_text("edited")
    (project / "src" / "tool.sh").chmod(0o600)
    (project / "data" / "table.csv").unlink()
    (project / "data").rmdir()
    (project / "data").write_text("now a file")
    (project / "latest").unlink()
    (project / "latest").symlink_to("a.txt")
    (project / "src" / "main.py").unlink()
    (project / "src" / "main.py").mkdir()
    store.materialize(manifest, project)
    assert tree_state(project) == expected


def test_identical_files_are_not_rewritten(store: SnapshotStore, project: Path) -> None:
    """Materializing over an identical tree writes nothing; a chmod-only change is a chmod."""
    manifest, _ = store.snapshot(project)
    inode = (project / "a.txt").stat().st_ino
    stats = store.materialize(manifest, project)
    assert stats.files_written == 0 and stats.files_kept == 4
    assert stats.files_hashed == 0  # the stat cache vouched for them
    (project / "a.txt").chmod(0o600)
    stats = store.materialize(manifest, project)
    assert stats.files_written == 0 and stats.modes_fixed == 1
    assert (project / "a.txt").stat().st_ino == inode
    assert stat.S_IMODE((project / "a.txt").stat().st_mode) == 0o644


def test_without_stat_cache_same_content_is_found_by_hashing(
    store: SnapshotStore, project: Path, tmp_path: Path
) -> None:
    """Into another tree (no stat cache), equal-size files are hashed and kept if equal."""
    manifest, _ = store.snapshot(project)
    other = tmp_path / "copy"
    store.materialize(manifest, other)
    (other / "a.txt").write_text("ALPHA\n")  # same size, other bytes
    stats = store.materialize(manifest, other)
    assert stats.files_written == 1 and stats.files_kept == 3 and stats.files_hashed == 4
    assert (other / "a.txt").read_text() == "alpha\n"


def test_symlinks_in_the_project_pointing_outside_are_replaced_not_followed(
    store: SnapshotStore, project: Path, tmp_path: Path
) -> None:
    """A link where a dir or file belongs is replaced; nothing outside the project changes."""
    manifest, _ = store.snapshot(project)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "table.csv").write_text("precious")
    (outside / "file.txt").write_text("precious file")
    (project / "data" / "table.csv").unlink()
    (project / "data").rmdir()
    (project / "data").symlink_to(outside)  # a dir of the manifest is now a link outside
    (project / "a.txt").unlink()
    (project / "a.txt").symlink_to(outside / "file.txt")  # so is a file
    before = tree_state(outside)
    store.materialize(manifest, project)
    assert tree_state(outside) == before
    assert not (project / "data").is_symlink() and (project / "data").is_dir()
    assert not (project / "a.txt").is_symlink()
    assert (project / "a.txt").read_text() == "alpha\n"


def test_unsafe_manifest_is_refused_before_anything_is_written(
    store: SnapshotStore, project: Path, tmp_path: Path
) -> None:
    """A manifest with '..' or an escaping link raises and leaves both trees as they were."""
    manifest, _ = store.snapshot(project)
    good = next(e for e in manifest if e.kind == "file")
    before = tree_state(tmp_path)
    for bad in (
        Entry("../evil.txt", "file", 0o644, good.size, good.digest),
        Entry("/tmp/evil.txt", "file", 0o644, good.size, good.digest),
        Entry("esc", "symlink", 0o777, target="../../outside"),
    ):
        with pytest.raises(CheckpointCorrupt):
            store.materialize([*manifest, bad], project)
    assert tree_state(tmp_path) == before


def test_missing_object_is_refused_before_anything_is_written(
    store: SnapshotStore, project: Path
) -> None:
    """If an object is missing the restore stops first and names the file that needs it."""
    manifest, _ = store.snapshot(project)
    (project / "a.txt").write_text("changed")
    victim = next(e for e in manifest if e.path == "src/main.py")
    os.unlink(store.object_path(victim.digest or ""))
    with pytest.raises(CheckpointCorrupt, match="src/main.py"):
        store.materialize(manifest, project)
    assert (project / "a.txt").read_text() == "changed"


def test_read_only_directories_round_trip(
    store: SnapshotStore, project: Path, tmp_path: Path
) -> None:
    """A 0o555 directory is restored with its contents and its mode, and restored over."""
    (project / "data").chmod(0o555)
    manifest, _ = store.snapshot(project)
    out = tmp_path / "out"
    store.materialize(manifest, out)
    assert tree_state(out) == tree_state(project)
    (project / "data").chmod(0o755)
    (project / "data" / "table.csv").write_text("changed")
    (project / "data" / "extra").write_text("extra")
    store.materialize(manifest, project)
    assert tree_state(project) == tree_state(out)


def test_verify_objects_reports_missing_damaged_and_short_objects(
    store: SnapshotStore, project: Path
) -> None:
    """verify_objects names each file whose object is missing, the wrong size or damaged."""
    manifest, _ = store.snapshot(project)
    assert store.verify_objects(manifest) == []
    by_path = {e.path: e for e in manifest}
    os.unlink(store.object_path(by_path["a.txt"].digest or ""))
    damaged = Path(store.object_path(by_path["src/main.py"].digest or ""))
    damaged.chmod(0o644)
    data = bytearray(damaged.read_bytes())
    data[0] ^= 1
    damaged.write_bytes(bytes(data))
    short = Path(store.object_path(by_path["data/table.csv"].digest or ""))
    short.chmod(0o644)
    short.write_bytes(b"a")
    problems = sorted(store.verify_objects(manifest))
    assert len(problems) == 3
    assert problems[0].startswith("a.txt:") and "missing" in problems[0]
    assert problems[1].startswith("data/table.csv:") and "expected" in problems[1]
    assert problems[2].startswith("src/main.py:") and "damaged" in problems[2]
    assert len(store.verify_objects(manifest, check_hashes=False)) == 2


def test_collect_garbage_removes_only_unreferenced_objects(
    store: SnapshotStore, project: Path
) -> None:
    """GC deletes objects outside the keep set, keeps the rest, and the cache forgets them."""
    first, _ = store.snapshot(project)
    (project / "a.txt").write_text("second version\n")
    second, _ = store.snapshot(project)
    keep = {e.digest for e in second if e.digest}
    old = next(e for e in first if e.path == "a.txt").digest or ""
    removed, freed = store.collect_garbage(keep)
    assert (removed, freed) == (1, len("alpha\n"))
    assert not os.path.exists(store.object_path(old))
    assert store.verify_objects(second) == []
    (project / "a.txt").write_text("alpha\n")  # the collected content comes back
    third, stats = store.snapshot(project)
    assert stats.objects_new == 1 and store.verify_objects(third) == []


def test_collect_garbage_makes_the_cache_forget_collected_files(
    store: SnapshotStore, project: Path
) -> None:
    """Files whose objects were collected are hashed again, so their objects come back."""
    manifest, _ = store.snapshot(project)
    removed, _ = store.collect_garbage(set())
    assert removed == 4
    again, stats = store.snapshot(project)
    assert stats.files_hashed == 4 and store.verify_objects(again) == []


def test_unsorted_manifest_and_symlinked_project_root(
    store: SnapshotStore, project: Path, tmp_path: Path
) -> None:
    """Entries may come in any order; a project path that is itself a link is refused."""
    manifest, _ = store.snapshot(project)
    out = tmp_path / "out"
    store.materialize(list(reversed(manifest)), out)
    assert tree_state(out) == tree_state(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "linked").symlink_to(elsewhere)
    with pytest.raises(CheckpointError, match="symbolic link"):
        store.materialize(manifest, tmp_path / "linked")
    assert list(elsewhere.iterdir()) == []
