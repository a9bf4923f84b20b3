"""The project tree as the last snapshot saw it: one node per directory.

``TreeScan`` builds it by a full walk (one ``os.scandir`` pass; names are resolved
against the open directory fd; a file whose stat matches the stat cache is not read) or,
when a ``DirWatcher`` vouches for which directories changed, by listing only those again
and reusing every other node as it was. Files that need reading are queued in ``todo``
with the node they belong to; the caller hashes them and calls ``add_file``.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from supervisor.checkpoint.manifest import Entry
from supervisor.checkpoint.objects import CacheValue, StatCache
from supervisor.checkpoint.watch import Changes, DirWatcher
from supervisor.errors import CheckpointError

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
        self.key = tuple(sorted(names)) + tuple(globs) + tuple(path_globs)
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


@dataclass(slots=True)
class DirNode:
    entry: Entry | None  # the directory's own entry; None for the root
    files: list[Entry] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (rel, target)
    subdirs: list[tuple[str, int]] = field(default_factory=list)  # (rel, mode)


class TreeScan:
    """One snapshot's walk over ``root``.

    A full walk (``walk``) collects a new stat cache in ``cache``; an incremental one
    (``update``) changes the StatCache in place, touching only what changed.
    """

    def __init__(
        self,
        root: str,
        excludes: Excludes,
        old_cache: dict[str, CacheValue],
        watcher: DirWatcher,
        skipped: list[tuple[str, str]],
    ):
        self.root = root
        self.excludes = excludes
        self.old = old_cache
        self.watcher = watcher
        self.skipped = skipped
        self.cache: dict[str, CacheValue] | None = {}  # None: updating a StatCache in place
        self.tree: dict[str, DirNode] = {}
        self.todo: list[tuple[str, str, os.stat_result, DirNode]] = []

    def scan_dir(self, rel: str, mode: int) -> DirNode | None:  # noqa: C901 - the incremental walk of one directory, hot path of bench_checkpoint
        """List one directory (watched first); its subdirectories are not entered."""
        abs_dir = f"{self.root}/{rel}" if rel else self.root
        self.watcher.add(abs_dir, rel)
        node = DirNode(Entry(rel, "dir", mode) if rel else None)
        try:
            fd = os.open(abs_dir, _DIR_FLAGS)
        except OSError as exc:
            if not rel:
                raise
            if exc.errno in _VANISHED:
                self.skipped.append((rel, "vanished during the snapshot"))
                return None
            self.skipped.append((rel, f"directory not readable: {exc.strerror}"))
            self.tree[rel] = node
            return node
        self.tree[rel] = node
        files, links, subdirs, cache, todo = (
            node.files,
            node.links,
            node.subdirs,
            self.cache,
            self.todo,
        )
        names, name_re, path_re = self.excludes.names, self.excludes.name_re, self.excludes.path_re
        cget = self.old.get
        prefix = rel + "/" if rel else ""
        try:
            with os.scandir(fd) as it:
                for de in it:
                    name = de.name
                    path = prefix + name
                    if name in names or (
                        (name_re is not None and name_re(name))
                        or (path_re is not None and path_re(path))
                    ):
                        continue
                    try:
                        st = de.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    fmt = st.st_mode & 0o170000
                    if fmt == 0o100000:
                        h = cget(path)
                        if (
                            h is not None
                            and h[0] == st.st_size
                            and h[1] == st.st_mtime_ns
                            and h[2] == st.st_ino
                            and h[3] == st.st_ctime_ns
                            and h[4].mode == st.st_mode & 0o7777
                        ):
                            if cache is not None:
                                cache[path] = h
                            files.append(h[4])
                        else:
                            todo.append((path, f"{abs_dir}/{name}", st, node))
                    elif fmt == 0o040000:
                        subdirs.append((path, st.st_mode & 0o7777))
                    elif fmt == 0o120000:
                        try:
                            links.append((path, os.readlink(name, dir_fd=fd)))
                        except FileNotFoundError:
                            continue
                    else:
                        self.skipped.append((path, "not a file, directory or link"))
        finally:
            os.close(fd)
        return node

    def walk(self, rel: str = "", mode: int = -1) -> None:
        """List the whole subtree at ``rel``."""
        stack = [(rel, mode)]
        while stack:
            node = self.scan_dir(*stack.pop())
            if node is not None:
                stack.extend(node.subdirs)

    def update(self, prev: dict[str, DirNode], changes: Changes, statcache: StatCache) -> None:
        """Rebuild from ``prev``, listing again only what ``changes`` names; files that
        are gone leave ``statcache``."""
        self.cache = None
        stack: list[tuple[str, int | None]] = [("", None)]
        while stack:
            rel, mode = stack.pop()
            node = prev.get(rel)
            if node is not None and rel not in changes.fresh and rel not in changes.dirty:
                if mode is not None and node.entry is not None and node.entry.mode != mode:
                    node = replace(node, entry=Entry(rel, "dir", mode))
                self.tree[rel] = node
                stack.extend((sub, None) for sub, _ in node.subdirs)
                continue
            if mode is None:  # listed by a clean parent: the mode it recorded holds
                mode = node.entry.mode if node is not None and node.entry is not None else -1
            if node is None or rel in changes.fresh:
                self.walk(rel, mode)
                continue
            names = changes.dirty[rel]
            listed = (
                self.scan_dir(rel, mode) if names is None else self.patch_dir(node, mode, names)
            )
            if listed is not None:
                stack.extend(listed.subdirs)
        queued = {job[0] for job in self.todo}
        for rel, old_node in prev.items():
            node = self.tree.get(rel)
            if node is old_node or (node is not None and node.files is old_node.files):
                continue
            present = queued if node is None else queued | {e.path for e in node.files}
            for e in old_node.files:
                if e.path not in present:
                    statcache.drop(e.path)

    def patch_dir(self, prev: DirNode, mode: int, names: set[str]) -> DirNode | None:
        """``prev`` with only the named children looked at again (one lstat each)."""
        rel = prev.entry.path if prev.entry is not None else ""
        abs_dir = f"{self.root}/{rel}" if rel else self.root
        prefix = rel + "/" if rel else ""
        node = DirNode(Entry(rel, "dir", mode) if rel else None)
        files = {e.path: e for e in prev.files}
        links = dict(prev.links)
        subdirs = dict(prev.subdirs)
        for name in names:
            path = prefix + name
            files.pop(path, None)
            links.pop(path, None)
            subdirs.pop(path, None)
            if self.excludes.match(name, path):
                continue
            try:
                st = os.lstat(f"{abs_dir}/{name}")
            except FileNotFoundError:
                continue
            except NotADirectoryError:  # the directory itself went away: list it properly
                return self.scan_dir(rel, mode)
            fmt = st.st_mode & 0o170000
            if fmt == 0o100000:
                h = self.old.get(path)
                if (
                    h is not None
                    and h[:4] == (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                    and h[4].mode == st.st_mode & 0o7777
                ):
                    files[path] = h[4]
                else:
                    self.todo.append((path, f"{abs_dir}/{name}", st, node))
            elif fmt == 0o040000:
                subdirs[path] = st.st_mode & 0o7777
            elif fmt == 0o120000:
                try:
                    links[path] = os.readlink(f"{abs_dir}/{name}")
                except (FileNotFoundError, OSError):
                    continue
            else:
                self.skipped.append((path, "not a file, directory or link"))
        node.files.extend(files.values())
        node.links.extend(links.items())
        node.subdirs.extend(subdirs.items())
        self.tree[rel] = node
        return node

    def add_file(self, node: DirNode, entry: Entry) -> None:
        node.files.append(entry)

    def links(self) -> dict[str, str]:
        return {rel: target for node in self.tree.values() for rel, target in node.links}

    def entries(self) -> list[Entry]:
        out = [node.entry for node in self.tree.values() if node.entry is not None]
        for node in self.tree.values():
            out.extend(node.files)
        return out


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
            if not isinstance(exc, FileNotFoundError | NotADirectoryError):
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
                if de.is_dir(follow_symlinks=False):
                    stack.append((rel, st))
                else:
                    yield rel, st
