"""Snapshots after the first list only what inotify saw change, and still equal a full walk."""

from __future__ import annotations

import hashlib
import mmap
import os
import random
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.checkpoint import snapshot as snapshot_mod
from supervisor.checkpoint import tree as tree_mod
from supervisor.checkpoint import watch as watch_mod
from supervisor.checkpoint.manifest import link_escapes
from supervisor.checkpoint.snapshot import DEFAULT_EXCLUDES, Entry, SnapshotStore


def truth(project: Path) -> list[Entry]:
    """The manifest of ``project`` computed independently: os.walk, lstat, hashlib."""
    out: list[Entry] = []
    links: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = [d for d in dirnames if d not in DEFAULT_EXCLUDES]
        for name in dirnames + filenames:
            if name in DEFAULT_EXCLUDES:
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(project).as_posix()
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                links[rel] = os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(rel, "dir", stat.S_IMODE(st.st_mode)))
            else:
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                out.append(Entry(rel, "file", stat.S_IMODE(st.st_mode), len(data), digest))
    for rel, target in links.items():
        if link_escapes(rel, target, links) is None:
            out.append(Entry(rel, "symlink", 0o777, target=target))
    return sorted(out, key=lambda e: e.path)


class Counter:
    """Counts directory listings (TreeScan.scan_dir calls) and full walks from the root."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.listed: list[str] = []
        self.patched: list[str] = []
        self.full = 0
        scan_dir, walk = tree_mod.TreeScan.scan_dir, tree_mod.TreeScan.walk
        patch_dir = tree_mod.TreeScan.patch_dir

        def counting_patch(
            scan: tree_mod.TreeScan, prev: tree_mod.DirNode, mode: int, names: set[str]
        ) -> object:
            self.patched.append(prev.entry.path if prev.entry else "")
            return patch_dir(scan, prev, mode, names)

        def counting_scan(scan: tree_mod.TreeScan, rel: str, mode: int) -> object:
            self.listed.append(rel)
            return scan_dir(scan, rel, mode)

        def counting_walk(scan: tree_mod.TreeScan, rel: str = "", mode: int = -1) -> None:
            self.full += rel == ""
            walk(scan, rel, mode)

        monkeypatch.setattr(tree_mod.TreeScan, "scan_dir", counting_scan)
        monkeypatch.setattr(tree_mod.TreeScan, "walk", counting_walk)
        monkeypatch.setattr(tree_mod.TreeScan, "patch_dir", counting_patch)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for d in range(6):
        for f in range(5):
            path = root / f"d{d}" / f"f{f}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{d}/{f}\n")
    (root / "d0" / "sub" / "deeper").mkdir(parents=True)
    (root / "d0" / "sub" / "deeper" / "x.py").write_text("x = 1\n")
    (root / "link").symlink_to("d1/f1.txt")
    return root


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SnapshotStore]:
    s = SnapshotStore(tmp_path / "snapshots", durable=False)
    yield s
    s.close()


pytestmark = pytest.mark.skipif(watch_mod._LIBC is None, reason="needs Linux inotify")  # noqa: SLF001 - skip where there is no inotify


def test_unchanged_tree_lists_nothing(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no inotify event since the last snapshot, no directory is even listed."""
    first, _ = store.snapshot(project)
    counter = Counter(monkeypatch)
    second, stats = store.snapshot(project)
    assert counter.listed == counter.patched == [] and second == first and stats.files == 31


