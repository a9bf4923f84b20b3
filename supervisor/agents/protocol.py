"""Agent protocol v1: split, parse and validate agent stdout lines; encode commands. Pure.

Agent to supervisor: one JSON object per line with a known ``type`` (DESIGN.md section 4).
Anything else on stdout is agent output: ``parse_line`` returns a ``Garbage`` saying why,
never raises, so a misbehaving agent can only produce log lines, not failures.

This is the supervisor's hot path, so it avoids per-event work that is not needed:
``json`` is driven through a module-level decoder (``json.loads`` with ``parse_constant``
would build a new decoder per call), validation is one small function per type that only
reads fields, and ``Event.raw`` keeps the exact line bytes so the journal can embed them
without re-encoding.

Decisions beyond the DESIGN table:
- ``Event.fields`` is the decoded object itself, ``"type"`` key included; unknown extra
  fields are kept. ``test_result.coverage`` in 0..100 is normalised in ``fields`` to 0..1
  (``raw`` keeps what the agent sent: replays go through ``event_from_object`` again).
- An optional field given as ``null`` counts as absent.
- Counts (``prompt``, ``passed``...) must be ints in 0..2**53, numbers must be finite: an
  agent cannot push a value that later breaks counters, msgpack or JSON output.
- NaN/Infinity literals and floats that overflow to infinity give ``nonfinite_number``;
  lone UTF-16 surrogate escapes (``"\\ud800"``) give ``not_utf8`` (they cannot be encoded
  as UTF-8 or msgpack later); nesting too deep for the parser gives ``invalid_json``.
- Lines are split on ``\\n``; a trailing ``\\r`` and JSON whitespace around the object
  are dropped from ``raw``. Empty and whitespace-only lines are ignored (``None``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from supervisor.agents.protocol_checks import CHECKS, MAX_COUNT, TASK_STATUSES

MAX_LINE_BYTES = 64 * 1024
PREVIEW_CHARS = 200
__all__ = [
    "COMMANDS", "EVENT_TYPES", "GARBAGE_REASONS", "MAX_COUNT", "MAX_LINE_BYTES",
    "TASK_STATUSES", "Event", "Garbage", "LineSplitter", "Oversize", "encode_command",
    "event_from_object", "parse_line",
]  # fmt: skip

# hello tool_call tokens task test_result error state memory vote quiesced heartbeat
EVENT_TYPES = frozenset(CHECKS)
COMMANDS = frozenset({"quiesce", "resume", "switch_model", "compress_context", "throttle", "stop"})
GARBAGE_REASONS = frozenset(
    {
        "invalid_json", "not_utf8", "not_object", "no_type", "unknown_type",
        "bad_field", "oversize", "nonfinite_number",
    }
)  # fmt: skip


@dataclass(slots=True)
class Event:
    """One accepted protocol event. ``fields`` is the whole decoded object."""

    type: str
    fields: dict[str, Any]
    raw: bytes  # the exact line (valid UTF-8 JSON object, no newline)


@dataclass(slots=True)
class Garbage:
    """A line that is agent output, not an event. ``detail`` names the bad field."""

    reason: str
    preview: str  # first PREVIEW_CHARS characters, decoded with errors="replace"
    length: int = 0  # bytes in the line (for oversize: bytes seen before it was cut)
    detail: str = ""


@dataclass(slots=True, frozen=True)
class Oversize:
    """Marker from ``LineSplitter`` for a line longer than the limit (already dropped)."""

    length: int  # bytes seen when the line crossed the limit
    preview: bytes


def _preview(data: bytes) -> str:
    return data[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS]


class LineSplitter:
    """Incremental splitter of a byte stream into lines (without ``\\n``).

    A line longer than ``max_line`` bytes is never buffered whole: as soon as it crosses the
    limit one ``Oversize`` marker takes its place in the output and the rest of it, up to
    the next newline, is discarded as it arrives.
    """

    __slots__ = ("max_line", "oversize_lines", "_pending", "_pending_len", "_discarding")

    def __init__(self, max_line: int = MAX_LINE_BYTES):
        self.max_line = max_line
        self.oversize_lines = 0
        self._pending: list[bytes] = []  # pieces of the current partial line
        self._pending_len = 0
        self._discarding = False  # inside an oversize line, waiting for its newline

    def feed(self, chunk: bytes) -> list[bytes | Oversize]:
        """Take the next chunk; return the lines it completes (and any Oversize markers)."""
        if self._discarding:
            i = chunk.find(b"\n")
            if i < 0:
                return []
            self._discarding = False
            chunk = chunk[i + 1 :]
        if not chunk:
            return []
        parts: list[Any] = chunk.split(b"\n")
        tail = parts.pop()
        if not parts:  # no newline: the whole chunk continues the partial line
            marker = self._keep(tail)
            return [] if marker is None else [marker]
        if self._pending:
            self._pending.append(parts[0])
            parts[0] = b"".join(self._pending)
            self._pending = []
            self._pending_len = 0
        limit = self.max_line
        if max(map(len, parts)) > limit:
            parts = [p if len(p) <= limit else self._cut(p) for p in parts]
        if tail:
            marker = self._keep(tail)
            if marker is not None:
                parts.append(marker)
        return parts

    def finish(self) -> bytes | None:
        """At end of stream: the trailing partial line, or None. Resets the splitter."""
        rest = b"".join(self._pending) if self._pending else None
        self._pending = []
        self._pending_len = 0
        self._discarding = False
        return rest

    def _keep(self, piece: bytes) -> Oversize | None:
        total = self._pending_len + len(piece)
        if total <= self.max_line:
            self._pending.append(piece)
            self._pending_len = total
            return None
        head = b"".join(self._pending)[: PREVIEW_CHARS * 4] + piece[: PREVIEW_CHARS * 4]
        self._pending = []
        self._pending_len = 0
        self._discarding = True
        self.oversize_lines += 1
        return Oversize(total, head[: PREVIEW_CHARS * 4])

    def _cut(self, line: bytes) -> Oversize:
        self.oversize_lines += 1
        return Oversize(len(line), line[: PREVIEW_CHARS * 4])


# --- parsing ------------------------------------------------------------------------


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf (nan cannot come from a JSON number)
        raise _NonFinite(text)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
# the C scanner behind JSONDecoder.raw_decode: (str, index) -> (value, end index)
_scan_once: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_WS = b" \t\r\n"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _garbage(reason: str, line: bytes, detail: str = "") -> Garbage:
    return Garbage(reason, _preview(line), len(line), detail)


def parse_line(line: bytes | Oversize) -> Event | Garbage | None:  # noqa: C901 - one check per protocol field, in order; the hot path of intake, kept flat on purpose
    """Parse one stdout line. Event, Garbage (why it is not one), or None for blank lines."""
    if isinstance(line, Oversize):
        return Garbage("oversize", _preview(line.preview), line.length, "line too long")
    if not line:
        return None
    if len(line) > MAX_LINE_BYTES:
        return _garbage("oversize", line, "line too long")
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return _garbage("not_utf8", line)
    try:
        try:
            obj, end = _scan_once(text, 0)
        except StopIteration:
            obj, end = None, -1
        if end != len(text):  # leading/trailing whitespace, \r, or not JSON at all
            stripped = line.strip(_JSON_WS)
            if not stripped:
                return None
            if len(stripped) == len(line):
                return _garbage("invalid_json", line)
            line = stripped
            text = line.decode()
            obj, end = _scan_once(text, 0)
            if end != len(text):
                return _garbage("invalid_json", line, "extra data after the value")
        if b"\n" in line:  # JSON whitespace, but raw must stay one journal line
            return _garbage("invalid_json", line, "newline inside the line")
    except _NonFinite as exc:
        return _garbage("nonfinite_number", line, f"non-finite number {str(exc)[:40]}")
    except RecursionError:
        return _garbage("invalid_json", line, "nested too deeply")
    except (ValueError, StopIteration):  # JSONDecodeError, int digit limit
        return _garbage("invalid_json", line)
    if obj.__class__ is not dict:
        return _garbage("not_object", line)
    if b"\\u" in line and _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(obj):
        return _garbage("not_utf8", line, "lone surrogate escape")
    kind: Any = obj.get("type")
    check = CHECKS.get(kind) if kind.__class__ is str else None
    if check is None:
        return _garbage("no_type" if kind.__class__ is not str else "unknown_type", line)
    problem = check(obj)
    if problem is not None:
        return _garbage("bad_field", line, f"{kind}.{problem}")
    return Event(kind, obj, line)


def event_from_object(obj: Any, raw: bytes = b"") -> Event | Garbage:
    """Validate an already decoded object (e.g. an event replayed from the journal)."""
    preview = raw or repr(obj)[: PREVIEW_CHARS * 4].encode("utf-8", "replace")
    if obj.__class__ is not dict:
        return _garbage("not_object", preview)
    kind: Any = obj.get("type")
    check = CHECKS.get(kind) if kind.__class__ is str else None
    if check is None:
        return _garbage("no_type" if kind.__class__ is not str else "unknown_type", preview)
    problem = check(obj)
    if problem is not None:
        return _garbage("bad_field", preview, f"{kind}.{problem}")
    return Event(kind, obj, raw)


def _has_lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# --- supervisor to agent ------------------------------------------------------------------


def encode_command(cmd: str, /, **fields: Any) -> bytes:
    """One stdin line for an agent, e.g. ``b'{"cmd":"quiesce"}\\n'``.

    Raises ValueError for an unknown command or missing/bad fields (a programming error:
    commands are built by the supervisor, never taken from users as is).
    """
    if cmd not in COMMANDS:
        raise ValueError(f"unknown agent command {cmd!r} (known: {', '.join(sorted(COMMANDS))})")
    if "cmd" in fields:
        raise ValueError("field name 'cmd' is reserved")
    if cmd == "switch_model" and not (isinstance(fields.get("model"), str) and fields["model"]):
        raise ValueError("switch_model needs model=<non-empty string>")
    if cmd == "throttle":
        seconds = fields.get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not (0 <= seconds < float("inf"))
        ):
            raise ValueError("throttle needs seconds=<finite number >= 0>")
    try:
        text = json.dumps({"cmd": cmd, **fields}, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"command {cmd}: fields are not JSON: {exc}") from exc
    return text.encode("ascii") + b"\n"
