"""One agent process: spawn, stream, signal, and stop its whole process tree.

Every agent runs in its own process group behind a parent-death signal (see
``command.launch_prefix``), so it dies with a SIGKILLed supervisor. ``stop`` sends TERM
to the group, waits a grace period, sends KILL, then sweeps: every process ever seen as
a descendant (pid + create time, so a reused pid is never hit), every group member, and
every child of the supervisor carrying this launch's token in its environment (a
descendant that escaped the group with setsid + double fork is re-parented to the
supervisor once ``become_subreaper`` ran). ``reap_orphans`` does the same after a
supervisor crash from recorded (pid, create_time) pairs.

Exit is observed through the subprocess protocol, not ``Process.wait()``: asyncio's
``wait()`` also waits for the pipes to close, which a grandchild can hold open forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from supervisor.agents.command import (
    LAUNCH_ENV,
    PdeathsigMethod,
    agent_env,
    become_subreaper,
    check_startable,
    describe_exit,
    launch_prefix,
    render_command,
)
from supervisor.agents.monitor import (
    find_launch,
    group_members,
    kill_and_reap,
    live_tree,
    same_process,
)
from supervisor.clock import Clock
from supervisor.errors import AgentError

__all__ = [  # render_command and agent_env are re-exported for the runner
    "AgentProcess", "StopResult", "agent_env", "become_subreaper", "reap_orphans",
    "render_command", "sweep",
]

STREAM_LIMIT = 64 * 1024  # asyncio stream buffer limit (stderr lines longer than this are cut)
MAX_LINE = 4096  # bytes of one stderr line kept in stderr_tail
TAIL_LINES = 50
MAX_PENDING_STDIN = 256 * 1024  # refuse to queue more for an agent that does not read
KILL_WAIT = 5.0  # wall seconds to wait for the agent to die after SIGKILL

_live: dict[int, AgentProcess] = {}  # pid -> running agent
_stopped_tokens: set[str] = set()  # launch tokens whose agent is gone (for sweep())


@dataclass(frozen=True)
class StopResult:
    how: str  # "exited" (before stop), "terminated" (after TERM), "killed" (after KILL)
    returncode: int | None
    seconds: float  # from stop() called to the group gone
    swept: tuple[int, ...] = ()  # pids of leftover processes killed after the agent ended

    @property
    def description(self) -> str:
        return describe_exit(self.returncode)


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Stream protocol that also tells when the process itself exited."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop):
        super().__init__(limit=limit, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = transport  # kept (the base class drops it once all is closed)

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


def _open_log(path: Path, header: bytes) -> IO[bytes]:
    fh = path.open("ab")
    if fh.tell() > 0:
        with path.open("rb") as rd:
            rd.seek(-1, os.SEEK_END)
            if rd.read(1) != b"\n":
                fh.write(b"\n")
    fh.write(header)
    fh.flush()
    return fh


class AgentProcess:
    """A running agent. Build with ``await AgentProcess.spawn(...)``."""

    def __init__(self, agent_id: str, argv: list[str], proc: asyncio.subprocess.Process,
                 protocol: _Protocol, token: str, out_log: IO[bytes], err_log: IO[bytes]):
        self.agent_id = agent_id
        self.argv = argv
        self.pid: int = proc.pid
        self.pgid: int = proc.pid  # start_new_session: the agent leads its own group
        self.token = token
        self._proc = proc
        self._protocol = protocol
        self._out_log: IO[bytes] | None = out_log
        self._err_log: IO[bytes] | None = err_log
        self.stderr_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.seen_descendants: set[tuple[int, float]] = set()
        self.frozen = False
        self.stop_result: StopResult | None = None
        self._stop_lock = asyncio.Lock()
        try:
            self.create_time: float | None = psutil.Process(self.pid).create_time()
        except psutil.Error:
            self.create_time = None  # already gone (and reaped): nothing can be orphaned
        _live[self.pid] = self
        protocol.exited.add_done_callback(lambda _f: self._on_exit())

    @classmethod
    async def spawn(cls, agent_id: str, argv: Sequence[str], env: Mapping[str, str],
                    cwd: Path | str, log_dir: Path | str, *,
                    pdeathsig: PdeathsigMethod = "auto") -> AgentProcess:
        """Start ``argv`` in its own process group with piped stdin/stdout/stderr.

        ``log_dir`` (session/agents/<agent_id>/) is created; stdout.log and stderr.log are
        appended to, one header line per launch. Raises AgentError if it cannot start.
        """
        argv = [str(a) for a in argv]
        cwd, log_dir = Path(cwd), Path(log_dir)
        token = uuid.uuid4().hex
        full_env = {**env, LAUNCH_ENV: token}
        try:
            check_startable(argv, full_env, cwd)
            launch = launch_prefix(pdeathsig) + argv
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise AgentError(agent_id, f"cannot start {argv[0] if argv else ''!r}: "
                                       f"{exc.strerror}{where}") from None
        log_dir.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(STREAM_LIMIT, loop), *launch,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=str(cwd), env=full_env,
                start_new_session=True)
        except OSError as exc:
            raise AgentError(agent_id, f"cannot start {argv[0]!r}: {exc.strerror}") from None
        proc = asyncio.subprocess.Process(transport, protocol, loop)
        header = f"===== launch {agent_id} pid {proc.pid}: {' '.join(argv)[:500]} =====\n"
        out_log = _open_log(log_dir / "stdout.log", header.encode())
        err_log = _open_log(log_dir / "stderr.log", header.encode())
        return cls(agent_id, argv, proc, protocol, token, out_log, err_log)

    # ---- state ----
    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def exit_description(self) -> str:
        return describe_exit(self.returncode)

    def info(self) -> dict[str, Any]:
        """What the session records to find this process again after a crash."""
        return {"agent_id": self.agent_id, "pid": self.pid, "pgid": self.pgid,
                "create_time": self.create_time, "argv": list(self.argv),
                "launch_token": self.token}

    def note_descendants(self, pairs: Iterable[tuple[int, float]]) -> None:
        """Remember (pid, create_time) of descendants seen by the monitor, for the sweep."""
        self.seen_descendants.update(pairs)

    def _on_exit(self) -> None:
        _live.pop(self.pid, None)
        _stopped_tokens.add(self.token)

    # ---- streams ----
    async def read_stdout(self, n: int = 65536) -> bytes:
        """Next chunk of stdout (b"" at EOF); the raw chunk is appended to stdout.log."""
        assert self._proc.stdout is not None
        chunk = await self._proc.stdout.read(n)
        if self._out_log is not None:
            if chunk:
                self._out_log.write(chunk)
            else:
                self._out_log.close()
                self._out_log = None
        return chunk

    async def read_stderr_line(self) -> bytes | None:
        """Next stderr line without its newline, None at EOF. The whole line goes to
        stderr.log; the returned line (also kept in ``stderr_tail``) is cut to MAX_LINE
        bytes plus "..." when longer."""
        stream = self._proc.stderr
        assert stream is not None
        head = bytearray()
        total = 0
        while True:
            done = True
            try:
                piece = await stream.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                piece = exc.partial
            except asyncio.LimitOverrunError as exc:  # longer than the stream buffer
                piece = await stream.read(exc.consumed or STREAM_LIMIT)
                done = False
            self._log_stderr(piece)
            total += len(piece)
            if len(head) <= MAX_LINE + 2:
                head += piece[: MAX_LINE + 3 - len(head)]
            if done or not piece:
                break
        if total == 0:
            if self._err_log is not None:
                self._err_log.close()
                self._err_log = None
            return None
        line = bytes(head).rstrip(b"\r\n")
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE] + b"..."
        self.stderr_tail.append(line.decode("utf-8", "replace"))
        return line

    def _log_stderr(self, data: bytes) -> None:
        if self._err_log is not None and data:
            self._err_log.write(data)

    async def stderr_lines(self) -> AsyncIterator[bytes]:
        """Every stderr line until EOF (see ``read_stderr_line``)."""
        while (line := await self.read_stderr_line()) is not None:
            yield line

    async def send(self, data: bytes, timeout: float = 2.0) -> bool:
        """Write to the agent's stdin. False (never an exception) when the pipe is closed
        or the agent does not read it within ``timeout`` wall seconds."""
        stdin = self._proc.stdin
        if stdin is None or stdin.transport.is_closing():
            return False
        if stdin.transport.get_write_buffer_size() > MAX_PENDING_STDIN:
            return False
        try:
            stdin.write(data)
            await asyncio.wait_for(stdin.drain(), timeout)
        except (OSError, RuntimeError, TimeoutError):
            return False
        return True  # in the pipe (the agent may act on it and exit at once)

    def flush_logs(self) -> None:
        for fh in (self._out_log, self._err_log):
            if fh is not None:
                fh.flush()

    def close(self) -> None:
        """Release pipes and log files (after stop and the final reads)."""
        for fh in (self._out_log, self._err_log):
            if fh is not None:
                fh.close()
        self._out_log = self._err_log = None
        if self._protocol.transport is not None:
            self._protocol.transport.close()

    # ---- signals ----
    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the agent's process group; False if the group is gone."""
        if self.pgid <= 1 or self.pgid == os.getpgrp():
            return False
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def freeze(self) -> None:
        """SIGSTOP the whole group (a safe point for agents without ``quiesce``)."""
        if self.signal_group(signal.SIGSTOP):
            self.frozen = True

    def thaw(self) -> None:
        self.signal_group(signal.SIGCONT)
        self.frozen = False

    async def wait(self) -> int:
        """Wait for the agent itself to exit (not its pipes) and return its returncode."""
        await asyncio.shield(self._protocol.exited)
        rc = self._proc.returncode
        assert rc is not None
        return rc

    async def _exited_within(self, seconds: float, clock: Clock) -> bool:
        if self._protocol.exited.done():
            return True
        timer = asyncio.ensure_future(clock.sleep(clock.to_session(seconds)))
        try:
            await asyncio.wait({timer, self._protocol.exited},
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return self._protocol.exited.done()

    async def stop(self, grace: float, clock: Clock | None = None) -> StopResult:
        """TERM the group, KILL it after ``grace`` wall seconds, then sweep leftovers.

        The grace period is slept on ``clock`` (real time whatever its time scale; a
        FakeClock must be advanced). Idempotent and safe to call concurrently: every call
        returns the first result."""
        async with self._stop_lock:
            if self.stop_result is None:
                self.stop_result = await self._stop(grace, clock or Clock())
        return self.stop_result

    async def _stop(self, grace: float, clock: Clock) -> StopResult:
        t0 = clock.monotonic()
        known = set(self.seen_descendants)
        if self.returncode is None:
            known |= await asyncio.to_thread(live_tree, self.pid)
        stdin = self._proc.stdin
        if stdin is not None and not stdin.transport.is_closing():
            stdin.transport.abort()  # drop anything the agent never read
        if self._protocol.exited.done():
            how = "exited"
        else:
            self.signal_group(signal.SIGTERM)
            self.signal_group(signal.SIGCONT)  # a frozen group cannot act on TERM
            self.frozen = False
            how = "terminated"
            if not await self._exited_within(grace, clock):
                how = "killed"
                self.signal_group(signal.SIGKILL)
                await self._exited_within(KILL_WAIT, Clock())
        swept = await asyncio.to_thread(self._sweep, known, set(_live))
        return StopResult(how, self.returncode, clock.monotonic() - t0, tuple(sorted(swept)))

    def _sweep(self, known: set[tuple[int, float]], live: set[int]) -> list[int]:
        """Kill what is left once the agent itself has ended; a few rounds, in case a
        leftover forked meanwhile. Returns the pids killed."""
        swept: list[int] = []
        for _ in range(3):
            victims: dict[int, psutil.Process] = {}
            for pid, ctime in known:
                if (proc := same_process(pid, ctime)) is not None:
                    victims[pid] = proc
            victims.update(group_members(self.pgid))
            victims.update(find_launch({self.token}, children_only=True))
            for pid in live | {self.pid}:
                victims.pop(pid, None)
            killed = kill_and_reap(victims)
            swept += killed
            if not killed:
                break
        self.signal_group(signal.SIGKILL)  # anything that joined the group since the scan
        return swept


def sweep() -> list[int]:
    """Kill children of the supervisor left over from agents that are no longer running
    (found by their launch token). Returns the pids killed."""
    live = set(_live)
    victims = find_launch(set(_stopped_tokens), children_only=True)
    for pid in live:
        victims.pop(pid, None)
    return kill_and_reap(victims)


def reap_orphans(records: Iterable[tuple[int, float]], tokens: Iterable[str] = ()) -> list[int]:
    """After a supervisor crash: kill every recorded (pid, create_time) still alive, with
    its group (when it leads one) and its descendants, plus any process carrying one of
    the recorded launch tokens. A pid whose create time differs (reused) is left alone.
    Returns the pids killed."""
    victims: dict[int, psutil.Process] = {}
    me = os.getpid()
    for pid, ctime in records:
        proc = same_process(pid, ctime)
        if proc is None or pid == me:
            continue
        victims[pid] = proc
        with contextlib.suppress(psutil.Error):
            victims.update((d.pid, d) for d in proc.children(recursive=True))
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid and pid != os.getpgrp():
                victims.update(group_members(pid))
    token_set = set(tokens)
    if token_set:
        victims.update(find_launch(token_set, children_only=False))
    victims.pop(me, None)
    return kill_and_reap(victims)
