"""The manifest of a project tree: its entries, their checks and their compact encoding.

A manifest lists a project tree as ``Entry`` rows (posix paths relative to the project
root). ``validate_manifest`` refuses any manifest that could make a restore write
outside the project (``..``, absolute paths, entries under a non-directory, links that
resolve outside the root, following the manifest's other links as the kernel would).
``encode_manifest`` gives the compact msgpack form stored in a checkpoint body, and
remembers each row's packed bytes, so re-encoding a mostly unchanged tree is cheap.
"""

from __future__ import annotations

import itertools
import operator
import os
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from supervisor.errors import CheckpointCorrupt

_SYMLINK_BUDGET = 64  # more than the kernel's 40, so whatever the kernel resolves, we do
Kind = Literal["file", "dir", "symlink"]
_KIND_CODE: dict[str, int] = {"file": 0, "dir": 1, "symlink": 2}
_CODE_KIND: dict[int, Kind] = {0: "file", 1: "dir", 2: "symlink"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One node of a project tree. ``path`` is posix and relative to the project root."""

    path: str
    kind: Kind
    mode: int  # permission bits (stat.S_IMODE)
    size: int = 0  # files only
    digest: str | None = None  # files only: sha256 hex of the content
    target: str | None = None  # symlinks only: the link text, never followed


# ---------------------------------------------------------------- manifest checks


def _bad(where: str, index: int, path: object, what: str) -> CheckpointCorrupt:
    return CheckpointCorrupt(where, f"manifest entry {index} ({path!r}): {what}")


def _check_path(path: str) -> str | None:
    if not path:
        return "empty path"
    if "\x00" in path:
        return "path contains a NUL byte"
    if path.startswith("/"):
        return "absolute path"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return f"path component {part!r} is not allowed (must be a plain relative path)"
    return None


def link_escapes(path: str, target: str, links: Mapping[str, str]) -> str | None:
    """Why the link at ``path`` resolves outside the root (following ``links``), or None.

    Resolution is virtual: it walks the manifest, following the other links in it, as
    the kernel would once the tree is on disk. A loop is not an escape (the kernel
    would stop with ELOOP before leaving the tree).
    """
    if target.startswith("/"):
        return f"link target {target!r} is absolute"
    stack = path.split("/")[:-1]
    pending = deque(target.split("/"))
    budget = _SYMLINK_BUDGET
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return f"link target {target!r} climbs out of the project"
            stack.pop()
            continue
        stack.append(part)
        inner = links.get("/".join(stack))
        if inner is None:
            continue
        budget -= 1
        if budget < 0:
            return None
        if inner.startswith("/"):
            return f"link target {target!r} goes through a link to an absolute path"
        stack.pop()
        pending.extendleft(reversed(inner.split("/")))
    return None


def _check_entry(e: object, index: int, where: str) -> Entry:  # noqa: C901 - one check per manifest field, each with its own message
    if not isinstance(e, Entry):
        raise _bad(where, index, None, f"expected an Entry, got {type(e).__name__}")
    p = e.path
    if not isinstance(p, str):
        raise _bad(where, index, p, f"path must be a string, got {type(p).__name__}")
    why = _check_path(p)
    if why:
        raise _bad(where, index, p, why)
    if e.kind not in _KIND_CODE:
        raise _bad(where, index, p, f"unknown kind {e.kind!r}")
    if type(e.mode) is not int or not 0 <= e.mode <= 0o7777:
        raise _bad(where, index, p, f"mode must be an int in 0..0o7777, got {e.mode!r}")
    if e.kind == "file":
        if type(e.size) is not int or e.size < 0:
            raise _bad(where, index, p, f"size must be a non-negative int, got {e.size!r}")
        if not isinstance(e.digest, str) or not _HEX64.fullmatch(e.digest):
            raise _bad(where, index, p, f"digest must be 64 lowercase hex digits, got {e.digest!r}")
        if e.target is not None:
            raise _bad(where, index, p, "a file has no link target")
    elif e.kind == "symlink":
        t = e.target
        if not isinstance(t, str) or not t or "\x00" in t:
            raise _bad(where, index, p, f"link target must be a non-empty string, got {t!r}")
        if e.digest is not None:
            raise _bad(where, index, p, "a link has no digest")
    elif e.digest is not None or e.target is not None:
        raise _bad(where, index, p, "a directory has no digest or target")
    return e


def validate_manifest(manifest: Sequence[Entry], where: str) -> None:
    """Refuse (``CheckpointCorrupt``) a manifest that is malformed or unsafe to restore."""
    if not isinstance(manifest, Sequence) or isinstance(manifest, str | bytes):
        raise CheckpointCorrupt(where, f"manifest must be a list, got {type(manifest).__name__}")
    kinds: dict[str, str] = {}
    links: dict[str, str] = {}
    for i, raw in enumerate(manifest):
        e = _check_entry(raw, i, where)
        if e.path in kinds:
            raise _bad(where, i, e.path, "duplicate path")
        kinds[e.path] = e.kind
        if e.kind == "symlink":
            links[e.path] = e.target  # type: ignore[assignment]
    for i, e in enumerate(manifest):
        parent, sep, _ = e.path.rpartition("/")
        if sep and kinds.get(parent) != "dir":
            what = kinds.get(parent)
            why = "is missing" if what is None else f"is a {what}, not a directory"
            raise _bad(where, i, e.path, f"parent {parent!r} {why}")
        if e.kind == "symlink":
            escape = link_escapes(e.path, e.target or "", links)
            if escape:
                raise _bad(where, i, e.path, escape)


# ---------------------------------------------------------------- manifest encoding


def _enc_name(s: str) -> str | bytes:
    """Names that are not valid UTF-8 (surrogate-escaped) travel as raw bytes."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return os.fsencode(s)


class EncodedManifest(list[list[Any]]):
    """Manifest rows (a plain list to msgpack) that also carry their packed bytes, so
    writing a checkpoint does not pack 10,000 unchanged rows again. Read-only."""

    __slots__ = ("packed",)

    def __init__(self, rows: list[list[Any]], packed: bytes):
        super().__init__(rows)
        self.packed = packed


# The entries encoded last time, their rows, packed rows and positions by id: an entry
# object seen before (entries are immutable) reuses its row and packed bytes. One tuple,
# swapped whole, so concurrent callers never see half of an update.
_MemoState = tuple[list[Entry], list[list[Any]], list[bytes], dict[int, int], "EncodedManifest"]
_memo: _MemoState | None = None


def _encode_one(e: Entry) -> list[Any]:
    if e.kind == "file":
        return [_enc_name(e.path), 0, e.mode, e.size, bytes.fromhex(e.digest or "")]
    if e.kind == "dir":
        return [_enc_name(e.path), 1, e.mode]
    return [_enc_name(e.path), 2, _enc_name(e.target or "")]


def encode_manifest(entries: Sequence[Entry]) -> list[list[Any]]:
    """Compact msgpack form: [path, 0, mode, size, sha256 bytes] | [path, 1, mode] |
    [path, 2, target]. Treat the result as read-only: it may be shared with a previous
    call for the same entries."""
    global _memo
    entries = list(entries)
    n = len(entries)
    memo = _memo
    if memo is not None and len(memo[0]) == n and all(map(operator.is_, entries, memo[0])):
        return memo[4]
    # positions of the same objects last time (-1: new); all C-level passes
    at = list(map(memo[3].get, map(id, entries), itertools.repeat(-1))) if memo else [-1] * n
    if memo is not None and memo[1]:
        rows = list(map(memo[1].__getitem__, at))
        parts = list(map(memo[2].__getitem__, at))
    else:
        rows, parts = [[]] * n, [b""] * n
    packer = msgpack.Packer(use_bin_type=True)
    for i in itertools.compress(range(n), map((-1).__eq__, at)):
        rows[i] = _encode_one(entries[i])
        parts[i] = packer.pack(rows[i])
    encoded = EncodedManifest(rows, packer.pack_array_header(n) + b"".join(parts))
    _memo = (entries, rows, parts, dict(zip(map(id, entries), range(n), strict=True)), encoded)
    return encoded


def _dec_name(v: object, what: str, i: int, where: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return os.fsdecode(v)
    raise _bad(where, i, None, f"{what} must be a string, got {type(v).__name__}")


def decode_manifest(obj: object, where: str) -> list[Entry]:
    """Inverse of ``encode_manifest``; the result is checked by ``validate_manifest``."""
    if not isinstance(obj, list):
        raise CheckpointCorrupt(where, f"manifest must be a list, got {type(obj).__name__}")
    out: list[Entry] = []
    for i, row in enumerate(obj):
        if not isinstance(row, list) or len(row) < 3 or type(row[1]) is not int:
            raise _bad(where, i, None, f"malformed row {row!r:.80}")
        path = _dec_name(row[0], "path", i, where)
        kind = _CODE_KIND.get(row[1])
        arity = {"file": 5, "dir": 3, "symlink": 3}.get(kind or "", 0)
        if kind is None or len(row) != arity:
            raise _bad(where, i, path, f"malformed row {row!r:.80}")
        if kind == "file":
            digest = row[4]
            if not isinstance(digest, bytes) or len(digest) != 32:
                raise _bad(where, i, path, "digest must be 32 bytes of sha256")
            out.append(Entry(path, "file", row[2], row[3], digest.hex()))
        elif kind == "dir":
            out.append(Entry(path, "dir", row[2]))
        else:
            out.append(Entry(path, "symlink", 0o777, target=_dec_name(row[2], "target", i, where)))
    validate_manifest(out, where)
    return out
