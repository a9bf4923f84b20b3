"""Event intake benchmark: agent stdout bytes -> LineSplitter -> parse_line -> journal -> counters.

Two measurements, both on the real code path (real ``events.wal`` in a temp directory):

(a) in-process: pre-built chunks of realistic protocol lines (tool_call, tokens, task,
    heartbeat; 80-150 bytes) fed through each stage separately, then through the whole
    path chunk by chunk, as the session loop does it; also a flood of garbage lines.
(b) end to end: N child processes (``python -c``) print protocol lines as fast as they can;
    one asyncio loop reads their stdout pipes in 64 KiB chunks through the same path.
    Reports wall events/s and the reader's CPU (``time.process_time``): events per
    CPU-second is the capacity of one core, whatever the children cost.

The counter step is a plain function (``count_events``) so the real ``Counters`` class can
be swapped in: ``run_in_process(counter=...)``, ``run_end_to_end(counter=...)``.

    python benchmarks/bench_intake.py             # full run (target >= 100,000 events/s)
    python benchmarks/bench_intake.py --quick     # small run
    python benchmarks/bench_intake.py --profile   # cProfile of the in-process path
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.agents.protocol import Event, Garbage, LineSplitter, parse_line
from supervisor.session.journal import Journal

TARGET = 100_000
CounterStep = Callable[[dict[str, Any], Sequence[Event]], None]


def make_lines(n: int, seed: int = 1) -> list[bytes]:
    """n realistic protocol lines: 40% tool_call, 25% tokens, 10% task, 25% heartbeat."""
    rng = random.Random(seed)
    tools = ["read_file", "edit_file", "run_tests", "grep", "write_file", "shell"]
    paths = ["src/task_queue/core.py", "src/task_queue/worker.py", "tests/test_core.py"]
    models = ["qwen3-coder-30b", "qwen3-coder-480b"]
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.40:
            line = (
                f'{{"type":"tool_call","name":"{rng.choice(tools)}","ok":{str(r > 0.02).lower()},'
                f'"duration_ms":{rng.uniform(1, 5000):.1f},"path":"{rng.choice(paths)}"}}'
            )
        elif r < 0.65:
            line = (
                f'{{"type":"tokens","prompt":{rng.randint(100, 30000)},'
                f'"completion":{rng.randint(10, 4000)},"model":"{rng.choice(models)}",'
                f'"context":{rng.randint(1000, 120000)}}}'
            )
        elif r < 0.75:
            status = rng.choice(["started", "completed", "failed"])
            line = (
                f'{{"type":"task","id":"T-{rng.randint(1, 999):04d}","status":"{status}",'
                f'"title":"Implement priority scheduling for the worker pool"}}'
            )
        else:
            line = (
                f'{{"type":"heartbeat","seq":{i},"uptime_s":{rng.uniform(0, 2e4):.2f},'
                f'"rss_mb":{rng.randint(100, 900)},"busy":{str(r > 0.9).lower()}}}'
            )
        out.append(line.encode())
    return out


def garbage_lines(n: int) -> list[bytes]:
    """A flood of agent output that is not protocol: text, bad JSON, unknown types."""
    kinds = [
        b"INFO compiling module task_queue.core (142 files) ... done in 0.42s",
        b'{"type":"tool_call","name":"edit_file","ok":"yes","duration_ms":-1}',
        b'{"type":"progress","pct":42,"note":"not a protocol event type"}',
        b'{"broken": json, "line": [1, 2,',
        b"\xff\xfe binary noise \x00\x01 from a misbehaving tool",
        b"[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]",
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def chunked(lines: Sequence[bytes], size: int = 65536) -> list[bytes]:
    blob = b"\n".join(lines) + b"\n"
    return [blob[i : i + size] for i in range(0, len(blob), size)]


def count_events(counters: dict[str, Any], events: Sequence[Event]) -> None:
    """Stand-in for the lead's Counters: per-type counts, token and tool-call sums."""
    by_type = counters.setdefault("by_type", {})
    for ev in events:
        kind = ev.type
        by_type[kind] = by_type.get(kind, 0) + 1
        if kind == "tokens":
            f = ev.fields
            counters["tokens"] = counters.get("tokens", 0) + f["prompt"] + f["completion"]
        elif kind == "tool_call":
            counters["tool_calls"] = counters.get("tool_calls", 0) + 1


def intake_chunk(
    splitter: LineSplitter,
    journal: Journal,
    agent_id: str,
    t: float,
    chunk: bytes,
    counters: dict[str, Any],
    counter: CounterStep,
) -> tuple[int, int]:
    """The intake path for one chunk: split, parse, journal (write-ahead), count."""
    events: list[Event] = []
    garbage = 0
    for line in splitter.feed(chunk):
        item = parse_line(line)
        if item.__class__ is Event:
            events.append(item)  # type: ignore[arg-type]
        elif item is not None:
            garbage += 1
    if events:
        journal.append_events(agent_id, t, events)
        counter(counters, events)
    return len(events), garbage


@dataclass
class Row:
    """One measured stage: wall seconds and this process's CPU seconds."""

    name: str
    events: int
    wall: float
    cpu: float

    def show(self) -> str:
        rate = self.events / self.wall if self.wall else 0.0
        cpu_rate = self.events / self.cpu if self.cpu else float("inf")
        us = self.cpu / self.events * 1e6 if self.events else 0.0
        return f"{self.name:<34}{self.events:>10,}{rate:>12,.0f}{cpu_rate:>14,.0f}{us:>9.2f}"


