"""The write-ahead event journal ``events.wal``: append-only JSON lines (DESIGN.md 5, 6).

Every accepted agent event is appended before it changes any counter, and so are supervisor
records (phase, agent start/exit, checkpoint, failure, recovery, command ...). ``resume``
replays the records after the checkpoint's ``seq``: nothing acknowledged is lost. Format::

    {"seq":0,"k":"journal","schema":1,"format":"megatest-events","w":1800000000.0}
    {"seq":1,"t":12.345,"w":1800000012.345,"k":"ev","a":"agent-1","e":{"type":"heartbeat"}}
    {"seq":2,"t":12.4,"w":1800000012.4,"k":"phase_start","phase":"development"}

``seq`` increases by one per record, from 1, and continues across supervisor restarts;
``t`` is session seconds and ``w`` wall Unix time, both with 3 decimals. ``"k":"ev"``
records embed the agent's line verbatim (``Event.raw``, a valid UTF-8 JSON object) under
``"e"``; every other ``k`` is a supervisor record with its own fields. The header (seq 0)
is written when the file is created; a file whose first line is not that header (older or
foreign) is refused with ``SessionError`` and left untouched.

Durability model:
- Each ``append_events``/``append`` call is one ``write()`` syscall on an ``O_APPEND``
  descriptor, with no user-space buffer: once it returns, the records are in the kernel and
  survive a SIGKILL of the supervisor. If a write fails half way (disk full), the file is
  cut back to where it was and ``seq`` does not advance, so the error (``OSError``) never
  leaves a torn record in the middle of the file.
- ``fsync`` happens at most every ``fsync_interval`` seconds (checked on append; by default
  in a background thread, so event intake never waits on the disk), and on ``sync()`` and
  ``close()``: power loss can lose at most the records since the last fsync. Checkpoints
  call ``sync()`` first, so the ``seq`` a checkpoint covers is always on disk.
- A power loss can leave a torn last record. Readers ignore it; opening the journal for
  writing cuts it off (and any unparseable lines after the last good record) so new records
  never glue onto garbage, and reports the bytes dropped in ``Journal.dropped_bytes``.
- One writer at a time: the file is ``flock``-ed while open (``SessionError`` if taken).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisor.clock import monotonic, wall_time
from supervisor.errors import SessionError

if TYPE_CHECKING:
    from supervisor.agents.protocol import Event

SCHEMA = 1
FORMAT = "megatest-events"
EVENT_KIND = "ev"
HEADER_KIND = "journal"
_HEADER_PREFIX = b'{"seq":0,"k":"journal"'
_RESERVED = frozenset({"seq", "t", "w", "k", "a", "e"})
_TAIL_WINDOW = 256 * 1024


@dataclass(slots=True)
class Record:
    """One journal record. ``event`` is set for agent events, ``fields`` for the rest."""

    seq: int
    t: float
    w: float
    kind: str
    agent: str | None = None
    event: dict[str, Any] | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def _decode_record(line: bytes) -> dict[str, Any] | None:
    """The record object of a complete line, or None when it is not a valid record."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if obj.__class__ is not dict or obj.get("seq").__class__ is not int:
        return None
    if obj.get("k").__class__ is not str:
        return None
    return obj


def _check_header(path: Path, first: bytes) -> None:
    obj = _decode_record(first)
    if obj is None or obj.get("k") != HEADER_KIND or obj.get("seq") != 0:
        raise SessionError(f"{path}: not an events journal (first line is not its header)")
    if obj.get("schema") != SCHEMA:
        raise SessionError(
            f"{path}: events journal schema {obj.get('schema')!r} is not supported "
            f"(this supervisor reads schema {SCHEMA})"
        )


