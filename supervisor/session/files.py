"""Atomic file writes: temp file in the same directory, fsync, os.replace, fsync the dir.

A reader (or a crash) sees either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644, durable: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file; on clean exit it replaces ``path`` atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    with atomic_writer(path, mode=mode, durable=durable) as fh:
        fh.write(data)


def write_text_atomic(path: Path, text: str, mode: int = 0o644, durable: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), mode=mode, durable=durable)


def write_json_atomic(path: Path, obj: Any, mode: int = 0o644, durable: bool = True) -> None:
    data = json.dumps(obj, indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"
    write_text_atomic(path, data, mode=mode, durable=durable)


def append_line(path: Path, line: str) -> None:
    """Append one line (adds the newline) to an append-only text file."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
