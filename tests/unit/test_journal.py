"""The write-ahead journal events.wal: round trip, seq continuity, headers, locking, fsync."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import pytest

from supervisor.agents.protocol import Event, parse_line
from supervisor.errors import SessionError
from supervisor.session import journal as journal_mod
from supervisor.session.journal import SCHEMA, Journal, read_journal


class Ticker:
    """A hand-moved clock for wall and monotonic time."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.value = start

    def __call__(self) -> float:
        return self.value


def ev(data: bytes) -> Event:
    result = parse_line(data)
    assert isinstance(result, Event)
    return result


HB = ev(b'{"type":"heartbeat"}')
TOK = ev(b'{"type":"tokens","prompt":10,"completion":5,"model":"m"}')


def open_journal(path: Path, **kw: object) -> Journal:
    kw.setdefault("fsync_in_thread", False)
    return Journal(path, clock_wall=Ticker(), clock_monotonic=Ticker(0.0), **kw)  # type: ignore[arg-type]


def test_round_trip_of_events_and_supervisor_records(tmp_path: Path) -> None:
    """Events come back verbatim with agent, t and w; supervisor records with their fields."""
    path = tmp_path / "events.wal"
    with open_journal(path) as j:
        assert j.append("phase_start", 0.0, phase="bootstrap", hours=1.5) == 1
        assert j.append_events("agent-1", 12.34567, [HB, TOK]) == 3
        assert j.append("checkpoint", 20.0, number=1, path=Path("c/1.msgpack")) == 4
    records = list(read_journal(path))
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert records[0].kind == "phase_start"
    assert records[0].fields == {"phase": "bootstrap", "hours": 1.5}
    assert records[0].agent is None and records[0].event is None
    assert records[1].kind == "ev" and records[1].agent == "agent-1"
    assert records[1].event == {"type": "heartbeat"}
    assert records[2].event == TOK.fields
    assert records[1].t == 12.346 and records[1].w == 1_800_000_000.0
    assert records[3].fields == {"number": 1, "path": "c/1.msgpack"}


def test_file_starts_with_a_versioned_header(tmp_path: Path) -> None:
    """A new journal's first line is the seq-0 header with the schema version."""
    path = tmp_path / "events.wal"
    with open_journal(path) as j:
        j.append_events("a", 1.0, [HB])
    first = json.loads(path.read_bytes().splitlines()[0])
    assert first["seq"] == 0 and first["k"] == "journal" and first["schema"] == SCHEMA


def test_each_event_line_embeds_raw_bytes_verbatim(tmp_path: Path) -> None:
    """The agent's exact line bytes appear inside the record, not re-encoded."""
    path = tmp_path / "events.wal"
    raw = b'{"type":"task", "id":"T\xc3\xa9","status":"started","z":1.50}'
    with open_journal(path) as j:
        j.append_events("a", 1.0, [ev(raw)])
    body = path.read_bytes().splitlines()[1]
    assert body.endswith(b',"e":' + raw + b"}")
    assert json.loads(body)["e"]["id"] == "Té"


def test_seq_continues_after_reopen(tmp_path: Path) -> None:
    """Reopening a journal continues seq where it ended; the header is written once."""
    path = tmp_path / "events.wal"
    with open_journal(path) as j:
        j.append_events("a", 1.0, [HB] * 5)
    with open_journal(path) as j:
        assert j.last_seq == 5 and j.dropped_bytes == 0
        assert j.append("supervisor_start", 2.0) == 6
        assert j.append_events("a", 3.0, [HB, HB]) == 8
    assert [r.seq for r in read_journal(path)] == list(range(1, 9))
    assert path.read_bytes().count(b'"k":"journal"') == 1


@pytest.mark.parametrize(
    "agent_id", ['agent "1"', "back\\slash", "new\nline", "日本-é", "ls\u2028sep", "lone\ud800"]
)
def test_agent_ids_are_escaped_safely(tmp_path: Path, agent_id: str) -> None:
    """Agent ids with quotes, backslashes, newlines and unicode stay one valid line each."""
    path = tmp_path / "events.wal"
    with open_journal(path) as j:
        j.append_events(agent_id, 1.0, [HB, TOK])
    assert len(path.read_bytes().splitlines()) == 3
    reader = read_journal(path)
    assert [r.agent for r in reader] == [agent_id, agent_id]
    assert reader.skipped == 0 and not reader.torn_tail