class Journal:
    """Append-only writer of ``events.wal``. Not thread-safe: one event loop appends."""

    def __init__(
        self,
        path: Path,
        fsync_interval: float = 1.0,
        clock_wall: Callable[[], float] = wall_time,
        clock_monotonic: Callable[[], float] = monotonic,
        fsync_in_thread: bool = True,
    ):
        self.path = Path(path)
        self.fsync_interval = fsync_interval
        self._wall = clock_wall
        self._mono = clock_monotonic
        self.dropped_bytes = 0  # torn tail cut off when the file was opened
        self.last_wall = 0.0  # the ``w`` of the last record appended
        self.syncs = 0  # fsyncs done (inline, in the thread, or on sync/close)
        self._size = 0  # bytes in the file: this is the only writer (flock)
        self._cut_pending = False
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                msg = "journal is already open for writing (is another supervisor running?)"
                raise SessionError(f"{self.path}: {msg}") from None
            self.last_seq = self._recover()
        except BaseException:
            os.close(self._fd)
            raise
        self._last_sync = self._mono()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._closing = False
        self.sync_error: OSError | None = None  # a failed background fsync, kept for sync()
        self._fsync_in_thread = fsync_in_thread

    # --- opening ----------------------------------------------------------------------

    def _recover(self) -> int:
        """Check the header, cut a torn tail; return the last seq in the file."""
        size = self._size = os.fstat(self._fd).st_size
        if size == 0:
            self._write_header()
            return 0
        first = os.pread(self._fd, 4096, 0)
        nl = first.find(b"\n")
        if nl < 0 and size <= len(first):
            if not (_HEADER_PREFIX.startswith(first) or first.startswith(_HEADER_PREFIX)):
                raise SessionError(f"{self.path}: not an events journal (no header line)")
            self._truncate(0, size)  # torn header of a journal never written to
            self._size = 0
            self._write_header()
            return 0
        _check_header(self.path, first[: nl + 1] if nl >= 0 else first)
        window = _TAIL_WINDOW
        while True:
            start = max(0, size - window)
            data = os.pread(self._fd, size - start, start)
            lines = data.split(b"\n")
            tail = lines.pop()  # bytes after the last newline: a torn record, if any
            offset = size - len(tail)
            if start > 0:
                lines.pop(0)  # may begin mid-line
            for line in reversed(lines):
                obj = _decode_record(line)
                if obj is not None:
                    self._truncate(offset, size)
                    return int(obj["seq"])
                offset -= len(line) + 1
            if start == 0:  # the header itself parsed, so this cannot happen
                raise SessionError(f"{self.path}: events journal has no valid record")
            window *= 4

    def _write_header(self) -> None:
        header = {"seq": 0, "k": HEADER_KIND, "schema": SCHEMA, "format": FORMAT}
        header["w"] = round(self._wall(), 3)
        self._write(json.dumps(header, separators=(",", ":")).encode() + b"\n")

    def _truncate(self, offset: int, size: int) -> None:
        if offset < size:
            os.ftruncate(self._fd, offset)
            os.fsync(self._fd)
            self.dropped_bytes += size - offset

    # --- appending --------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        """One write(); on failure cut the file back so no torn record stays behind."""
        if self._cut_pending:
            os.ftruncate(self._fd, self._size)
            self._cut_pending = False
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # regular files write short only before an error
                written += os.write(self._fd, memoryview(data)[written:])
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                self._cut_pending = True  # retried before the next write
            raise
        self._size += len(data)

    def append_events(self, agent_id: str, t: float, events: Sequence[Event]) -> int:
        """Append a batch of agent events (one write); return the last seq."""
        if not events:
            return self.last_seq
        if not math.isfinite(t):
            raise ValueError(f"journal time must be finite, got {t!r}")
        self.last_wall = w = round(self._wall(), 3)
        mid = b',"t":%.3f,"w":%.3f,"k":"ev","a":%s,"e":' % (t, w, json.dumps(agent_id).encode())
        seq = self.last_seq
        parts: list[bytes] = []
        add = parts.extend
        for ev in events:
            seq += 1
            add((b'{"seq":%d' % seq, mid, ev.raw, b"}\n"))
        self._write(b"".join(parts))
        self.last_seq = seq
        self._maybe_sync()
        return seq

    def append(self, kind: str, t: float, **fields: Any) -> int:
        """Append one supervisor record of ``kind`` with ``fields``; return its seq."""
        if kind in (EVENT_KIND, HEADER_KIND) or not kind:
            raise ValueError(f"journal record kind {kind!r} is reserved")
        clash = _RESERVED.intersection(fields)
        if clash:
            raise ValueError(f"journal record fields {sorted(clash)} are reserved")
        if not math.isfinite(t):
            raise ValueError(f"journal time must be finite, got {t!r}")
        seq = self.last_seq + 1
        self.last_wall = w = round(self._wall(), 3)
        record = {"seq": seq, "t": round(t, 3), "w": w, "k": kind}
        record.update(fields)
        line = json.dumps(record, separators=(",", ":"), allow_nan=False, default=str)
        self._write(line.encode() + b"\n")
        self.last_seq = seq
        self._maybe_sync()
        return seq

    # --- durability -------------------------------------------------------------------

    def _maybe_sync(self) -> None:
        now = self._mono()
        if now - self._last_sync < self.fsync_interval:
            return
        self._last_sync = now
        if not self._fsync_in_thread:
            self._fsync()
            return
        if self._thread is None:
            name = f"journal-fsync:{self.path.name}"
            self._thread = threading.Thread(target=self._sync_loop, name=name, daemon=True)
            self._thread.start()
        self._wake.set()

    def _sync_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                self._fsync()
            except OSError as exc:  # raised by the next sync(): the data may be lost
                self.sync_error = exc

    def _fsync(self) -> None:
        os.fsync(self._fd)
        self.syncs += 1

    def sync(self) -> None:
        """Make everything appended so far durable (blocking: run it in a thread).

        Raises OSError if this fsync, or a background one since the last sync(), failed.
        """
        error, self.sync_error = self.sync_error, None
        if error is not None:
            raise error
        self._fsync()
        self._last_sync = self._mono()

    def close(self) -> None:
        """Sync, stop the fsync thread, close. Idempotent. OSError (after closing) as sync()."""
        if self._fd < 0:
            return
        if self._thread is not None:
            self._closing = True
            self._wake.set()
            self._thread.join()
            self._thread = None
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- reading ----------------------------------------------------------------------------


