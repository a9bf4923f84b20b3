"""Incremental, content-addressed snapshots of a project tree.

``SnapshotStore(root)`` (``root`` = ``<session>/snapshots``) keeps file contents in an
object store (``objects.py``: named by sha256, stored once however many files and
checkpoints share them) and a stat cache, so a snapshot walks the tree once with
``os.scandir`` (names resolved against an open directory fd), does one dict lookup per
file, and reads only new or changed files, hashing and storing them in a thread pool.

Symbolic links are recorded as their target text and never followed; empty dirs and
permission bits are kept. A link that points outside the project cannot be restored
safely, so it is left out and reported in ``SnapshotStats.skipped``, as are sockets,
fifos, unreadable files and files that vanished during the walk.

One call at a time per store: the caller serializes snapshot, materialize and GC.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from supervisor.checkpoint.format import Entry, link_escapes, validate_manifest
from supervisor.checkpoint.objects import (
    CacheValue,
    Ingested,
    ObjectStore,
    StatCache,
    cache_value,
)
from supervisor.clock import Clock
from supervisor.errors import CheckpointError

if TYPE_CHECKING:
    from supervisor.checkpoint.materialize import MaterializeStats

__all__ = [
    "DEFAULT_EXCLUDES",
    "Entry",
    "Excludes",
    "SnapshotStats",
    "SnapshotStore",
    "validate_manifest",
]

DEFAULT_EXCLUDES: tuple[str, ...] = (".git", ".venv", "node_modules", "__pycache__", ".cache")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_VANISHED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


class Excludes:
    """Names a snapshot skips: plain names and globs match any path component; a
    pattern with a ``/`` is a glob over the whole relative path."""

    def __init__(self, patterns: Iterable[str]):
        names: set[str] = set()
        globs: list[str] = []
        path_globs: list[str] = []
        for p in patterns:
            if not isinstance(p, str) or not p.strip("/") or "\x00" in p:
                raise CheckpointError("<excludes>", f"invalid exclude pattern {p!r}")
            p = p.strip("/")
            if "/" in p:
                path_globs.append(p)
            elif any(c in p for c in "*?["):
                globs.append(p)
            else:
                names.add(p)
        self.names = frozenset(names)
        self.name_re = re.compile("|".join(map(fnmatch.translate, globs))).match if globs else None
        self.path_re = (
            re.compile("|".join(map(fnmatch.translate, path_globs))).match if path_globs else None
        )

    def match(self, name: str, rel: str) -> bool:
        return (
            name in self.names
            or (self.name_re is not None and self.name_re(name) is not None)
            or (self.path_re is not None and self.path_re(rel) is not None)
        )


def scan_tree(
    root: str, excludes: Excludes, problems: list[tuple[str, str]]
) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (rel, lstat) for every non-excluded node under ``root``, never following links.

    A directory is yielded once it could be opened; unreadable ones are yielded and
    noted in ``problems``; ones that vanished are left out.
    """
    stack: list[tuple[str, os.stat_result | None]] = [("", None)]
    while stack:
        rel_dir, dir_st = stack.pop()
        prefix = rel_dir + "/" if rel_dir else ""
        try:
            it = os.scandir(f"{root}/{rel_dir}" if rel_dir else root)
        except OSError as exc:
            if dir_st is None:
                raise
            if exc.errno not in _VANISHED:
                problems.append((rel_dir, f"directory not readable: {exc.strerror}"))
                yield rel_dir, dir_st
            continue
        with it:
            if dir_st is not None:
                yield rel_dir, dir_st
            for de in it:
                rel = prefix + de.name
                if excludes.match(de.name, rel):
                    continue
                try:
                    st = de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append((rel, st))
                else:
                    yield rel, st


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


