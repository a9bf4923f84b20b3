"""events.wal after crashes: torn tails at every offset, corrupt middle lines, trailing junk."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.agents.protocol import Event, parse_line
from supervisor.session import journal as journal_mod
from supervisor.session.journal import Journal, read_journal


def ev(data: bytes) -> Event:
    result = parse_line(data)
    assert isinstance(result, Event)
    return result


EVENTS = [
    ev(b'{"type":"heartbeat"}'),
    ev('{"type":"task","id":"T-é","status":"started","title":"ü"}'.encode()),
    ev(b'{"type":"tokens","prompt":10,"completion":5,"model":"m"}'),
]


def build(path: Path) -> list[int]:
    """A journal of 6 records; returns the byte offset where each line ends."""
    with Journal(path, fsync_in_thread=False) as j:
        j.append("phase_start", 0.0, phase="bootstrap")
        j.append_events("agent-1", 1.0, EVENTS)
        j.append_events("agent-2", 2.0, EVENTS[:1])
        j.append("checkpoint", 3.0, number=1)
    data = path.read_bytes()
    return [i + 1 for i, b in enumerate(data) if b == ord("\n")]


def test_torn_tail_at_every_offset_is_tolerated_and_truncated(tmp_path: Path) -> None:
    """Cutting the file anywhere after the header loses only the torn record, then appends work."""
    original = tmp_path / "full.wal"
    ends = build(original)
    data = original.read_bytes()
    header_end = ends[0]
    for cut in range(header_end, len(data) + 1):
        path = tmp_path / "cut.wal"
        path.write_bytes(data[:cut])
        complete = sum(1 for e in ends[1:] if e <= cut)
        boundary = max(e for e in ends if e <= cut)
        reader = read_journal(path)
        assert [r.seq for r in reader] == list(range(1, complete + 1)), cut
        assert reader.torn_tail == (cut != boundary)
        assert reader.torn_bytes == cut - boundary
        with Journal(path, fsync_in_thread=False) as j:
            assert j.last_seq == complete
            assert j.dropped_bytes == cut - boundary
            assert j.append("recovered", 9.0, cut=cut) == complete + 1
        records = list(read_journal(path))
        assert [r.seq for r in records] == list(range(1, complete + 2))
        assert records[-1].kind == "recovered" and records[-1].fields == {"cut": cut}


def test_corrupt_middle_line_is_skipped_and_counted(tmp_path: Path) -> None:
    """A garbled line between good records is skipped, counted, and not truncated on open."""
    path = tmp_path / "events.wal"
    build(path)
    lines = path.read_bytes().split(b"\n")
    lines[3] = b'{"seq":3,"t":1.0,"k":"ev","a":"agent-1","e":{"ty\x00\xffpe"'
    path.write_bytes(b"\n".join(lines))
    reader = read_journal(path)
    assert [r.seq for r in reader] == [1, 2, 4, 5, 6]
    assert reader.skipped == 1 and not reader.torn_tail
    with Journal(path, fsync_in_thread=False) as j:
        assert j.last_seq == 6 and j.dropped_bytes == 0


def test_corrupt_line_is_counted_even_in_the_skipped_range(tmp_path: Path) -> None:
    """after_seq skips old records cheaply but still counts a corrupt line among them."""
    path = tmp_path / "events.wal"
    build(path)
    lines = path.read_bytes().split(b"\n")
    lines[2] = b"not json at all"
    path.write_bytes(b"\n".join(lines))
    reader = read_journal(path, after_seq=4)
    assert [r.seq for r in reader] == [5, 6]
    assert reader.skipped == 1


def test_unparseable_last_lines_are_cut_on_open(tmp_path: Path) -> None:
    """Complete but unparseable lines after the last good record are a torn tail."""
    path = tmp_path / "events.wal"
    build(path)
    size = path.stat().st_size
    junk = b"\x00\x00\x00\x00\n{garbage\n"
    with open(path, "ab") as fh:
        fh.write(junk)
    reader = read_journal(path)
    assert [r.seq for r in reader][-1] == 6
    assert reader.torn_tail and reader.torn_bytes == len(junk) and reader.skipped == 0
    with Journal(path, fsync_in_thread=False) as j:
        assert j.last_seq == 6 and j.dropped_bytes == len(junk)
        j.append("x", 5.0)
    assert path.stat().st_size > size
    assert [r.seq for r in read_journal(path)][-2:] == [6, 7]


def test_tail_search_grows_past_a_huge_garbage_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A garbage tail longer than the tail window is found and cut all the same."""
    monkeypatch.setattr(journal_mod, "_TAIL_WINDOW", 1024)
    path = tmp_path / "events.wal"
    build(path)
    junk = (b"x" * 700 + b"\n") * 20
    with open(path, "ab") as fh:
        fh.write(junk + b"torn")
    with Journal(path, fsync_in_thread=False) as j:
        assert j.last_seq == 6 and j.dropped_bytes == len(junk) + 4


def test_many_records_after_reopen_and_big_records(tmp_path: Path) -> None:
    """Large events (near the line limit) are stored and found again after reopen."""
    path = tmp_path / "events.wal"
    big = ev(b'{"type":"state","data":{"blob":"' + b"b" * 60_000 + b'"}}')
    with Journal(path, fsync_in_thread=False) as j:
        j.append_events("a", 1.0, [big] * 3)
    with Journal(path, fsync_in_thread=False) as j:
        assert j.last_seq == 3
    records = list(read_journal(path))
    assert records[2].event is not None and len(records[2].event["data"]["blob"]) == 60_000
