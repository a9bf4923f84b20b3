"""The simulated agent as a process: commands from stdin, events to stdout, scaled time.

A reader thread turns stdin lines into a queue; the main loop waits on that queue with a
timeout until the agent's next event is due, so it sleeps between events and never
spins. Events due within ``BATCH_WALL`` seconds of each other go out in one write.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
from collections.abc import Callable
from typing import IO, Any

from supervisor.clock import monotonic

from .agent import SimAgent

BATCH_WALL = 0.002  # wall seconds: events this close together are written together
MAX_WAIT = 0.25  # wall seconds between checks for signals
STALL = 1.0  # a wait that overran by this much means the process was stopped
_EOF = object()


class Runtime:
    def __init__(
        self,
        agent: SimAgent,
        time_scale: float,
        stdin: IO[bytes] | None,
        stdout: IO[bytes],
        stderr: IO[str],
        clock: Callable[[], float] = monotonic,
    ):
        self.agent = agent
        self.scale = time_scale
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.clock = clock
        self.inbox: queue.Queue[Any] = queue.Queue()
        self._signal: int | None = None

    # -- I/O ---------------------------------------------------------------------------------
    def _read_stdin(self) -> None:
        # Raw reads on the descriptor: a daemon thread blocked here holds no buffer lock,
        # so the interpreter can exit while it waits.
        assert self.stdin is not None
        try:
            fd = self.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        buffer = b""
        try:
            while True:
                chunk = os.read(fd, 65536) if fd >= 0 else self.stdin.readline()
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.inbox.put(line)
        except (OSError, ValueError):
            pass
        if buffer.strip():
            self.inbox.put(buffer)
        self.inbox.put(_EOF)

    def emit(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
        self.stdout.write(data.encode("utf-8"))
        self.stdout.flush()

    def note(self, lines: list[str]) -> None:
        if lines:
            self.stderr.write("".join(line + "\n" for line in lines))
            self.stderr.flush()

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signal = signum

    # -- loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped; the process exit code."""
        try:
            return self._run()
        except BrokenPipeError:  # the supervisor is gone
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stdout.fileno())
            return 0

    def _run(self) -> int:  # noqa: C901 - the simulated agent main loop: signals, stdin, timers and exit in one place
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        if self.stdin is not None:
            threading.Thread(target=self._read_stdin, name="stdin", daemon=True).start()
        agent = self.agent
        origin = self.clock()
        self.emit([agent.hello()])
        pending: list[Any] = []
        while True:
            if self._signal is not None:
                self.emit(agent.final_events())
                self.note(agent.take_stderr())
                return 0
            ext = (self.clock() - origin) * self.scale
            while True:
                try:
                    pending.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            for item in pending:
                if item is _EOF:
                    self.note(agent.take_stderr())
                    return 0
                try:
                    command = json.loads(item)
                except (ValueError, UnicodeDecodeError):
                    agent.stderr.append(f"sim: ignoring garbled command line {item[:200]!r}")
                    continue
                self.emit(agent.command(command, ext))
                if agent.exit_code is not None:
                    break
            pending.clear()
            if agent.exit_code is None:
                self.emit(agent.advance(ext + BATCH_WALL * self.scale))
            self.note(agent.take_stderr())
            if agent.exit_code is not None:
                return agent.exit_code
            wake = agent.next_wakeup()
            timeout = MAX_WAIT if wake is None else (wake - ext) / self.scale
            timeout = min(MAX_WAIT, max(BATCH_WALL, timeout))
            before = self.clock()
            try:
                pending.append(self.inbox.get(timeout=timeout))
            except queue.Empty:
                late = self.clock() - before - timeout
                if late > STALL:  # we were stopped (SIGSTOP): that time did not pass for us
                    origin += late

