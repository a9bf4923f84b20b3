"""The intake path end to end in one process: splitter, parser, journal, counters, replay."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from supervisor.agents.protocol import Event, LineSplitter, event_from_object
from supervisor.session.journal import Journal, read_journal

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_intake.py"
_spec = importlib.util.spec_from_file_location("bench_intake", _BENCH)
assert _spec is not None and _spec.loader is not None
bench: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_intake"] = bench  # dataclasses look their module up while loading
_spec.loader.exec_module(bench)


def test_intake_journals_every_event_before_counting_and_replays_the_same(tmp_path: Path) -> None:
    """Chunks through the intake path journal every event; replaying gives the same counters."""
    lines = bench.make_lines(3000)
    garbage = [b"plain output", b'{"type":"nope"}', b"\xff"]
    chunks = bench.chunked(lines[:1500] + garbage + lines[1500:], size=4096)
    path = tmp_path / "events.wal"
    live: dict[str, Any] = {}
    with Journal(path, fsync_in_thread=False) as journal:
        splitter = LineSplitter()
        got = bad = 0
        for chunk in chunks:
            n, g = bench.intake_chunk(
                splitter, journal, "a-1", 1.0, chunk, live, bench.count_events
            )
            got, bad = got + n, bad + g
        assert splitter.finish() is None
        assert journal.last_seq == got == 3000 and bad == 3
    replayed: dict[str, Any] = {}
    events = [event_from_object(r.event) for r in read_journal(path)]
    assert all(isinstance(e, Event) for e in events)
    bench.count_events(replayed, [e for e in events if isinstance(e, Event)])
    assert replayed == live
    assert sum(live["by_type"].values()) == 3000 and live["tokens"] > 0