def test_unicode_events_and_fields_round_trip(tmp_path: Path) -> None:
    """Non-ASCII event text and supervisor fields survive the journal."""
    path = tmp_path / "events.wal"
    e = ev('{"type":"error","kind":"llm_error","message":"échec 失败 😀"}'.encode())
    with open_journal(path) as j:
        j.append_events("a", 1.0, [e])
        j.append("failure", 2.0, message="stderr: ошибка\ud800")
    records = list(read_journal(path))
    assert records[0].event == {"type": "error", "kind": "llm_error", "message": "échec 失败 😀"}
    assert records[1].fields["message"] == "stderr: ошибка\ud800"


def test_read_after_seq(tmp_path: Path) -> None:
    """read_journal(after_seq=n) yields only records with seq > n."""
    path = tmp_path / "events.wal"
    with open_journal(path) as j:
        for i in range(10):
            j.append("tick", float(i), i=i)
    reader = read_journal(path, after_seq=6)
    assert [r.seq for r in reader] == [7, 8, 9, 10]
    assert [r.fields["i"] for r in read_journal(path, after_seq=9)] == [9]
    assert list(read_journal(path, after_seq=10)) == []
    assert reader.last_seq == 10


def test_reserved_kinds_and_fields_are_refused(tmp_path: Path) -> None:
    """Supervisor records cannot pose as events or overwrite seq/t/w/k; nothing is written."""
    path = tmp_path / "events.wal"
    with open_journal(path) as j:
        size = path.stat().st_size
        for bad in [
            lambda: j.append("ev", 1.0),
            lambda: j.append("journal", 1.0),
            lambda: j.append("x", 1.0, seq=5),
            lambda: j.append("x", 1.0, value=float("nan")),
            lambda: j.append("x", float("inf")),
            lambda: j.append_events("a", float("nan"), [HB]),
        ]:
            with pytest.raises(ValueError):
                bad()
        assert j.last_seq == 0 and path.stat().st_size == size
        assert j.append_events("a", 1.0, []) == 0


def test_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """A file whose first line is not a journal header raises SessionError, unchanged."""
    path = tmp_path / "events.wal"
    content = b'{"seq":1,"k":"ev","a":"x","e":{}}\nsome other log\npartial'
    path.write_bytes(content)
    with pytest.raises(SessionError, match="not an events journal"):
        Journal(path)
    with pytest.raises(SessionError, match="not an events journal"):
        read_journal(path)
    assert path.read_bytes() == content


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    """A journal of another schema version is refused with a message naming it."""
    path = tmp_path / "events.wal"
    path.write_bytes(b'{"seq":0,"k":"journal","schema":99}\n')
    with pytest.raises(SessionError, match="schema 99"):
        Journal(path)
    with pytest.raises(SessionError, match="schema 99"):
        read_journal(path)


def test_empty_file_gets_a_header_but_cannot_be_read(tmp_path: Path) -> None:
    """An empty file is initialised by the writer; the reader calls it empty."""
    path = tmp_path / "events.wal"
    path.write_bytes(b"")
    with pytest.raises(SessionError, match="empty"):
        read_journal(path)
    with open_journal(path) as j:
        assert j.last_seq == 0
    assert list(read_journal(path)) == []


def test_torn_header_is_rewritten(tmp_path: Path) -> None:
    """A header cut by a crash at creation is tolerated by readers and rewritten on open."""
    path = tmp_path / "events.wal"
    path.write_bytes(b'{"seq":0,"k":"jour')
    reader = read_journal(path)
    assert list(reader) == [] and reader.torn_tail
    with open_journal(path) as j:
        assert j.dropped_bytes == 18 and j.last_seq == 0
        j.append_events("a", 1.0, [HB])
    assert [r.seq for r in read_journal(path)] == [1]


def test_second_writer_is_refused_while_open(tmp_path: Path) -> None:
    """Only one Journal may write a file at a time."""
    path = tmp_path / "events.wal"
    with open_journal(path):
        with pytest.raises(SessionError, match="already open"):
            open_journal(path)
    with open_journal(path) as j:
        assert j.last_seq == 0