HEADER = f"{'stage':<34}{'events':>10}{'events/s':>12}{'ev/cpu-s':>14}{'cpu us':>9}"


def _timed(name: str, events: int, fn: Callable[[], Any]) -> Row:
    c0 = time.process_time()
    t0 = time.perf_counter()
    fn()
    return Row(name, events, time.perf_counter() - t0, time.process_time() - c0)


def run_in_process(n: int, tmp: Path, counter: CounterStep = count_events) -> list[Row]:
    """Each stage alone, then the whole path chunk by chunk, then a garbage flood."""
    chunks = chunked(make_lines(n))
    split_out: list[list[Any]] = []
    splitter = LineSplitter()
    rows = [
        _timed("split (LineSplitter.feed)", n, lambda: split_out.extend(map(splitter.feed, chunks)))
    ]

    def parse() -> None:  # chunk by chunk, dropping results as the session loop does
        for part in split_out:
            [parse_line(line) for line in part]

    rows.append(_timed("parse_line", n, parse))
    batches = [[e for e in map(parse_line, part) if isinstance(e, Event)] for part in split_out]
    with Journal(tmp / "stage.wal") as journal:

        def journal_all() -> None:
            for batch in batches:
                journal.append_events("agent-1", 1.0, batch)

        rows.append(_timed("Journal.append_events", n, journal_all))
    counters: dict[str, Any] = {}

    def count() -> None:
        for batch in batches:
            counter(counters, batch)

    rows.append(_timed("counters", n, count))

    total: dict[str, Any] = {}
    with Journal(tmp / "total.wal") as journal:
        splitter = LineSplitter()

        def whole_path() -> None:
            for chunk in chunks:
                intake_chunk(splitter, journal, "agent-1", 1.0, chunk, total, counter)

        rows.append(_timed("TOTAL in-process (chunk by chunk)", n, whole_path))
        assert journal.last_seq == n and sum(total["by_type"].values()) == n

    flood = garbage_lines(n)
    assert all(isinstance(parse_line(line), Garbage) for line in flood[:100])

    def parse_flood() -> None:
        for i in range(0, n, 500):
            [parse_line(line) for line in flood[i : i + 500]]

    rows.append(_timed("parse_line on a garbage flood", n, parse_flood))
    return rows


WRITER = r"""
import sys
block = open(sys.argv[1], "rb").read()
lines = block.splitlines(keepends=True)
n = int(sys.argv[2])
out = sys.stdout.buffer
for _ in range(n // len(lines)):
    out.write(block)
out.write(b"".join(lines[: n % len(lines)]))
out.flush()
"""


async def _read_agent(
    proc: asyncio.subprocess.Process,
    agent_id: str,
    journal: Journal,
    counters: dict[str, Any],
    counter: CounterStep,
    t0: float,
) -> int:
    assert proc.stdout is not None
    splitter = LineSplitter()
    total = 0
    while chunk := await proc.stdout.read(65536):
        t = time.monotonic() - t0
        total += intake_chunk(splitter, journal, agent_id, t, chunk, counters, counter)[0]
    await proc.wait()
    return total


async def _end_to_end(
    agents: int, per_agent: int, tmp: Path, counter: CounterStep
) -> tuple[int, float, float]:
    counters: dict[str, Any] = {}
    blocks = []
    for i in range(agents):  # each writer repeats its own 1000 realistic lines
        blocks.append(tmp / f"lines_{i}.txt")
        blocks[-1].write_bytes(b"\n".join(make_lines(1000, seed=i)) + b"\n")
    with Journal(tmp / "e2e.wal") as journal:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WRITER,
                str(blocks[i]),
                str(per_agent),
                stdout=asyncio.subprocess.PIPE,
            )
            for i in range(agents)
        ]
        c0 = time.process_time()
        t0 = time.monotonic()
        readers = [
            _read_agent(p, f"agent-{i}", journal, counters, counter, t0)
            for i, p in enumerate(procs)
        ]
        totals = await asyncio.gather(*readers)
        wall = time.monotonic() - t0
        cpu = time.process_time() - c0
        last = journal.last_seq
    got = sum(totals)
    assert got == agents * per_agent == last, (got, last)
    return got, wall, cpu


def run_end_to_end(
    agents: int, per_agent: int, tmp: Path, counter: CounterStep = count_events
) -> Row:
    got, wall, cpu = asyncio.run(_end_to_end(agents, per_agent, tmp, counter))
    return Row(f"END TO END {agents} agents x {per_agent:,}", got, wall, cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=300_000, help="in-process events")
    ap.add_argument("--agents", type=int, default=4, help="end-to-end writer processes")
    ap.add_argument("--per-agent", type=int, default=200_000, help="lines per writer")
    ap.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    ap.add_argument("--profile", action="store_true", help="cProfile the in-process run")
    args = ap.parse_args(argv)
    if args.quick:
        args.lines, args.per_agent = 50_000, 25_000
    with tempfile.TemporaryDirectory(prefix="bench_intake_") as name:
        tmp = Path(name)
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(run_in_process, args.lines, tmp)
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
            return 0
        rows = run_in_process(args.lines, tmp)
        rows.append(run_end_to_end(args.agents, args.per_agent, tmp))
    print(HEADER)
    for row in rows:
        print(row.show())
    total, e2e = rows[4], rows[-1]
    ok = total.events / total.cpu >= TARGET and e2e.events / e2e.cpu >= TARGET
    print(f"target {TARGET:,} events/s on one core: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
