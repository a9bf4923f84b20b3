"""The simulated agent as a real process: protocol lines, commands, signals, injected faults."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor.agents.protocol import Event, parse_line
from supervisor.agents.sim.faults import ERROR_FAULTS
from supervisor.clock import monotonic

REPO = Path(__file__).resolve().parents[2]
Line = dict[str, Any]


class Sim:
    """One simulator process; stdout lines are parsed as they come (every one must be JSON)."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()):
        full = {k: v for k, v in os.environ.items() if not k.startswith("MEGATEST_")}
        full.update({"MEGATEST_AGENT_ID": "coder-1", "MEGATEST_ROLE": "Coder",
                     "MEGATEST_PHASE": "development", "MEGATEST_PROJECT_DIR": str(tmp / "project"),
                     "MEGATEST_TIME_SCALE": "3600", "MEGATEST_SEED": "5"})
        full.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.agents.sim", *args], cwd=REPO, env=full,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[Line] = []
        self.raw: list[bytes] = []
        self._queue: queue.Queue[Line | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.raw.append(raw)
            self._queue.put(json.loads(raw))
        self._queue.put(None)

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        line = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def until(self, match: Callable[[Line], bool], timeout: float = 5.0) -> Line:
        """Read lines until one matches; fail after ``timeout`` wall seconds."""
        deadline = monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - monotonic()))
            except queue.Empty:
                pytest.fail(f"no matching line within {timeout}s; last: {self.lines[-3:]}")
            if line is None:
                pytest.fail(f"the simulator exited early: {self.stderr()}")
            self.lines.append(line)
            if match(line):
                return line

    def quiet_for(self, seconds: float) -> list[Line]:
        """Lines that arrive within ``seconds``."""
        got: list[Line] = []
        deadline = monotonic() + seconds
        while (left := deadline - monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            got.append(line)
        self.lines += got
        return got

    def finish(self, timeout: float = 5.0) -> int:
        code = self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return code

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def of_type(kind: str) -> Callable[[Line], bool]:
    return lambda line: line["type"] == kind


def test_protocol_quiesce_resume_stop(tmp_path: Path) -> None:
    """hello first, valid protocol lines, quiesced then silence, resume, final state, exit 0."""
    sim = Sim(tmp_path)
    try:
        assert sim.until(lambda _: True) == {"type": "hello", "agent": "coder-1", "version": "sim-1",
                                              "capabilities": ["quiesce", "switch_model", "compress"]}
        sim.until(of_type("tool_call"))
        sim.send({"cmd": "quiesce"})
        sim.until(of_type("quiesced"))
        assert sim.quiet_for(0.4) == []  # 24 session minutes: no heartbeat either
        sim.send({"cmd": "resume"})
        sim.until(of_type("heartbeat"))
        sim.send({"cmd": "stop"})
        assert sim.finish() == 0
    finally:
        sim.kill()
    assert sim.lines[-1]["type"] == "state"
    assert sim.lines[-1]["data"]["step"] > 0
    parsed = [parse_line(raw.rstrip(b"\n")) for raw in sim.raw]
    assert all(isinstance(p, Event) for p in parsed), [p for p in parsed if not isinstance(p, Event)]


def test_eof_on_stdin_exits_promptly(tmp_path: Path) -> None:
    """Closing stdin (the supervisor is gone) ends the simulator with code 0 within a second."""
    sim = Sim(tmp_path)
    try:
        sim.until(of_type("hello"))
        assert sim.proc.stdin is not None
        sim.proc.stdin.close()
        started = monotonic()
        assert sim.finish(timeout=5) == 0
        assert monotonic() - started < 3.0
    finally:
        sim.kill()


def test_sigterm_gives_a_final_state(tmp_path: Path) -> None:
    """SIGTERM: a final state line, then exit code 0."""
    sim = Sim(tmp_path)
    try:
        sim.until(of_type("tool_call"))
        sim.proc.send_signal(signal.SIGTERM)
        assert sim.finish() == 0
    finally:
        sim.kill()
    assert sim.lines[-1]["type"] == "state"


def test_garbled_and_unknown_commands_are_ignored(tmp_path: Path) -> None:
    """Junk on stdin is noted on stderr; the simulator keeps going and still obeys stop."""
    sim = Sim(tmp_path)
    try:
        sim.until(of_type("hello"))
        sim.send(b"this is not json")
        sim.send({"cmd": "fly"})
        sim.until(of_type("heartbeat"))
        sim.send({"cmd": "stop"})
        assert sim.finish() == 0
        stderr = sim.stderr()
    finally:
        sim.kill()
    assert "garbled command" in stderr and "unknown command" in stderr


def test_help_and_bad_input() -> None:
    """--help documents the variables; a bad variable exits 2 with a one-line reason."""
    shown = subprocess.run([sys.executable, "-m", "supervisor.agents.sim", "--help"], cwd=REPO,
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "MEGATEST_PROJECT_TYPE" in shown.stdout
    env = dict(os.environ, MEGATEST_TIME_SCALE="fast")
    bad = subprocess.run([sys.executable, "-m", "supervisor.agents.sim"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "MEGATEST_TIME_SCALE" in bad.stderr and "Traceback" not in bad.stderr


def faulty(tmp_path: Path, failure: str, **extra: str) -> Sim:
    config = tmp_path / "agent.toml"
    config.write_text(
        "[simulation.faults]\n[[simulation.faults.scheduled]]\n"
        f'failure = "{failure}"\nphase = "development"\nat_minutes = 1\nagent = "Coder"\n'
        "[limits]\nmax_context_size = 20000\n"
    )
    return Sim(tmp_path, {"MEGATEST_AGENT_CONFIG": str(config), **extra})


@pytest.mark.parametrize("failure", sorted(ERROR_FAULTS))
def test_error_faults(tmp_path: Path, failure: str) -> None:
    """Scheduled error faults arrive as error events of their kind, noted on stderr."""
    sim = faulty(tmp_path, failure)
    try:
        error = sim.until(of_type("error"))
        sim.send({"cmd": "stop"})
        assert sim.finish() == 0
        stderr = sim.stderr()
    finally:
        sim.kill()
    assert error["kind"] == failure and error["message"] == ERROR_FAULTS[failure][0]
    assert error.get("fatal", False) is ERROR_FAULTS[failure][1]
    assert f"sim: injecting {failure}" in stderr


def test_test_failure_fault(tmp_path: Path) -> None:
    """test_failure: a test_result with failed > 0."""
    sim = faulty(tmp_path, "test_failure")
    try:
        result = sim.until(lambda line: line["type"] == "test_result" and line["failed"] > 0)
        sim.send({"cmd": "stop"})
        assert sim.finish() == 0
    finally:
        sim.kill()
    assert result["passed"] >= 0


def test_agent_crash_fault(tmp_path: Path) -> None:
    """agent_crash: a RuntimeError traceback on stderr, exit code 1, no state line."""
    sim = faulty(tmp_path, "agent_crash")
    try:
        assert sim.finish() == 1
        stderr = sim.stderr()
    finally:
        sim.kill()
    assert "Traceback (most recent call last)" in stderr
    assert "RuntimeError: simulated crash" in stderr
    assert not any(line["type"] == "state" for line in sim.lines)


def test_agent_hang_fault(tmp_path: Path) -> None:
    """agent_hang: alive but silent (no heartbeats) until stopped."""
    sim = faulty(tmp_path, "agent_hang")
    try:
        sim.until(of_type("hello"))
        deadline = monotonic() + 10  # the hang starts one session minute (17 ms) in
        while sim.quiet_for(0.5):
            assert monotonic() < deadline, "the simulator never went quiet"
        assert sim.quiet_for(1.0) == [] and sim.proc.poll() is None  # an hour: no heartbeat
        assert not any(line["type"] == "heartbeat" for line in sim.lines)
        sim.send({"cmd": "stop"})
        assert sim.finish() == 0
    finally:
        sim.kill()


def test_memory_pressure_fault(tmp_path: Path) -> None:
    """memory_pressure: context passes max_context_size, RSS grows by 50+ MB until compressed."""
    sim = faulty(tmp_path, "memory_pressure")
    try:
        sim.until(of_type("hello"))
        base = psutil.Process(sim.proc.pid).memory_info().rss
        sim.until(lambda line: line["type"] == "tokens" and line["context"] > 20_000)
        deadline = monotonic() + 5
        while psutil.Process(sim.proc.pid).memory_info().rss - base < 50 << 20:
            assert monotonic() < deadline, "memory did not grow"
            sim.quiet_for(0.05)
        sim.send({"cmd": "compress_context"})
        low = sim.until(lambda line: line["type"] == "tokens" and line["context"] < 20_000)
        sim.send({"cmd": "stop"})
        assert sim.finish() == 0
    finally:
        sim.kill()
    assert low["context"] < 20_000


def test_consensus_deadlock_fault(tmp_path: Path) -> None:
    """consensus_deadlock: alternating votes on one topic, then a consensus_deadlock error."""
    sim = faulty(tmp_path, "consensus_deadlock")
    try:
        error = sim.until(of_type("error"))
        sim.send({"cmd": "stop"})
        assert sim.finish() == 0
    finally:
        sim.kill()
    assert error["kind"] == "consensus_deadlock"
    stuck = error["message"].split(" on ", 1)[1].split()[0]
    votes = [line for line in sim.lines[:sim.lines.index(error)] if line["type"] == "vote"]
    choices = [v["choice"] for v in votes if v["topic"] == stuck]
    assert len(choices) >= 6 and all(a != b for a, b in zip(choices, choices[1:], strict=False))