@dataclass(slots=True)
class _Walk:
    entries: list[Entry] = field(default_factory=list)
    cache: dict[str, CacheValue] = field(default_factory=dict)
    todo: list[tuple[str, str, os.stat_result]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    reused: int = 0  # entries identical (same object) to the previous snapshot's


class SnapshotStore:
    """The object store and stat cache of one session (``<session>/snapshots``).

    ``durable``: fsync the stat cache after GC and every object before it is linked in
    (checkpoint files are always fsynced). Without it a power cut can lose the newest
    objects, which verification then reports, so a resume falls back a checkpoint.
    """

    def __init__(
        self,
        root: Path,
        *,
        durable: bool = True,
        workers: int | None = None,
        clock: Clock | None = None,
    ):
        self.root = Path(root)
        self.objects = ObjectStore(self.root, sync=durable)
        self.objects_dir = self.objects.dir
        self.durable = durable
        self.workers = workers or min(8, (os.cpu_count() or 2) * 2)
        self.clock = clock or Clock()
        self.statcache = StatCache(self.root / "statcache.msgpack")
        self._loaded = False
        self._prev: dict[str, Entry] = {}  # the last snapshot of statcache.root, by path
        self._prev_sorted: list[Entry] = []

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
        self.statcache.root, self.statcache.entries = root, entries
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
        fs_start = self.fs_now_ns()
        old = self.cache_for(root)
        if self.statcache.root != root:
            self._prev, self._prev_sorted = {}, []
        prev = self._prev
        stats = SnapshotStats()
        try:
            walk = self._walk(root, excl, old, prev, stats)
        except OSError as exc:
            raise CheckpointError(str(project), f"cannot read the project: {exc}") from exc
        self._ingest(walk, stats, fs_start)
        for rel, target in walk.links.items():
            why = link_escapes(rel, target, walk.links)
            if why:
                stats.skipped.append((rel, why + ": not recorded"))
                continue
            e = prev.get(rel)
            if e is not None and e.kind == "symlink" and e.target == target:
                walk.reused += 1
            else:
                e = Entry(rel, "symlink", 0o777, target=target)
            walk.entries.append(e)
        if walk.reused == len(walk.entries) == len(prev):
            entries = self._prev_sorted  # nothing changed: the same manifest
        else:
            entries = sorted(walk.entries, key=lambda e: e.path)
            self._prev = {e.path: e for e in entries}
            self._prev_sorted = entries
        if walk.todo or len(walk.cache) != len(old) or self.statcache.root != root:
            self.set_cache(root, walk.cache, durable=False)  # a stale cache only costs hashing
        for e in entries:
            if e.kind == "file":
                stats.files += 1
                stats.bytes_total += e.size
        stats.links = len(entries) - stats.files - stats.dirs
        stats.seconds = self.clock.monotonic() - started
        return list(entries), stats

    def _walk(
        self,
        root: str,
        excl: Excludes,
        old: dict[str, CacheValue],
        prev: dict[str, Entry],
        stats: SnapshotStats,
    ) -> _Walk:
        """One scandir pass: cached files reused, the rest queued for hashing."""
        w = _Walk()
        entries, cache, todo, links = w.entries, w.cache, w.todo, w.links
        names, name_re, path_re = excl.names, excl.name_re, excl.path_re
        cget, pget = old.get, prev.get
        reused = 0
        stack: list[tuple[str, int]] = [("", -1)]
        while stack:
            rel_dir, mode = stack.pop()
            abs_dir = f"{root}/{rel_dir}" if rel_dir else root
            try:
                fd = os.open(abs_dir, _DIR_FLAGS)
            except OSError as exc:
                if mode < 0:
                    raise
                if exc.errno in _VANISHED:
                    stats.skipped.append((rel_dir, "vanished during the snapshot"))
                    continue
                stats.skipped.append((rel_dir, f"directory not readable: {exc.strerror}"))
                fd = -1
            if mode >= 0:
                stats.dirs += 1
                e = pget(rel_dir)
                if e is not None and e.kind == "dir" and e.mode == mode:
                    reused += 1
                else:
                    e = Entry(rel_dir, "dir", mode)
                entries.append(e)
            if fd < 0:
                continue
            prefix = rel_dir + "/" if rel_dir else ""
            try:
                with os.scandir(fd) as it:
                    for de in it:
                        name = de.name
                        rel = prefix + name
                        if name in names or (
                            (name_re is not None and name_re(name))
                            or (path_re is not None and path_re(rel))
                        ):
                            continue
                        try:
                            st = de.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        fmt = st.st_mode & 0o170000
                        if fmt == 0o100000:
                            h = cget(rel)
                            if (
                                h is not None
                                and h[0] == st.st_size
                                and h[1] == st.st_mtime_ns
                                and h[2] == st.st_ino
                                and h[3] == st.st_ctime_ns
                                and h[4].mode == st.st_mode & 0o7777
                            ):
                                cache[rel] = h
                                entries.append(h[4])
                                if pget(rel) is h[4]:
                                    reused += 1
                            else:
                                todo.append((rel, f"{abs_dir}/{name}", st))
                        elif fmt == 0o040000:
                            stack.append((rel, st.st_mode & 0o7777))
                        elif fmt == 0o120000:
                            try:
                                links[rel] = os.readlink(name, dir_fd=fd)
                            except FileNotFoundError:
                                continue
                        else:
                            stats.skipped.append((rel, "not a file, directory or link"))
            finally:
                os.close(fd)
        w.reused = reused
        return w

    def _ingest(self, walk: _Walk, stats: SnapshotStats, fs_start: int) -> None:
        """Hash and store the queued files, in parallel; record them and cache the stable."""
        if not walk.todo:
            return
        self.objects.prepare()

        def one(job: tuple[str, str, os.stat_result]) -> Ingested | str:
            try:
                got = self.objects.ingest(*job)
            except OSError as exc:
                return f"cannot read: {exc.strerror or exc}"
            return got if got is not None else "vanished during the snapshot"

        jobs = walk.todo
        if len(jobs) > 1 and self.workers > 1:
            with ThreadPoolExecutor(min(self.workers, len(jobs)), "snapshot") as pool:
                results = list(pool.map(one, jobs, chunksize=1))
        else:
            results = [one(j) for j in jobs]
        for (rel, _, _), got in zip(jobs, results, strict=True):
            if isinstance(got, str):
                stats.skipped.append((rel, got))
                continue
            walk.entries.append(got.entry)
            stats.files_hashed += 1
            stats.bytes_hashed += got.entry.size
            if got.new_bytes >= 0:
                stats.objects_new += 1
                stats.bytes_new += got.new_bytes
            # racy: changed in the clock tick the snapshot started, so re-hash next time
            if got.key is not None and max(got.key[1], got.key[3]) < fs_start:
                walk.cache[rel] = cache_value(got.key, got.entry)

    # ------------------------------------------------------------ other operations

    def materialize(
        self,
        manifest: Sequence[Entry],
        project: Path,
        excludes: Sequence[str] = DEFAULT_EXCLUDES,
    ) -> MaterializeStats:
        """Make ``project`` identical to ``manifest`` (see ``materialize.materialize``)."""
        from supervisor.checkpoint.materialize import materialize

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
            self.set_cache(cache.root, kept, durable=True)
            self._prev, self._prev_sorted = {}, []
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
