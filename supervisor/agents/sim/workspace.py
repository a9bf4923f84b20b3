"""The project directory the simulated agent writes into.

Every write is atomic (temp file in the same directory, then ``os.replace``), so a
snapshot sees either the old file or the new one. ``create`` makes a file only if it is
absent (``os.link`` of the temp file), so two agents racing for a shared file never both
write it.
"""

from __future__ import annotations

import os
import re

_TEST_DEF = re.compile(rb"^\s*(?:async\s+)?def\s+test_\w*\s*\(", re.MULTILINE)


class Workspace:
    """A project directory; paths are relative, with ``/`` separators."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._test_cache: dict[str, tuple[int, int, int]] = {}  # path -> (mtime, size, count)

    def path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.path(rel))

    def read(self, rel: str) -> str | None:
        try:
            with open(self.path(rel), encoding="utf-8") as fh:
                return fh.read()
        except (OSError, UnicodeDecodeError):
            return None

    def _temp(self, target: str, text: str) -> str:
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{os.path.basename(target)}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        return tmp

    def write(self, rel: str, text: str) -> None:
        """Write ``rel`` atomically, replacing any previous content."""
        target = self.path(rel)
        tmp = self._temp(target, text)
        try:
            os.replace(tmp, target)
        except BaseException:
            _unlink(tmp)
            raise

    def create(self, rel: str, text: str) -> bool:
        """Write ``rel`` atomically only if it does not exist; False if it already did."""
        target = self.path(rel)
        if os.path.exists(target):
            return False
        tmp = self._temp(target, text)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError:
            # A file system without hard links: fall back to a checked replace.
            if os.path.exists(target):
                return False
            os.replace(tmp, target)
            return True
        finally:
            _unlink(tmp)
        return True

    def files(self, top: str = "") -> list[str]:
        """Relative paths of the regular files under ``top`` (hidden entries skipped), sorted."""
        base = self.path(top) if top else self.root
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in filenames:
                if not name.startswith("."):
                    found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
        return sorted(found)

    def count_tests(self) -> int:
        """Number of ``def test_*`` functions in ``tests/`` (cached by mtime and size)."""
        total = 0
        seen: set[str] = set()
        for rel in self.files("tests"):
            if not rel.endswith(".py"):
                continue
            seen.add(rel)
            try:
                st = os.stat(self.path(rel))
            except OSError:
                continue
            cached = self._test_cache.get(rel)
            if cached and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
                total += cached[2]
                continue
            try:
                with open(self.path(rel), "rb") as fh:
                    count = len(_TEST_DEF.findall(fh.read()))
            except OSError:
                continue
            self._test_cache[rel] = (st.st_mtime_ns, st.st_size, count)
            total += count
        for stale in set(self._test_cache) - seen:
            del self._test_cache[stale]
        return total


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
