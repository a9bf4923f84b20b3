"""Turn parsed TOML (plain dicts and lists) into the schema dataclasses, by type hint.

A ``Decoder`` reads one layer (a file, a preset, the command line) on top of a base
value: keys present replace the base's, keys absent keep it, so layers stack. It never
stops at the first mistake: every problem is added to ``problems`` with its source,
key path and line, and the value falls back to the base so the rest can be checked.
A value of the right type but out of range is kept (and reported), so later
cross-key checks still see it.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import math
import re
import types
import typing
from typing import Any, Union

from supervisor.config.checks import CHECKS, ITEM_CHECKS, KEY_CHECKS, NORMALIZERS, suggest
from supervisor.config.toml_lines import join_key, line_of
from supervisor.errors import Problem


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()
_MISSING: Any = dataclasses.MISSING


def type_name(value: Any) -> str:
    """The TOML name of a value's type, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, datetime.date | datetime.time):
        return "datetime"
    return type(value).__name__


def describe(value: Any) -> str:
    """``string 'abc'``, ``integer 5``, ``table``: what was found instead."""
    if isinstance(value, list | tuple | dict):
        return type_name(value)
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type_name(value)} {text}"


def schema_path(path: str) -> str:
    """The path without array indices: ``phases[2].name`` -> ``phases.name``."""
    return re.sub(r"\[\d+\]", "", path)


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_of(tp: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return None


class Decoder:
    """Reads one layer of config values from one source, collecting problems."""

    def __init__(
        self,
        source: str,
        problems: list[Problem],
        lines: dict[str, int] | None = None,
        origins: dict[str, tuple[str, int | None]] | None = None,
    ) -> None:
        self.source = source
        self.problems = problems
        self.lines = lines or {}
        self.origins = origins if origins is not None else {}

    def line(self, path: str) -> int | None:
        return line_of(self.lines, path)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.source, path, message, self.line(path)))

    def unknown(self, path: str, key: str, known: list[str]) -> None:
        self.problem(join_key(path, key), f"unknown key{suggest(key, known)}")

    # ---- dataclasses -------------------------------------------------------------

    def build(
        self, cls: type, raw: Any, path: str, base: Any = None, skip: tuple[str, ...] = ()
    ) -> Any:
        """An instance of ``cls`` from table ``raw`` over ``base``; INVALID if unusable."""
        if not isinstance(raw, dict):
            self.problem(path, f"must be a table, got {describe(raw)}")
            return base if base is not None else INVALID
        fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
        names = [f.name for f in fields]
        values: dict[str, Any] = {}
        for f in fields:
            if base is not None:
                values[f.name] = getattr(base, f.name)
            elif f.default is not _MISSING:
                values[f.name] = f.default
            elif f.default_factory is not _MISSING:
                values[f.name] = f.default_factory()  # type: ignore[operator]
        for key, item in raw.items():
            if key not in names:
                self.unknown(path, key, names)
                continue
            sub = join_key(path, key)
            value = self.convert(hints(cls)[key], item, sub, values.get(key))
            if value is not INVALID:
                values[key] = value
                self.origins[sub] = (self.source, self.line(sub))
        missing = [n for n in names if n not in values]
        for name in missing:
            self.problem(path, f"missing required key '{name}'")
        return INVALID if missing else cls(**values)

    # ---- values ------------------------------------------------------------------

    def convert(self, tp: Any, raw: Any, path: str, base: Any = None, rules: str = "") -> Any:
        """``raw`` as type ``tp``, normalized and checked; INVALID on a type mistake.

        ``rules`` names the checks to apply when they are not the ones of ``path``.
        """
        value = self._convert(tp, raw, path, base)
        if value is INVALID:
            return INVALID
        rules = rules or schema_path(path)
        normalize = NORMALIZERS.get(rules)
        if normalize is not None:
            value = normalize(value)
        for check in CHECKS.get(rules, ()):
            message = check(value)
            if message:
                self.problem(path, message)
                break
        return value

    def _convert(self, tp: Any, raw: Any, path: str, base: Any) -> Any:
        inner = _optional_of(tp)
        if inner is not None:
            if isinstance(inner, type) and dataclasses.is_dataclass(inner):
                return self.build(inner, raw, path, base if base is not None else inner())
            return self._convert(inner, raw, path, base)
        if dataclasses.is_dataclass(tp):
            return self.build(typing.cast(type, tp), raw, path, base)
        if typing.get_origin(tp) is tuple:
            return self._tuple(typing.get_args(tp)[0], raw, path)
        return self.scalar(tp, raw, path)

    def scalar(self, tp: Any, raw: Any, path: str) -> Any:
        if tp is bool:
            ok = isinstance(raw, bool)
            want = "a boolean (true or false)"
        elif tp is int:
            ok = isinstance(raw, int) and not isinstance(raw, bool)
            want = "an integer"
        elif tp is float:
            ok = isinstance(raw, int | float) and not isinstance(raw, bool)
            want = "a number"
        elif tp is str:
            ok = isinstance(raw, str)
            want = "a string"
        else:  # pragma: no cover - the schema has no other leaf types
            raise TypeError(f"unsupported config type {tp!r} at {path}")
        if not ok:
            self.problem(path, f"must be {want}, got {describe(raw)}")
            return INVALID
        if tp is float and not math.isfinite(raw):
            self.problem(path, f"must be a finite number, got {describe(raw)}")
            return INVALID
        return float(raw) if tp is float else raw

    def _tuple(self, item_tp: Any, raw: Any, path: str) -> Any:
        if typing.get_origin(item_tp) is tuple:  # a table of values: tuple[tuple[str, X], ...]
            return self._table_of_values(typing.get_args(item_tp)[1], raw, path)
        want = "an array of tables" if dataclasses.is_dataclass(item_tp) else "a list of strings"
        if not isinstance(raw, list):
            self.problem(path, f"must be {want}, got {describe(raw)}")
            return INVALID
        items: list[Any] = []
        bad = False
        for j, element in enumerate(raw):
            sub = f"{path}[{j}]"
            value = self._convert(item_tp, element, sub, None)
            if value is INVALID:
                bad = True
                continue
            self._item_checks(path, sub, value)
            items.append(value)
        if bad and not dataclasses.is_dataclass(item_tp):
            return INVALID
        return tuple(items)

    def _item_checks(self, path: str, sub: str, value: Any) -> None:
        for check in ITEM_CHECKS.get(schema_path(path), ()):
            message = check(value)
            if message:
                self.problem(sub, message)
                return

    def _table_of_values(self, value_tp: Any, raw: Any, path: str) -> Any:
        if not isinstance(raw, dict):
            self.problem(path, f"must be a table, got {describe(raw)}")
            return INVALID
        pairs: list[tuple[str, Any]] = []
        for key, element in raw.items():
            sub = join_key(path, key)
            bad_key = False
            for check in KEY_CHECKS.get(schema_path(path), ()):
                message = check(key)
                if message:
                    self.problem(sub, message)
                    bad_key = True
                    break
            value = self.scalar(value_tp, element, sub)
            if value is INVALID or bad_key:
                continue
            self._item_checks(path, sub, value)
            pairs.append((key, value))
        return tuple(pairs)
