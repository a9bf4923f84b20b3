"""Shared by the snapshot tests: what a restore must reproduce of a tree, and a store whose
filesystem clock is far in the future (so no file counts as changed-while-read): the
``store`` fixture in tests/unit/conftest.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

FAR_FUTURE = 2**62  # a filesystem clock past every file: nothing counts as racy


def tree_state(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, int, bytes]]:
    """Kind, permission bits and content or link text of every node under ``root``;
    directories named in ``skip`` are recorded but not entered."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        names = dirnames + filenames
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in names:
            path = Path(dirpath) / name
            st = os.lstat(path)
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", 0, os.readlink(path).encode())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return out