def test_failed_write_leaves_no_torn_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails half way (disk full) is cut back; seq does not advance."""
    path = tmp_path / "events.wal"
    real_write = os.write
    with open_journal(path) as j:
        j.append_events("a", 1.0, [HB])

        def half_then_enospc(fd: int, data: bytes) -> int:
            if len(data) > 40:
                real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)

        monkeypatch.setattr(journal_mod.os, "write", half_then_enospc)
        with pytest.raises(OSError):
            j.append_events("a", 2.0, [HB, TOK, HB])
        assert j.last_seq == 1
        monkeypatch.setattr(journal_mod.os, "write", real_write)
        assert j.append_events("a", 3.0, [TOK]) == 2
    reader = read_journal(path)
    assert [(r.seq, r.t) for r in reader] == [(1, 1.0), (2, 3.0)]
    assert reader.skipped == 0 and not reader.torn_tail


def test_inline_fsync_happens_once_per_interval(tmp_path: Path) -> None:
    """With fsync_in_thread=False, appends fsync only when the interval has passed."""
    mono = Ticker(0.0)
    j = Journal(tmp_path / "e.wal", fsync_interval=1.0, clock_monotonic=mono, fsync_in_thread=False)
    j.append_events("a", 0.0, [HB])
    j.append("x", 0.0)
    assert j.syncs == 0
    mono.value = 1.0
    j.append_events("a", 1.0, [HB])
    assert j.syncs == 1
    mono.value = 1.5
    j.append("x", 1.5)
    assert j.syncs == 1
    j.sync()
    assert j.syncs == 2
    j.close()
    assert j.syncs == 3 and j.closed
    j.close()  # idempotent
    assert j.syncs == 3


def test_threaded_fsync_runs_off_the_appending_thread(tmp_path: Path) -> None:
    """By default the interval fsync runs in a helper thread, which close() stops."""
    mono = Ticker(0.0)
    j = Journal(tmp_path / "e.wal", fsync_interval=1.0, clock_monotonic=mono)
    done = threading.Event()
    threads: list[str] = []
    real = j._fsync  # noqa: SLF001 - spies on the fsync to see which thread runs it

    def spy() -> None:
        real()
        threads.append(threading.current_thread().name)
        done.set()

    j._fsync = spy  # noqa: SLF001 - spies on the fsync to see which thread runs it; type: ignore[method-assign]
    j.append_events("a", 0.0, [HB])
    assert j._thread is None  # noqa: SLF001 - no fsync thread before the first interval
    mono.value = 2.0
    j.append_events("a", 2.0, [HB])
    assert done.wait(5.0)
    assert threads[0].startswith("journal-fsync")
    thread = j._thread  # noqa: SLF001 - the fsync thread must end on close
    j.close()
    assert thread is not None and not thread.is_alive()


def test_background_fsync_failure_is_raised_by_close(tmp_path: Path) -> None:
    """A failed background fsync is not lost: close() raises it (and still closes)."""
    mono = Ticker(0.0)
    j = Journal(tmp_path / "e.wal", fsync_interval=1.0, clock_monotonic=mono)
    failed = threading.Event()

    def broken_fsync() -> None:
        failed.set()
        raise OSError(errno.EIO, "I/O error")

    j._fsync = broken_fsync  # noqa: SLF001 - injects an fsync failure; type: ignore[method-assign]
    mono.value = 5.0
    j.append_events("a", 5.0, [HB])
    assert failed.wait(5.0)
    del j._fsync  # noqa: SLF001 - injects an fsync failure; back to the real method
    with pytest.raises(OSError, match="I/O error"):
        j.close()
    assert j.closed
    assert [r.seq for r in read_journal(tmp_path / "e.wal")] == [1]


def test_stored_fsync_failure_is_raised_by_sync_once(tmp_path: Path) -> None:
    """sync() reports a failure kept from the background thread, then syncs normally."""
    with open_journal(tmp_path / "e.wal") as j:
        j.append_events("a", 1.0, [HB])
        j.sync_error = OSError(errno.EIO, "I/O error")
        with pytest.raises(OSError, match="I/O error"):
            j.sync()
        before = j.syncs
        j.sync()
        assert j.syncs == before + 1 and j.sync_error is None