def test_one_changed_file_is_all_that_is_looked_at(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing one file looks at that file only: its directory is patched, not listed."""
    store.snapshot(project)
    counter = Counter(monkeypatch)
    (project / "d3" / "f2.txt").write_text("changed content\n")
    manifest, stats = store.snapshot(project)
    assert counter.patched == ["d3"] and counter.listed == [] and counter.full == 0
    assert stats.files_hashed == 1
    assert manifest == truth(project)


def _random_change(rng: random.Random, root: Path, outside: Path, n: int) -> None:  # noqa: C901 - one branch per kind of random change the property test makes
    dirs = [p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()]
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    links = [p for p in root.rglob("*") if p.is_symlink()]
    op = rng.randrange(16)
    if op == 0 or not files:
        (rng.choice([root, *dirs]) / f"new{n}.txt").write_text(f"new {n}\n" * rng.randrange(3))
    elif op == 1:  # same size, other bytes
        f = rng.choice(files)
        data = f.read_bytes()
        f.write_bytes(bytes(b ^ 1 for b in data) if data else b"")
    elif op == 2:
        with open(rng.choice(files), "a") as fh:
            fh.write("more\n")
    elif op == 3:
        rng.choice(files).chmod(rng.choice([0o600, 0o644, 0o755]))
    elif op == 4:
        rng.choice(files).unlink()
    elif op == 5:
        (rng.choice([root, *dirs]) / f"dir{n}" / "inner").mkdir(parents=True)
    elif op == 6 and dirs:
        shutil.rmtree(rng.choice(dirs))
    elif op == 7:
        rng.choice(files).rename(rng.choice([root, *dirs]) / f"moved{n}.txt")
    elif op == 8 and dirs:
        src = rng.choice(dirs)
        dst_parent = rng.choice([root, *[d for d in dirs if src not in d.parents and d != src]])
        src.rename(dst_parent / f"renamed{n}")
    elif op == 9:
        f = rng.choice(files)
        f.unlink()
        f.mkdir()
        (f / "was_a_file").write_text("now a dir\n")
    elif op == 10 and dirs:
        d = rng.choice(dirs)
        shutil.rmtree(d)
        d.write_text("was a dir\n")
    elif op == 11:
        (rng.choice([root, *dirs]) / f"ln{n}").symlink_to(rng.choice(["f0.txt", "../d2", "x"]))
    elif op == 12 and links:
        link = rng.choice(links)
        link.unlink()
        link.symlink_to(f"retarget{n}")
    elif op == 13 and dirs:
        rng.choice(dirs).chmod(rng.choice([0o700, 0o755, 0o750]))
    elif op == 14:  # a tree made elsewhere and moved in whole
        made = outside / f"made{n}"
        (made / "a" / "b").mkdir(parents=True)
        (made / "a" / "b" / "c.txt").write_text("moved in\n")
        made.rename(rng.choice([root, *dirs]) / f"in{n}")
    elif op == 15 and dirs:
        rng.choice(dirs).rename(outside / f"out{n}")
    else:
        (root / "node_modules" / f"pkg{n}").mkdir(parents=True, exist_ok=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_match_a_full_walk(
    store: SnapshotStore, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Rounds of every kind of change: each incremental manifest equals a fresh full one."""
    rng = random.Random(seed)
    outside = tmp_path / "outside"
    outside.mkdir()
    store.snapshot(project)
    counter = Counter(monkeypatch)
    n = 0
    for _ in range(20):
        for _ in range(rng.randrange(1, 5)):
            n += 1
            _random_change(rng, project, outside, n)
        manifest, _ = store.snapshot(project)
        assert manifest == truth(project)
        assert store.verify_objects(manifest) == []
    assert counter.full == 0  # every one of them was incremental


def test_lost_track_falls_back_to_a_full_walk(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a queue overflow (or any doubt) the next snapshot walks everything."""
    store.snapshot(project)
    counter = Counter(monkeypatch)
    store.watcher.lost = True
    (project / "d1" / "f1.txt").write_text("changed\n")
    manifest, _ = store.snapshot(project)
    assert counter.full == 1 and manifest == truth(project)


def test_periodic_full_walk_catches_writes_through_mmap(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write through a shared mmap raises no inotify event; the periodic full walk sees it."""
    monkeypatch.setattr(store, "full_walk_every", 1)
    store.snapshot(project)
    target = project / "d4" / "f4.txt"
    with open(target, "r+b") as fh, mmap.mmap(fh.fileno(), 0) as mm:
        mm[0:1] = b"X"
        mm.flush()
    counter = Counter(monkeypatch)
    store.snapshot(project)  # incremental: may not see it
    manifest, _ = store.snapshot(project)  # the periodic full walk
    assert counter.full == 1
    assert manifest == truth(project)


def test_without_inotify_every_snapshot_walks(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where inotify is unavailable snapshots are full walks and still correct."""
    monkeypatch.setattr(watch_mod, "_LIBC", None)
    store.close()
    store.snapshot(project)
    counter = Counter(monkeypatch)
    (project / "d2" / "f0.txt").unlink()
    manifest, stats = store.snapshot(project)
    assert counter.full == 1 and stats.files_hashed == 0
    assert manifest == truth(project)


def test_materialize_and_gc_make_the_next_snapshot_walk(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restoring into the project, or collecting cached objects, forces a full walk."""
    first, _ = store.snapshot(project)
    (project / "d0" / "f0.txt").write_text("edited\n")
    store.snapshot(project)
    counter = Counter(monkeypatch)
    store.materialize(first, project)
    assert store.snapshot(project)[0] == first
    store.collect_garbage(set())
    again, stats = store.snapshot(project)
    assert counter.full == 2 and again == first and stats.objects_new == 31


def test_snapshot_of_another_root_or_excludes_walks_fully(
    store: SnapshotStore, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree is reused only for the same root and the same excludes."""
    store.snapshot(project)
    counter = Counter(monkeypatch)
    manifest, _ = store.snapshot(project, excludes=("d1",))
    assert counter.full == 1 and not any(e.path.startswith("d1") for e in manifest)
    other = tmp_path / "other"
    (other / "z").mkdir(parents=True)
    assert [e.path for e in store.snapshot(other)[0]] == ["z"]
    assert counter.full == 2


def test_racy_rewrite_in_the_same_tick_is_not_missed(store: SnapshotStore, tmp_path: Path) -> None:
    """Same-size rewrites right after a snapshot are seen (the stat cache never trusts them)."""
    project = tmp_path / "p"
    project.mkdir()
    target = project / "a.txt"
    for i in range(20):
        target.write_text(f"v{i % 10}\n")
        manifest, _ = store.snapshot(project)
        assert manifest == truth(project)


def test_snapshot_module_uses_the_watcher(store: SnapshotStore) -> None:
    """The store owns a DirWatcher (so the lead can close it with the store)."""
    assert isinstance(store.watcher, snapshot_mod.DirWatcher)


def test_many_changes_in_one_directory_list_it_whole(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 64 changed names a directory is listed again rather than patched name by name."""
    store.snapshot(project)
    counter = Counter(monkeypatch)
    for i in range(80):
        (project / "d5" / f"burst{i}.txt").write_text(str(i))
    manifest, _ = store.snapshot(project)
    assert counter.listed == ["d5"] and counter.patched == []
    assert manifest == truth(project)


def test_a_failed_snapshot_fails_loudly_and_the_next_one_walks(
    store: SnapshotStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full while storing raises CheckpointError; the next snapshot walks and is right."""
    from supervisor.checkpoint.objects import ObjectStore
    from supervisor.errors import CheckpointError

    store.snapshot(project)
    (project / "d1" / "f0.txt").write_text("needs storing\n")

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(ObjectStore, "_new", full)
        with pytest.raises(CheckpointError, match="cannot store an object: .*No space left"):
            store.snapshot(project)
    counter = Counter(monkeypatch)
    manifest, _ = store.snapshot(project)
    assert counter.full == 1 and manifest == truth(project)