class JournalReader:
    """Iterate the records of a journal after ``after_seq``; counts what it had to skip.

    ``skipped``: corrupt lines between good records; ``torn_tail``: the file ends in a torn
    record (an unterminated line, or unparseable lines after the last good record), and
    ``torn_bytes`` is its size. Both are final once iteration has finished.
    """

    def __init__(self, path: Path, after_seq: int = 0):
        self.path = Path(path)
        self.after_seq = after_seq
        self.skipped = 0
        self.torn_tail = False
        self.torn_bytes = 0
        self.last_seq = 0
        with open(self.path, "rb") as fh:
            first = fh.readline(4096)
        if not first:
            raise SessionError(f"{self.path}: events journal is empty (no header)")
        self._header_torn = not first.endswith(b"\n")
        if not self._header_torn:
            _check_header(self.path, first)
        elif not (_HEADER_PREFIX.startswith(first) or first.startswith(_HEADER_PREFIX)):
            raise SessionError(f"{self.path}: not an events journal (no header line)")
        elif len(first) == 4096:
            raise SessionError(f"{self.path}: not an events journal (first line too long)")
        self._iter = self._records()

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        return next(self._iter)

    def _records(self) -> Iterator[Record]:
        after = self.after_seq
        bad_lines = 0
        bad_bytes = 0
        if self._header_torn:
            self.torn_tail = True
            self.torn_bytes = self.path.stat().st_size
            return
        with open(self.path, "rb") as fh:
            fh.readline()  # header
            for line in fh:
                if not line.endswith(b"\n"):  # torn last record
                    bad_lines += 1
                    bad_bytes += len(line)
                    break
                if line.startswith(b'{"seq":'):  # skip old records without decoding them
                    end = line.find(b",", 7)
                    digits = line[7:end]
                    if digits.isdigit() and int(digits) <= after:
                        self.last_seq = int(digits)
                        self.skipped += bad_lines
                        bad_lines = bad_bytes = 0
                        continue
                obj = _decode_record(line)
                if obj is None:
                    bad_lines += 1
                    bad_bytes += len(line)
                    continue
                self.skipped += bad_lines
                bad_lines = bad_bytes = 0
                seq = obj.pop("seq")
                self.last_seq = seq
                if seq <= after:
                    continue
                yield _to_record(seq, obj)
        if bad_lines:
            self.torn_tail = True
            self.torn_bytes = bad_bytes


def _to_record(seq: int, obj: dict[str, Any]) -> Record:
    t = obj.pop("t", 0.0)
    w = obj.pop("w", 0.0)
    kind = obj.pop("k")
    if kind == EVENT_KIND:
        agent = obj.pop("a", None)
        event = obj.pop("e", None)
        return Record(seq, t, w, kind, agent, event, obj)
    return Record(seq, t, w, kind, None, None, obj)


def read_journal(path: Path, after_seq: int = 0) -> JournalReader:
    """Records with ``seq > after_seq``. Raises SessionError if it is not a journal."""
    return JournalReader(path, after_seq)
