"""The content-addressed object store and the stat cache behind snapshots.

Objects live at ``objects/ab/cdef...`` (sha256 hex of the content), written once through
a temp file and ``os.link`` (which, unlike rename, fails when another writer stored the
same content first), read-only, never modified. Reading a project file into the store
hashes and copies it in one pass and checks, by ``fstat`` before and after, that the
file held still; a file that changed is read again once, and if it is still moving,
what was read is stored (it hashes consistently) but marked unstable so it is not cached.

The stat cache maps a project path to the (size, mtime_ns, inode, ctime_ns) it had when
hashed, so an unchanged file is never read again. It is persisted as versioned msgpack;
a missing, foreign or damaged cache only costs a re-hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import stat
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from supervisor.checkpoint.manifest import Entry
from supervisor.errors import CheckpointError
from supervisor.session.files import write_bytes_atomic

STATCACHE_FORMAT = "megatest-statcache"
STATCACHE_SCHEMA = 1
_SMALL = 1 << 20  # files up to this size are read whole; larger ones are streamed
_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

StatKey = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns
# size, mtime_ns, inode, ctime_ns, the Entry for that state, its persisted row
CacheValue = tuple[int, int, int, int, Entry, list[Any]]


def stat_key(st: os.stat_result) -> StatKey:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def cache_value(key: StatKey, entry: Entry) -> CacheValue:
    row = [entry.path, *key, entry.mode, bytes.fromhex(entry.digest or "")]
    return (*key, entry, row)


@dataclass(slots=True)
class Ingested:
    entry: Entry
    key: StatKey | None  # None: the file kept changing while read; do not cache
    new_bytes: int  # bytes newly stored, -1 if the object was already there


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class ObjectStore:
    def __init__(self, root: Path, sync: bool = False):
        self.root = Path(root)
        self.dir = self.root / "objects"
        self.tmp_dir = self.root / "tmp"
        self.sync = sync  # fdatasync every new object before it is linked in
        self._seq = itertools.count()
        self._ready = False
        self._tmpfile = hasattr(os, "O_TMPFILE")
        self._proc: tuple[int, int] | None = None

    def path(self, digest: str) -> str:
        return f"{self.dir}/{digest[:2]}/{digest[2:]}"

    def prepare(self) -> None:
        if self._ready:
            return
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            for i in range(256):
                (self.dir / f"{i:02x}").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(str(self.root), f"cannot create the store: {exc}") from exc
        self._ready = True

    def _proc_fd(self) -> int:
        """/proc/self/fd as a directory fd: linkat of an O_TMPFILE file goes through it."""
        if self._proc is None or self._proc[0] != os.getpid():
            fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._proc = (os.getpid(), fd)
            weakref.finalize(self, os.close, fd)
        return self._proc[1]

    def _new(self, digest: str | None) -> tuple[int, str | None]:
        """An fd to write a new object into, and its temp name (None: an O_TMPFILE)."""
        if self._tmpfile:
            where = self.dir / (digest[:2] if digest else "00")
            try:
                return os.open(where, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o444), None
            except OSError:  # a file system without O_TMPFILE
                self._tmpfile = False
        name = f"{self.tmp_dir}/{os.getpid()}-{next(self._seq)}.tmp"
        return os.open(name, _NEW_FLAGS, 0o444), name

    def _commit(self, digest: str, fd: int, tmp: str | None) -> bool:
        """Give a finished new object its name; False if it was already there. Closes fd.

        ``link`` (unlike rename) fails if another writer stored the same content first.
        """
        try:
            if self.sync:
                os.fdatasync(fd)
            if tmp is None:
                os.link(str(fd), self.path(digest), src_dir_fd=self._proc_fd())
            else:
                os.link(tmp, self.path(digest))
            return True
        except FileExistsError:
            return False
        finally:
            os.close(fd)
            if tmp is not None:
                os.unlink(tmp)

    def _discard(self, fd: int, tmp: str | None) -> None:
        os.close(fd)
        if tmp is not None:
            os.unlink(tmp)

    def put(self, data: bytes, digest: str | None = None) -> tuple[str, bool]:
        """Store bytes (whose sha256 hex is ``digest`` if known); return (digest, new)."""
        digest = digest or hashlib.sha256(data).hexdigest()
        if os.path.exists(self.path(digest)):
            return digest, False
        with self._storing():
            fd, tmp = self._new(digest)
            try:
                _write_all(fd, data)
            except BaseException:
                self._discard(fd, tmp)
                raise
            return digest, self._commit(digest, fd, tmp)

    @contextlib.contextmanager
    def _storing(self) -> Iterator[None]:
        """A failure to write the store (disk full ...) is the store's, not a skipped file."""
        try:
            yield
        except OSError as exc:
            raise CheckpointError(str(self.dir), f"cannot store an object: {exc}") from exc

    def ingest(self, rel: str, path: str, st0: os.stat_result) -> Ingested | None:  # noqa: C901 - hash-while-copying with its retry and O_TMPFILE fallbacks, measured by bench_checkpoint
        """Hash and store the regular file at ``path``; None if it vanished or is no file."""
        for attempt in (0, 1):
            try:
                fd = os.open(path, _OPEN_FLAGS)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError:  # ELOOP: now a link; ENXIO: now a socket ... look again once
                if attempt == 0:
                    continue
                raise
            out: tuple[int, str | None] | None = None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return None
                # read no more than the size seen now: a file that keeps growing must not
                # keep us here; growth shows in the fstat afterwards
                h = hashlib.sha256()
                data: bytes | None = None
                size, total = st.st_size, 0
                if size <= _SMALL:
                    parts = []
                    while total < size and (chunk := os.read(fd, size - total)):
                        parts.append(chunk)
                        total += len(chunk)
                    data = b"".join(parts)
                    h.update(data)
                else:
                    with self._storing():
                        out = self._new(None)
                    while total < size and (chunk := os.read(fd, min(_CHUNK, size - total))):
                        h.update(chunk)
                        total += len(chunk)
                        with self._storing():
                            _write_all(out[0], chunk)
                st2 = os.fstat(fd)
            except BaseException:
                if out is not None:
                    self._discard(*out)
                raise
            finally:
                os.close(fd)
            still = stat_key(st2) == stat_key(st) and total == st2.st_size
            if not (still and st2.st_ino == st0.st_ino) and attempt == 0:
                if out is not None:
                    self._discard(*out)
                st0 = st2
                continue
            digest = h.hexdigest()
            if data is not None:
                digest, new = self.put(data, digest)
            elif out is not None and os.path.exists(self.path(digest)):
                self._discard(*out)
                new = False
            else:
                with self._storing():
                    new = out is not None and self._commit(digest, *out)
            entry = Entry(rel, "file", stat.S_IMODE(st2.st_mode), total, digest)
            return Ingested(entry, stat_key(st2) if still else None, total if new else -1)
        raise AssertionError("unreachable")

    def check(self, digest: str, size: int, check_hash: bool) -> str | None:
        """What is wrong with one object (missing, wrong size, wrong hash), or None."""
        path = self.path(digest)
        try:
            have = os.stat(path).st_size
            if have != size:
                return f"object {digest[:16]} has {have} bytes, expected {size}"
            if check_hash:
                with open(path, "rb") as fh:
                    got = hashlib.file_digest(fh, "sha256").hexdigest()
                if got != digest:
                    return f"object {digest[:16]} is damaged (its sha256 is {got[:16]})"
        except FileNotFoundError:
            return f"object {digest[:16]} is missing"
        except OSError as exc:
            return f"object {digest[:16]} cannot be read: {exc.strerror}"
        return None

    def unreferenced(self, keep: set[str]) -> list[tuple[str, int]]:
        """(path, size) of every stored object whose digest is not in ``keep``."""
        found: list[tuple[str, int]] = []
        if not self.dir.is_dir():
            return found
        for sub in os.scandir(self.dir):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for obj in os.scandir(sub.path):
                if sub.name + obj.name not in keep:
                    with contextlib.suppress(OSError):
                        found.append((obj.path, obj.stat(follow_symlinks=False).st_size))
        return found

    def clear_tmp(self) -> None:
        if self.tmp_dir.is_dir():
            for tmp in os.scandir(self.tmp_dir):
                with contextlib.suppress(OSError):
                    os.unlink(tmp.path)


