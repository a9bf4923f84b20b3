"""Make a project tree identical to a manifest: the file half of a restore.

Afterwards the tree under the project root holds exactly the manifest's entries (content,
permission bits, link targets, empty dirs) and nothing else, except paths matched by the
excludes, which are left alone. Files that are already identical are not rewritten (the
stat cache says so, or the same size and the same sha256).

Safety: the manifest is validated first (no ``..``, no absolute paths, no entry under a
non-directory, no link that resolves outside the root), every object is checked to be
present before anything is touched, and nothing is written through a link: files and
links are created under a fresh temporary name (``O_EXCL|O_NOFOLLOW``) in their parent
directory and renamed over the old path, which replaces a link instead of following it;
a link or file standing where a directory belongs is removed first; every directory
written into is checked to resolve to itself inside the root.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import shutil
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from supervisor.checkpoint.manifest import Entry, validate_manifest
from supervisor.checkpoint.objects import CacheValue, cache_value
from supervisor.checkpoint.tree import Excludes, scan_tree
from supervisor.errors import CheckpointCorrupt, CheckpointError

if TYPE_CHECKING:  # for annotations only: snapshot.py imports this module
    from supervisor.checkpoint.snapshot import SnapshotStore

_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_seq = itertools.count()


@dataclass(slots=True)
class MaterializeStats:
    files_written: int = 0
    bytes_written: int = 0
    files_kept: int = 0  # already identical, not rewritten
    files_hashed: int = 0  # compared by hashing (no stat cache for them)
    dirs_created: int = 0
    links_written: int = 0
    removed: int = 0  # extra or wrongly-typed paths deleted
    modes_fixed: int = 0
    seconds: float = 0.0


def _kind(st: os.stat_result) -> str:
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return "symlink" if stat.S_ISLNK(st.st_mode) else "file"


def _remove(path: str) -> None:
    """Remove whatever is at ``path`` (a dir with all it holds), never following links."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _copy_range(src: int, dst: int, size: int) -> int:
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src, dst, size - done)
            if n == 0:
                break
            done += n
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        while done < size:
            n = os.sendfile(dst, src, done, size - done)
            if n == 0:
                break
            done += n
    return done


