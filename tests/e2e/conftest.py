"""Helpers for the crash tests: run a real session in the background, watch its journal,
SIGKILL the supervisor at a chosen moment, keep what the journal held at that moment, and
check a resumed session against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor.agents.monitor import same_process
from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import CheckpointStore, read_checkpoint
from supervisor.clock import monotonic, sleep_real
from supervisor.report.record import load_record
from tests.integration.conftest import REPO, assert_no_session_processes, supervisor_cli

Rec = dict[str, Any]
FAST_TESTS = f'test_command = ["{sys.executable}", "-c", "pass"]'


def write_config(path: Path, project_tests: bool = False, extra: str = "") -> Path:
    """A small TOML: loopback port 0, and (unless ``project_tests``) a trivial test command
    so the final measurement does not dominate the test's wall time."""
    text = "[control]\nhttp_port = 0\n"
    if not project_tests:
        text += f"[project]\n{FAST_TESTS}\n"
    path.write_text(text + extra)
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "runs"
    d.mkdir()
    yield d


class Session:
    """A ``run_mega_test`` process in the background and a reader of its journal."""

    def __init__(self, runs: Path, sid: str, cfg: Path, *args: str,
                 env: dict[str, str] | None = None):
        self.root = runs / sid
        self.out = open(runs / f"{sid}.out", "w+b")  # noqa: SIM115 (closed in stop())
        code = "from supervisor.control.cli import run_mega_test_main; run_mega_test_main()"
        full_env = dict(os.environ, **(env or {}))
        full_env.pop("CHECKPOINT_INTERVAL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args, "--session-id", sid, "--test-runs-dir",
             str(runs), "--config", str(cfg), "-q"],
            cwd=REPO, env=full_env, stdout=self.out, stderr=subprocess.STDOUT)
        self.records: list[Rec] = []
        self._offset = 0
        self._partial = b""

    def poll_journal(self) -> list[Rec]:
        """New complete records of events.wal since the last call."""
        wal = self.root / "events.wal"
        try:
            with open(wal, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        new = [json.loads(line) for line in lines if line.strip()]
        self.records.extend(new)
        return new

    def wait_for(self, pred: Callable[[Rec], bool], timeout: float = 60.0, what: str = "") -> Rec:
        """The first journal record (from now on) for which ``pred`` holds; bounded."""
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            for rec in self.poll_journal():
                if pred(rec):
                    return rec
            if self.proc.poll() is not None:
                raise AssertionError(f"session ended (rc {self.proc.returncode}) before {what}: "
                                     + self.output())
            sleep_real(0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_log(self, event: str, timeout: float = 60.0) -> None:
        """Wait until session.log has a line for ``event``."""
        deadline = monotonic() + timeout
        log = self.root / "session.log"
        while monotonic() < deadline:
            if log.exists() and f'"event": "{event}"' in log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"session ended before logging {event}: " + self.output())
            sleep_real(0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {event} in session.log")

    def kill(self) -> Killed:
        """SIGKILL the supervisor; what the journal held at that moment is kept."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.out.close()
        wal = (self.root / "events.wal").read_bytes()  # nobody writes it any more
        complete = wal[: wal.rfind(b"\n") + 1]
        records = [json.loads(line) for line in complete.splitlines()]
        return Killed(self.root, complete, records)

    def output(self) -> str:
        self.out.flush()
        self.out.seek(0)
        return self.out.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if not self.out.closed:
            self.out.close()


@pytest.fixture
def sessions() -> Iterator[list[Session]]:
    """Sessions started by a test; any still running at its end are killed."""
    started: list[Session] = []
    yield started
    for s in started:
        s.stop()


@dataclass
class Killed:
    """A session whose supervisor was SIGKILLed: the journal bytes and records it left."""

    root: Path
    wal: bytes
    records: list[Rec]
    agents: list[tuple[int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.agents = [(r["pid"], r["create_time"]) for r in self.records
                       if r["k"] == "agent_start"]

    def cut_before(self, seq: int) -> Killed:
        """The session as a kill just before record ``seq`` would have left it: the journal
        (append-only) cut back to the records before it, and the checkpoint files written
        after that point removed. Rewrites the session's files; returns the new Killed."""
        keep = [r for r in self.records if r["seq"] < seq]
        lines = self.wal.splitlines(keepends=True)[: len(keep)]
        wal = b"".join(lines)
        (self.root / "events.wal").write_bytes(wal)
        for path in (self.root / "checkpoints").glob("checkpoint_*.msgpack"):
            if read_checkpoint(path)["journal_seq"] >= seq:
                path.unlink()
        return Killed(self.root, wal, keep)

    @property
    def last_seq(self) -> int:
        return int(self.records[-1]["seq"])

    @property
    def last_t(self) -> float:
        return max(float(r.get("t", 0.0)) for r in self.records)

    def open_agents(self) -> set[str]:
        running: set[str] = set()
        for r in self.records:
            if r["k"] == "agent_start":
                running.add(r["agent"])
            elif r["k"] == "agent_exit":
                running.discard(r["agent"])
        return running

    def last_states(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            if r["k"] == "ev" and r["e"].get("type") == "state":
                out[r["a"]] = r["e"]["data"]
        return out

    def phase_index(self) -> int:
        """The phase the session was in (its last phase_start)."""
        starts = [r["index"] for r in self.records if r["k"] == "phase_start"]
        return starts[-1] if starts else 0

    def phase_ended(self) -> bool:
        ends = [r for r in self.records if r["k"] in ("phase_start", "phase_end")]
        return bool(ends) and ends[-1]["k"] == "phase_end"


def totals(records: list[Rec]) -> dict[str, int]:
    """Tokens, tool calls, completed tasks and events, counted straight from records."""
    out = {"tokens": 0, "tool_calls": 0, "tasks_completed": 0, "events": 0}
    for r in records:
        if r["k"] != "ev":
            continue
        e = r["e"]
        out["events"] += 1
        if e["type"] == "tokens":
            out["tokens"] += int(e.get("prompt", 0)) + int(e.get("completion", 0))
        elif e["type"] == "tool_call":
            out["tool_calls"] += 1
        elif e["type"] == "task" and e.get("status") == "completed":
            out["tasks_completed"] += 1
    return out


def read_records(root: Path) -> list[Rec]:
    data = (root / "events.wal").read_bytes()
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def assert_dead(pairs: list[tuple[int, float]], wait: float = 5.0) -> None:
    """None of these (pid, create_time) processes is alive (a reused pid does not count)."""
    deadline = monotonic() + wait
    alive = [p for p in pairs if same_process(*p) is not None]
    while alive and monotonic() < deadline:
        sleep_real(0.05)
        alive = [p for p in pairs if same_process(*p) is not None]
    assert not alive, f"agents of the killed supervisor still alive: {alive}"


def resume(runs: Path, sid: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return supervisor_cli("--test-runs-dir", str(runs), "resume", sid, "-q", timeout=timeout)


def all_checkpoints_valid(root: Path, damaged: Collection[int] = ()) -> list[int]:
    """Every checkpoint file but the ``damaged`` ones reads back and has all its objects;
    returns the numbers of the valid ones."""
    store = CheckpointStore(root / "checkpoints", SnapshotStore(root / "snapshots"))
    infos = store.list(verify_objects=True)
    bad = [(i.path.name, i.error) for i in infos if not i.valid and i.number not in damaged]
    assert not bad, f"corrupt checkpoints: {bad}"
    return [i.number for i in infos if i.valid]


def check_resumed(killed: Killed, r: subprocess.CompletedProcess[str], rc: int = 0,
                  damaged: Collection[int] = ()) -> list[Rec]:
    """Everything a resume must guarantee; returns the full journal's records.
    ``damaged``: checkpoint numbers the test itself corrupted."""
    root = killed.root
    assert r.returncode == rc, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert (root / "status").read_text().strip() == "completed"
    wal = (root / "events.wal").read_bytes()
    assert wal.startswith(killed.wal), "records journaled before the kill were changed or lost"
    records = read_records(root)
    report = json.loads((root / "final_report.json").read_text())
    rep = report["totals"]
    before, after = totals(killed.records), totals(records)
    for key, value in before.items():
        assert rep[key] >= value, f"{key}: report {rep[key]} < {value} journaled before the kill"
        assert rep[key] == after[key], f"{key}: report {rep[key]} != journal {after[key]}"
    assert rep == load_record(root).counters.totals()
    assert all(p["status"] == "completed" for p in report["phases"]), report["phases"]
    planned = report["duration"]["planned_session_seconds"]
    assert planned <= report["duration"]["session_seconds"] < planned * 1.1
    numbers = all_checkpoints_valid(root, damaged)
    assert not list((root / "checkpoints").glob(".*.tmp")), "a torn checkpoint write was left"
    final = [x for x in records if x["k"] == "checkpoint" and x["trigger"] == "final"]
    assert final and final[-1]["number"] == max(numbers)
    _check_live_counters(root, final[-1]["number"], rep)
    resumed = [x for x in records[len(killed.records):] if x["k"] == "session_start"]
    assert resumed and resumed[0]["resumed"] == "resume"
    exits = {x["agent"] for x in records[len(killed.records):]
             if x["k"] == "agent_exit" and x.get("why") == "supervisor died"}
    assert exits == killed.open_agents()
    assert_dead(killed.agents, wait=0.5)
    assert_no_session_processes(root)
    return records


def _check_live_counters(root: Path, number: int, rep: dict[str, int]) -> None:
    """The counters the resumed supervisor kept live (checkpoint + replay + new events),
    as saved in its final checkpoint, equal the report's fold of the whole journal."""
    body = read_checkpoint(root / "checkpoints" / f"checkpoint_{number:03d}.msgpack")
    live = body["counters"]
    for key in ("tool_calls", "tasks_completed", "tasks_started", "events", "errors"):
        assert live[key] == rep[key], f"live {key} {live[key]} != journal {rep[key]}"
    assert live["prompt_tokens"] + live["completion_tokens"] == rep["tokens"]


def check_continued(killed: Killed, records: list[Rec]) -> None:
    """The resumed run picks up the phase and the agents' work where the kill left them."""
    after = records[len(killed.records):]
    phase_starts = [x for x in after if x["k"] == "phase_start"]
    expect = killed.phase_index() + (1 if killed.phase_ended() else 0)
    assert phase_starts and phase_starts[0]["index"] == expect, (phase_starts[:1], expect)
    assert phase_starts[0]["t"] >= killed.last_t - 1e-3
    if killed.phase_ended():
        return
    phase = phase_starts[0]["name"]
    began = next(x["t"] for x in killed.records
                 if x["k"] == "phase_start" and x["index"] == phase_starts[0]["index"])
    into_phase = phase_starts[0]["t"] - began  # session seconds of the phase already run
    for aid in killed.open_agents():
        new = next((x["e"]["data"] for x in after if x["k"] == "ev" and x.get("a") == aid
                    and x["e"]["type"] == "state"), None)
        # a relaunched agent knows where in the phase it is, state or no state
        assert new is None or new["elapsed"] >= into_phase - 1.0, (aid, new, into_phase)
    states = {a: s for a, s in killed.last_states().items()
              if s.get("phase") == phase and a in killed.open_agents()}
    checked = 0
    for aid, old in states.items():
        new = next((x["e"]["data"] for x in after if x["k"] == "ev" and x.get("a") == aid
                    and x["e"]["type"] == "state" and x["e"]["data"].get("phase") == phase), None)
        if new is None:
            continue
        checked += 1
        assert new["step"] >= old["step"], (aid, old["step"], new["step"])
        assert new["tasks_done"] >= old["tasks_done"], (aid, old["tasks_done"], new["tasks_done"])
        assert new["elapsed"] >= old["elapsed"], (aid, old["elapsed"], new["elapsed"])
    assert checked or not states, "no agent reported a state after the resume"


def wait_dead(pid: int, timeout: float = 5.0) -> None:
    deadline = monotonic() + timeout
    while psutil.pid_exists(pid) and monotonic() < deadline:
        sleep_real(0.02)