class StatCache:
    """path -> CacheValue for one project root.

    Persisted as a base file (rewritten atomically) plus an append-only log of changes
    since, so a snapshot that changed a few files writes a few records, not the whole
    cache. Log records carry the base's generation; records of another generation (a
    crash between a compaction and the log reset) and a torn last record are ignored.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.log_path = self.path.with_suffix(".log")
        self.root: str | None = None
        self.entries: dict[str, CacheValue] = {}
        self._generation = 0
        self._logged = 0  # records in the log
        self._pending: list[list[Any]] = []

    # -------------------------------------------------------------- changes

    def put(self, path: str, value: CacheValue) -> None:
        self.entries[path] = value
        self._pending.append(["set", value[5]])

    def drop(self, path: str) -> None:
        if self.entries.pop(path, None) is not None:
            self._pending.append(["del", path])

    def replace(self, root: str, entries: dict[str, CacheValue]) -> None:
        """Everything at once (a full walk, a restore): the next save rewrites the base."""
        self.root, self.entries = root, entries
        self._pending = []
        self._logged = -1  # forces a compaction

    # -------------------------------------------------------------- persistence

    def load(self, objects: ObjectStore) -> None:
        """Read the persisted cache, keeping only entries whose object is present."""
        self.root, self.entries, self._pending, self._logged = None, {}, [], -1
        try:
            raw = msgpack.unpackb(self.path.read_bytes(), raw=False, use_list=True)
            if raw.get("format") != STATCACHE_FORMAT or raw.get("schema") != STATCACHE_SCHEMA:
                return
            rows = {row[0]: row for row in raw["entries"]}
            self._generation = int(raw.get("generation", 0))
            self._logged = self._replay(rows)
            entries: dict[str, CacheValue] = {}
            for row in rows.values():
                path, size, mtime, ino, ctime, mode, digest = row
                entry = Entry(path, "file", mode, size, digest.hex())
                try:  # an object lost to a crash must not be trusted
                    if os.stat(objects.path(entry.digest or "")).st_size != size:
                        continue
                except OSError:
                    continue
                entries[path] = (size, mtime, ino, ctime, entry, row)
            self.root, self.entries = str(raw["root"]), entries
        except Exception:  # noqa: BLE001 - missing or damaged: start empty
            self.root, self.entries, self._logged = None, {}, -1

    def _replay(self, rows: dict[str, list[Any]]) -> int:
        count = 0
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return 0
        unpacker = msgpack.Unpacker(raw=False, use_list=True, max_buffer_size=len(data) + 1)
        unpacker.feed(data)
        try:
            for generation, op, arg in unpacker:
                if generation != self._generation:
                    continue
                count += 1
                if op == "set":
                    rows[arg[0]] = arg
                elif op == "del":
                    rows.pop(arg, None)
        except Exception:  # noqa: BLE001 - a torn or damaged tail: what came before stands
            pass
        return count

    def save(self, durable: bool = False) -> None:
        """Persist: append the pending changes, or rewrite the base when due."""
        if self.root is None:
            return
        if self._logged < 0 or self._logged + len(self._pending) > max(64, len(self.entries) // 2):
            self._compact(durable)
        elif self._pending:
            records = b"".join(
                msgpack.packb([self._generation, op, arg], use_bin_type=True)
                for op, arg in self._pending
            )
            with open(self.log_path, "ab") as fh:
                fh.write(records)
                if durable:
                    os.fsync(fh.fileno())
            self._logged += len(self._pending)
        self._pending = []

    def _compact(self, durable: bool) -> None:
        self._generation += 1
        blob = msgpack.packb(
            {
                "format": STATCACHE_FORMAT,
                "schema": STATCACHE_SCHEMA,
                "root": self.root,
                "generation": self._generation,
                "entries": [v[5] for v in self.entries.values()],
            },
            use_bin_type=True,
        )
        write_bytes_atomic(self.path, blob, durable=durable)
        with open(self.log_path, "wb"):
            pass
        self._logged = 0