def _umask() -> int:
    """The process umask, read without changing it (other threads may be creating files)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return 0o7777  # unknown: always chmod explicitly


def _copy_object(src: str, dst: str, e: Entry, umask: int) -> None:
    """Copy an object to a new file ``dst`` (``O_EXCL|O_NOFOLLOW``: never an old one)."""
    sfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, _NEW_FLAGS, e.mode & 0o777)
        try:
            if _copy_range(sfd, dfd, e.size) != e.size:
                raise CheckpointCorrupt(src, f"object is shorter than {e.size} bytes")
            if e.mode & (umask | 0o7000):  # the umask or special bits got in the way
                os.fchmod(dfd, e.mode)
        except BaseException:
            os.unlink(dst)
            raise
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _place(root: str, e: Entry, src: str | None, umask: int, fresh: bool = False) -> None:
    """Create ``e`` (a file copied from ``src``, or a link); an existing node at its path
    is replaced by renaming over it, which never follows a link."""
    final = f"{root}/{e.path}"
    if fresh and src is not None:  # nothing there when we looked: create it in place
        try:
            _copy_object(src, final, e, umask)
            return
        except FileExistsError:
            pass
    parent = final.rpartition("/")[0]
    tmp = f"{parent}/.mtrestore-{os.getpid()}-{next(_seq)}.tmp"
    try:
        if src is None:
            os.symlink(e.target or "", tmp)
        else:
            _copy_object(src, tmp, e, umask)
        try:
            os.replace(tmp, final)
        except IsADirectoryError:
            shutil.rmtree(final)
            os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _ensure_dir(root: str, rel: str, mode: int, umask: int) -> bool:
    """Make ``root/rel`` a real directory (replacing a file or link); True if created.
    It is created with its final ``mode`` when the umask allows and we can write into it."""
    path = f"{root}/{rel}"
    if mode & 0o700 != 0o700 or mode & (umask | 0o7000):
        mode = 0o700  # the exact mode is set at the end
    try:
        os.mkdir(path, mode)
        created = True
    except FileExistsError:
        st = os.lstat(path)
        created = not stat.S_ISDIR(st.st_mode)
        if created:
            os.unlink(path)
            os.mkdir(path, mode)
        elif st.st_mode & 0o700 != 0o700:
            os.chmod(path, st.st_mode | 0o700)  # writable for now; exact mode at the end
    if os.path.realpath(path) != path:
        raise CheckpointError(path, "directory does not resolve inside the project; refusing")
    return created


def _same_content(path: str, e: Entry) -> bool:
    try:
        with open(path, "rb", buffering=0) as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest() == e.digest
    except OSError:
        return False


def _check_objects(store: SnapshotStore, files: list[Entry]) -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for e in files:
        if e.digest in seen:
            continue
        seen.add(e.digest or "")
        try:
            size = os.stat(store.object_path(e.digest or "")).st_size
        except OSError:
            problems.append(f"{e.path!r} needs object {e.digest} which is missing")
            continue
        if size != e.size:
            problems.append(f"{e.path!r} needs object {e.digest} of {e.size} bytes, found {size}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointCorrupt(str(store.objects_dir), problems[0] + more)


def materialize(  # noqa: C901 - the restore algorithm step by step (see the module docstring); split, it would need its state passed around
    store: SnapshotStore, manifest: Sequence[Entry], project: Path, excludes: Sequence[str]
) -> MaterializeStats:
    """Make ``project`` hold exactly ``manifest`` (excluded names aside)."""
    started = store.clock.monotonic()
    validate_manifest(manifest, f"manifest for {project}")
    manifest = sorted(manifest, key=lambda e: e.path)  # parents before children
    if os.path.islink(project):
        raise CheckpointError(str(project), "the project path is a symbolic link; refusing")
    excl = Excludes(excludes)
    files = [e for e in manifest if e.kind == "file"]
    _check_objects(store, files)
    stats = MaterializeStats()
    try:
        os.makedirs(project, exist_ok=True)
        root = os.path.realpath(project)
        fs_start = store.fs_now_ns()
        problems: list[tuple[str, str]] = []
        cur = dict(scan_tree(root, excl, problems))
        if problems:  # unreadable dirs: open them up and look again
            for rel, _ in problems:
                with contextlib.suppress(OSError):
                    os.chmod(f"{root}/{rel}", 0o700)
            cur = dict(scan_tree(root, excl, []))
        for rel, st in cur.items():  # we must be able to write into every directory
            if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o700 != 0o700:
                os.chmod(f"{root}/{rel}", st.st_mode | 0o700)
        want = {e.path: e for e in manifest}
        for rel in sorted(cur, reverse=True):
            e, have = want.get(rel), _kind(cur[rel])
            if e is not None and (e.kind == "dir") == (have == "dir"):
                continue
            path = f"{root}/{rel}"
            if have == "dir" and e is None:
                try:
                    os.rmdir(path)
                except OSError as exc:  # still holds excluded names: leave it
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                    continue
            else:
                _remove(path)
            del cur[rel]
            stats.removed += 1
        umask = _umask()
        for e in manifest:
            if e.kind == "dir" and _ensure_dir(root, e.path, e.mode, umask):
                stats.dirs_created += 1
        new_cache = _write_files(store, root, files, cur, stats, fs_start, umask)
        for e in manifest:
            if e.kind == "symlink":
                was = cur.get(e.path)
                if (
                    was is None
                    or not stat.S_ISLNK(was.st_mode)
                    or os.readlink(f"{root}/{e.path}") != e.target
                ):
                    _place(root, e, None, 0)
                    stats.links_written += 1
        for e in reversed(manifest):
            if e.kind == "dir":
                path = f"{root}/{e.path}"
                if stat.S_IMODE(os.lstat(path).st_mode) != e.mode:
                    os.chmod(path, e.mode)
    except OSError as exc:
        raise CheckpointError(str(project), f"restore failed: {exc}") from exc
    if new_cache is not None:
        store.set_cache(root, new_cache, durable=False)
    stats.seconds = store.clock.monotonic() - started
    return stats


def _batches(files: list[Entry], workers: int) -> list[list[Entry]]:
    """Work units of whole directories (threads creating files in one directory contend
    for its lock), each at least ``len(files) / (4 * workers)`` files."""
    target = max(1, len(files) // (workers * 4))
    out: list[list[Entry]] = [[]]
    parent = None
    for e in files:
        here = e.path.rpartition("/")[0]
        if here != parent and len(out[-1]) >= target:
            out.append([])
        parent = here
        out[-1].append(e)
    return out


def _write_files(
    store: SnapshotStore,
    root: str,
    files: list[Entry],
    cur: dict[str, os.stat_result],
    stats: MaterializeStats,
    fs_start: int,
    umask: int,
) -> dict[str, CacheValue] | None:
    """Write the files that differ, in parallel; return the new stat cache (or None)."""
    cache = store.cache_for(root)
    use_cache = store.cache_root in (None, root)

    def one(e: Entry) -> tuple[str, int, bool]:
        """(what was done: keep|chmod|write, bytes written, hashed?)"""
        st = cur.get(e.path)
        hashed = False
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == e.size:
            hit = cache.get(e.path)
            same = (
                hit is not None
                and hit[:4] == (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                and hit[4].digest == e.digest
            )
            if not same:
                hashed = True
                same = _same_content(f"{root}/{e.path}", e)
            if same:
                if stat.S_IMODE(st.st_mode) == e.mode:
                    return "keep", 0, hashed
                os.chmod(f"{root}/{e.path}", e.mode)
                return "chmod", 0, hashed
        _place(root, e, store.object_path(e.digest or ""), umask, fresh=st is None)
        return "write", e.size, hashed

    def batch(part: list[Entry]) -> list[tuple[str, int, bool]]:
        return [one(e) for e in part]

    with ThreadPoolExecutor(store.workers, thread_name_prefix="restore") as pool:
        results = [r for part in pool.map(batch, _batches(files, store.workers)) for r in part]
    fs_end = store.fs_now_ns()
    new: dict[str, CacheValue] = {}
    for e, (done, nbytes, hashed) in zip(files, results, strict=True):
        stats.files_hashed += hashed
        if done == "write":
            stats.files_written += 1
            stats.bytes_written += nbytes
        else:
            stats.files_kept += 1
            stats.modes_fixed += done == "chmod"
        if not use_cache:
            continue
        st = cur.get(e.path) if done == "keep" else None
        with contextlib.suppress(OSError):
            st = st or os.lstat(f"{root}/{e.path}")
        limit = fs_start if hashed and done == "keep" else fs_end
        if st is not None and max(st.st_mtime_ns, st.st_ctime_ns) < limit:
            new[e.path] = cache_value((st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns), e)
    return new if use_cache else None
