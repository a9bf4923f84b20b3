"""Incremental, content-addressed snapshots of a project tree.

``SnapshotStore(root)`` (``root`` = ``<session>/snapshots``) keeps file contents in an
object store (``objects.py``: named by sha256, stored once however many files and
checkpoints share them) and a stat cache. The first snapshot walks the tree once with
``os.scandir``; a file whose (size, mtime_ns, inode, ctime_ns) matches the stat cache is
not read again; new or changed files are hashed and stored in a thread pool. Later
snapshots in the same process list again only the directories that inotify saw change
(``watch.py``), and walk everything whenever it cannot vouch for the tree (and every
``full_walk_every`` snapshots, for writes through mmap that inotify does not see).

Symbolic links are recorded as their target text and never followed; empty dirs and
permission bits are kept. A link that points outside the project cannot be restored
safely, so it is left out and reported in ``SnapshotStats.skipped``, as are sockets,
fifos, unreadable files and files that vanished during the walk.

One call at a time per store: the caller serializes snapshot, materialize and GC.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.checkpoint.manifest import Entry, link_escapes, validate_manifest
from supervisor.checkpoint.materialize import MaterializeStats, materialize
from supervisor.checkpoint.objects import CacheValue, Ingested, ObjectStore, StatCache, cache_value
from supervisor.checkpoint.tree import DirNode, Excludes, TreeScan, scan_tree
from supervisor.checkpoint.watch import Changes, DirWatcher
from supervisor.clock import Clock
from supervisor.errors import CheckpointError

__all__ = [
    "DEFAULT_EXCLUDES",
    "Entry",
    "Excludes",
    "SnapshotStats",
    "SnapshotStore",
    "scan_tree",
    "validate_manifest",
]

DEFAULT_EXCLUDES: tuple[str, ...] = (".git", ".venv", "node_modules", "__pycache__", ".cache")
_PATH = operator.attrgetter("path")


@dataclass(slots=True)
class SnapshotStats:
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes_total: int = 0
    files_hashed: int = 0
    bytes_hashed: int = 0
    objects_new: int = 0
    bytes_new: int = 0
    seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


class SnapshotStore:
    """The object store and stat cache of one session (``<session>/snapshots``).

    Checkpoint files are always fsynced; objects are not, by default (as git does not):
    a power cut can lose the newest objects, verification then reports the checkpoint
    that needs them, ``newest_valid`` falls back one, and a stat cache loaded after the
    crash drops entries whose objects are gone. ``sync_objects=True`` fdatasyncs each new
    object instead. ``durable`` governs the stat cache rewrite after GC.
    """

    full_walk_every = 32  # snapshots between full walks, for changes inotify cannot see

    def __init__(
        self,
        root: Path,
        *,
        durable: bool = True,
        sync_objects: bool = False,
        workers: int | None = None,
        clock: Clock | None = None,
    ):
        self.root = Path(root)
        self.objects = ObjectStore(self.root, sync=sync_objects)
        self.objects_dir = self.objects.dir
        self.durable = durable
        self.workers = workers or min(8, (os.cpu_count() or 2) * 2)
        self.clock = clock or Clock()
        self.statcache = StatCache(self.root / "statcache.msgpack")
        self.watcher = DirWatcher()
        self._loaded = False
        self._tree: dict[str, DirNode] | None = None  # the last snapshot, per directory
        self._tree_key: tuple[str, tuple[str, ...]] | None = None  # (root, excludes)
        self._manifest: list[Entry] = []
        self._last_stats = SnapshotStats()
        self._since_full = 0

    def forget_tree(self) -> None:
        """Make the next snapshot walk everything (after changes made behind our back)."""
        self._tree = None
        self.watcher.close()

    def close(self) -> None:
        """Release the inotify watches (also done when the store is garbage collected)."""
        self.forget_tree()

    def object_path(self, digest: str) -> str:
        return self.objects.path(digest)

    def cache_for(self, root: str) -> dict[str, CacheValue]:
        """The stat cache entries of ``root`` (a resolved project path); {} for another."""
        if not self._loaded:
            self.statcache.load(self.objects)
            self._loaded = True
        return self.statcache.entries if self.statcache.root == root else {}

    @property
    def cache_root(self) -> str | None:
        self.cache_for("")
        return self.statcache.root

    def set_cache(self, root: str, entries: dict[str, CacheValue], durable: bool) -> None:
        """Replace the whole stat cache (after a full walk, a restore or GC) and save it."""
        self.statcache.replace(root, entries)
        self.objects.prepare()
        self.statcache.save(durable)

    def fs_now_ns(self) -> int:
        """The filesystem's own clock (mtime of a touched stamp), for racy-entry checks."""
        self.objects.prepare()
        stamp = self.root / "statcache.stamp"
        stamp.touch()
        return os.stat(stamp).st_mtime_ns

    # ------------------------------------------------------------ snapshot

    def snapshot(
        self, project: Path, excludes: Sequence[str] = DEFAULT_EXCLUDES
    ) -> tuple[list[Entry], SnapshotStats]:
        """Record ``project`` (a directory) into the store; return its manifest and stats."""
        started = self.clock.monotonic()
        excl = Excludes(excludes)
        root = os.path.realpath(project)
        if not os.path.isdir(root):
            raise CheckpointError(str(project), "project is not a directory")
        old = self.cache_for(root)
        changes = None
        key = (root, excl.key)
        if self._tree is not None and self._tree_key == key and self.statcache.root == root:
            if self._since_full < self.full_walk_every:
                changes = self.watcher.drain()
        if changes is not None and not changes:  # inotify vouches: nothing changed
            self._since_full += 1
            stats = self._last_stats
            stats = SnapshotStats(
                stats.files, stats.dirs, stats.links, stats.bytes_total, skipped=list(stats.skipped)
            )
            stats.seconds = self.clock.monotonic() - started
            return list(self._manifest), stats
        try:  # any failure from here on: the drained events are gone, so walk next time
            return self._snapshot(project, root, excl, old, changes, key, started)
        except BaseException:
            self.forget_tree()
            raise

    def _snapshot(
        self,
        project: Path,
        root: str,
        excl: Excludes,
        old: dict[str, CacheValue],
        changes: Changes | None,
        key: tuple[str, tuple[str, ...]],
        started: float,
    ) -> tuple[list[Entry], SnapshotStats]:
        fs_start = self.fs_now_ns()
        stats = SnapshotStats()
        scan = TreeScan(root, excl, old, self.watcher, stats.skipped)
        try:
            if changes is None:
                self.watcher.start()
                self._since_full = 0
                scan.walk()
            else:
                self._since_full += 1
                scan.update(self._tree or {}, changes, self.statcache)
        except OSError as exc:
            raise CheckpointError(str(project), f"cannot read the project: {exc}") from exc
        self._ingest(scan, stats, fs_start)
        entries = scan.entries()
        links = scan.links()
        for rel, target in links.items():
            why = link_escapes(rel, target, links)
            if why:
                stats.skipped.append((rel, why + ": not recorded"))
            else:
                entries.append(Entry(rel, "symlink", 0o777, target=target))
        entries.sort(key=_PATH)
        if scan.cache is not None:  # a full walk: a new cache
            self.set_cache(root, scan.cache, durable=False)  # a stale cache only costs hashing
        else:
            self.statcache.save()
        self._tree, self._tree_key, self._manifest = scan.tree, key, entries
        for e in entries:
            if e.kind == "file":
                stats.files += 1
                stats.bytes_total += e.size
            elif e.kind == "dir":
                stats.dirs += 1
        stats.links = len(entries) - stats.files - stats.dirs
        self._last_stats = stats
        stats.seconds = self.clock.monotonic() - started
        return list(entries), stats

    def _ingest(self, scan: TreeScan, stats: SnapshotStats, fs_start: int) -> None:
        """Hash and store the queued files, in parallel; record them and cache the stable."""
        if not scan.todo:
            return
        self.objects.prepare()

        def one(job: tuple[str, str, os.stat_result, DirNode]) -> Ingested | str:
            try:
                got = self.objects.ingest(job[0], job[1], job[2])
            except OSError as exc:
                return f"cannot read: {exc.strerror or exc}"
            return got if got is not None else "vanished during the snapshot"

        jobs = scan.todo
        if len(jobs) > 1 and self.workers > 1:
            with ThreadPoolExecutor(min(self.workers, len(jobs)), "snapshot") as pool:
                results = list(pool.map(one, jobs))
        else:
            results = [one(j) for j in jobs]
        for (rel, _, _, node), got in zip(jobs, results, strict=True):
            if isinstance(got, str):
                stats.skipped.append((rel, got))
                continue
            node.files.append(got.entry)
            stats.files_hashed += 1
            stats.bytes_hashed += got.entry.size
            if got.new_bytes >= 0:
                stats.objects_new += 1
                stats.bytes_new += got.new_bytes
            # racy: changed in the clock tick the snapshot started, so re-hash next time
            cacheable = got.key is not None and max(got.key[1], got.key[3]) < fs_start
            if scan.cache is not None:
                if cacheable:
                    scan.cache[rel] = cache_value(got.key, got.entry)  # type: ignore[arg-type]
            elif cacheable:
                self.statcache.put(rel, cache_value(got.key, got.entry))  # type: ignore[arg-type]
            else:
                self.statcache.drop(rel)

    # ------------------------------------------------------------ other operations

    def materialize(
        self,
        manifest: Sequence[Entry],
        project: Path,
        excludes: Sequence[str] = DEFAULT_EXCLUDES,
    ) -> MaterializeStats:
        """Make ``project`` identical to ``manifest`` (see ``materialize.materialize``)."""
        if self._tree_key is not None and self._tree_key[0] == os.path.realpath(project):
            self.forget_tree()
        return materialize(self, manifest, Path(project), excludes)

    def verify_objects(self, manifest: Sequence[Entry], check_hashes: bool = True) -> list[str]:
        """Problems with the objects ``manifest`` needs (missing, wrong size or hash)."""
        wanted: dict[str, Entry] = {}
        for e in manifest:
            if e.kind == "file" and e.digest:
                wanted.setdefault(e.digest, e)

        def check(item: tuple[str, Entry]) -> str | None:
            problem = self.objects.check(item[0], item[1].size, check_hashes)
            return f"{item[1].path}: {problem}" if problem else None

        with ThreadPoolExecutor(self.workers, thread_name_prefix="verify") as pool:
            return [p for p in pool.map(check, wanted.items()) if p]

    def collect_garbage(self, keep_digests: set[str]) -> tuple[int, int]:
        """Delete every object not in ``keep_digests``; return (objects removed, bytes freed)."""
        doomed = self.objects.unreferenced(keep_digests)
        # forget cached files whose objects go, durably, before any object is deleted
        self.cache_for("")
        cache = self.statcache
        kept = {p: v for p, v in cache.entries.items() if v[4].digest in keep_digests}
        if len(kept) != len(cache.entries) and cache.root is not None:
            self.set_cache(cache.root, kept, durable=self.durable)
            self.forget_tree()
        removed = freed = 0
        for path, size in doomed:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            removed += 1
            freed += size
        self.objects.clear_tmp()
        return removed, freed
