"""Which directories of a project changed since the last look (Linux inotify).

A snapshot of an unchanged tree should not have to ``lstat`` every file. ``DirWatcher``
keeps an inotify watch on every directory a full walk visits; draining its queue says
which directories saw a change since the last drain (a file written, created, deleted,
renamed or chmod'ed in them) and which subdirectories appeared (created or moved in)
and must be walked whole. Whatever it cannot vouch for (queue overflow, a watch that
could not be added, the root moved or deleted, an unmount, no inotify on this system)
makes ``drain`` return None and the caller walks the whole tree again.

inotify sees every change made through the file system calls; it does not see writes
through a shared ``mmap``. The snapshot therefore still walks the whole tree every few
snapshots (``SnapshotStore.full_walk_every``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import weakref
from dataclasses import dataclass, field
from typing import Any

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_UNMOUNT = 0x2000
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of NUL-padded name)
_GONE = (errno.ENOENT, errno.ENOTDIR)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):  # not Linux, or no inotify in this libc
        return None


_LIBC = _load_libc()


_MAX_NAMES = 64  # more changed names than this in one directory: list it whole


@dataclass(slots=True)
class Changes:
    # directory -> the names in it that changed, or None: list the directory again whole
    dirty: dict[str, set[str] | None] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)  # dirs created or moved in: walk them whole

    def mark(self, rel: str, name: str | None) -> None:
        names = self.dirty.get(rel, set())
        if names is None:
            return
        if name is None or len(names) >= _MAX_NAMES:
            self.dirty[rel] = None
        else:
            names.add(name)
            self.dirty[rel] = names

    def __bool__(self) -> bool:
        return bool(self.dirty or self.fresh)


class DirWatcher:
    """inotify watches on the directories of one tree, by path relative to its root."""

    def __init__(self) -> None:
        self.fd = -1
        self.lost = True  # nothing watched yet: the first drain asks for a full walk
        self._wd_rel: dict[int, str] = {}
        self._rel_wd: dict[str, int] = {}
        self._finalizer: Any = None

    def start(self) -> None:
        """Drop every watch and begin afresh (before a full walk)."""
        self.close()
        if _LIBC is None:
            return
        fd = _LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd >= 0:
            self.fd, self.lost = fd, False
            self._finalizer = weakref.finalize(self, os.close, fd)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self.fd, self.lost = -1, True
        self._wd_rel.clear()
        self._rel_wd.clear()

    def add(self, abs_path: str, rel: str) -> None:
        """Watch a directory (call before listing it, so no change slips between)."""
        if self.fd < 0 or self.lost or _LIBC is None:
            return
        wd = _LIBC.inotify_add_watch(self.fd, os.fsencode(abs_path), _MASK)
        if wd < 0:
            if ctypes.get_errno() not in _GONE:  # ENOSPC: out of watches; give up tracking
                self.lost = True
            return
        old = self._wd_rel.get(wd)
        if old is not None and old != rel:  # the same directory seen under a new path
            self._rel_wd.pop(old, None)
        self._wd_rel[wd] = rel
        self._rel_wd[rel] = wd

    def _drop_subtree(self, rel: str) -> None:
        prefix = rel + "/"
        for r in [r for r in self._rel_wd if r == rel or r.startswith(prefix)]:
            wd = self._rel_wd.pop(r)
            self._wd_rel.pop(wd, None)
            if _LIBC is not None:
                _LIBC.inotify_rm_watch(self.fd, wd)

    def _read(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def drain(self) -> Changes | None:
        """What changed since the last drain, or None if the caller must walk everything."""
        if self.fd < 0 or self.lost:
            return None
        try:
            data = self._read()
        except OSError:
            self.lost = True
            return None
        changes = Changes()
        pos = 0
        while pos + _EVENT.size <= len(data):
            wd, mask, _, size = _EVENT.unpack_from(data, pos)
            name = data[pos + _EVENT.size : pos + _EVENT.size + size].rstrip(b"\0")
            pos += _EVENT.size + size
            if mask & (IN_Q_OVERFLOW | IN_UNMOUNT):
                self.lost = True
                return None
            rel = self._wd_rel.get(wd)
            if rel is None:  # a watch already dropped
                continue
            if mask & IN_IGNORED:
                self._wd_rel.pop(wd, None)
                if self._rel_wd.get(rel) == wd:
                    del self._rel_wd[rel]
            if not rel and mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                self.lost = True
                return None
            child = os.fsdecode(name) if name else None
            changes.mark(rel, child)
            if child is None or not mask & IN_ISDIR:
                continue
            child = f"{rel}/{child}" if rel else child
            if mask & (IN_DELETE | IN_MOVED_FROM):
                self._drop_subtree(child)
            if mask & (IN_CREATE | IN_MOVED_TO):
                changes.fresh.add(child)
        return changes
