"""Where each key of a TOML document is defined: key path -> 1-based line number.

``tomllib`` gives values but no positions, so error messages would have no line. This
scanner walks the text once, following ``[table]`` and ``[[array.of.tables]]`` headers
(with the running index of each array), dotted and quoted keys and ``key = value``
lines. Values are measured by asking ``tomllib`` itself where they end, so multi-line
arrays, inline tables and multi-line strings never confuse it. Keys inside inline
tables and arrays get the line of the key that holds them.

Paths look like the loader's: ``phases[2].duration_minutes``, ``agent.env.FOO``.
It expects a document that ``tomllib`` has already accepted; on anything it cannot
follow it stops quietly (positions are a nicety, never a reason to fail).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from supervisor.errors import ConfigError, Problem


def join_key(prefix: str, part: str) -> str:
    """``prefix.part`` (or ``part`` at the top)."""
    return f"{prefix}.{part}" if prefix else part


def parent_key(path: str) -> str:
    """The path one level up: ``a.b[2].c`` -> ``a.b[2]`` -> ``a.b`` -> ``a`` -> ``""``."""
    if path.endswith("]"):
        return path[: path.rindex("[")]
    dot = path.rfind(".")
    return path[:dot] if dot >= 0 else ""


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of ``path``, else of the nearest enclosing table that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = parent_key(path)
    return None


def _key_parts(key_text: str) -> list[str] | None:
    """The parts of a (dotted, maybe quoted) key, decoded by tomllib itself."""
    try:
        node: Any = tomllib.loads(f"{key_text} = 0")
    except tomllib.TOMLDecodeError:
        return None
    parts: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        ((k, node),) = node.items()
        parts.append(k)
    return parts


def _header_parts(line: str) -> tuple[list[str], bool] | None:
    """(parts, is_array) of a ``[a.b]`` / ``[[a.b]]`` header line (comments allowed)."""
    try:
        node: Any = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None
    parts: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        ((k, node),) = node.items()
        parts.append(k)
    if isinstance(node, list):
        return parts, True
    return parts, False


def _split_key_value(line: str) -> tuple[str, str] | None:
    """Split ``key = value`` at the first ``=`` outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return line[:i].strip(), line[i + 1 :]
    return None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.rows = text.splitlines()
        self.lines: dict[str, int] = {}
        self.arrays: dict[str, int] = {}  # resolved array path -> elements seen
        self.table = ""  # resolved path of the current table

    def record(self, path: str, lineno: int) -> None:
        self.lines.setdefault(path, lineno)

    def resolve(self, parts: list[str]) -> str:
        """Join ``parts``, stepping into the latest element of arrays of tables."""
        out = ""
        for part in parts:
            out = join_key(out, part)
            if out in self.arrays:
                out += f"[{self.arrays[out] - 1}]"
        return out

    def header(self, parts: list[str], is_array: bool, lineno: int) -> None:
        if is_array:
            base = join_key(self.resolve(parts[:-1]), parts[-1])
            self.arrays[base] = self.arrays.get(base, 0) + 1
            self.record(base, lineno)
            self.table = f"{base}[{self.arrays[base] - 1}]"
        else:
            self.table = self.resolve(parts)
        self.record(self.table, lineno)

    def walk_value(self, path: str, value: Any, lineno: int) -> None:
        self.record(path, lineno)
        if isinstance(value, dict):
            for k, sub in value.items():
                self.walk_value(join_key(path, k), sub, lineno)
        elif isinstance(value, list):
            for j, sub in enumerate(value):
                self.walk_value(f"{path}[{j}]", sub, lineno)

    def value_extent(self, start: int, first: str) -> tuple[Any, int] | None:
        """Parse the value beginning ``first`` (rest of row ``start``); (value, rows used)."""
        chunk = first
        for end in range(start, len(self.rows)):
            if end > start:
                chunk += "\n" + self.rows[end]
            try:
                return tomllib.loads(f"v ={chunk}\n")["v"], end - start + 1
            except tomllib.TOMLDecodeError:
                continue
        return None

    def scan(self) -> dict[str, int]:
        i = 0
        while i < len(self.rows):
            row = self.rows[i].strip()
            lineno = i + 1
            i += 1
            if not row or row.startswith("#"):
                continue
            if row.startswith("["):
                found = _header_parts(row)
                if found is None:
                    break
                self.header(found[0], found[1], lineno)
                continue
            split = _split_key_value(row)
            parts = _key_parts(split[0]) if split else None
            if split is None or not parts:
                break
            extent = self.value_extent(i - 1, split[1])
            if extent is None:
                break
            value, used = extent
            path = self.table
            for part in parts[:-1]:
                path = join_key(path, part)
                self.record(path, lineno)
            self.walk_value(join_key(path, parts[-1]), value, lineno)
            i += used - 1
        return self.lines


def key_lines(text: str) -> dict[str, int]:
    """Map every key path defined in ``text`` to the line (1-based) that defines it."""
    return _Scanner(text).scan()


_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def parse_toml(text: str, source: str) -> tuple[dict[str, Any], dict[str, int]]:
    """(data, key lines) of a TOML text; a syntax error is a ConfigError with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None = None
        if m := _AT_LINE.search(message):
            line = int(m.group(1))
            message = f"{message[: m.start()]} (column {m.group(2)})"
        elif m := _AT_END.search(message):
            line = max(1, len(text.splitlines()))
            message = f"{message[: m.start()]} (at end of file)"
        raise ConfigError([Problem(source, "", f"TOML syntax error: {message}", line)]) from None
    return data, key_lines(text)


def read_toml(path: Path, source: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Read and parse a TOML file; every way of failing is a ConfigError, never a traceback."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "is a directory, not a file"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text (bad byte at offset {exc.start})"
        else:
            return parse_toml(text, source)
    raise ConfigError([Problem(source, "", f"cannot read config file {path}: {reason}")])
