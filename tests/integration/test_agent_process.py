"""AgentProcess with real misbehaving agents: streaming, stopping, signals, stdin."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from supervisor.agents.process import MAX_LINE, AgentProcess, become_subreaper, sweep
from supervisor.clock import FakeClock
from supervisor.errors import AgentError
from tests.integration.conftest import load_fake

_load = load_fake


h = _load("harness")
garbage = _load("garbage")

pytestmark = pytest.mark.timeout(60)




async def _spawn(tag: str, script: str, tmp: Path, *args: str, agent_id: str = "a1",
                 log_dir: Path | None = None) -> AgentProcess:
    return await AgentProcess.spawn(agent_id, h.argv(script, *args), h.env_for(tag, agent_id),
                                    tmp, log_dir or tmp / "agents" / agent_id)


async def _read_all(proc: AgentProcess) -> bytes:
    out = bytearray()
    while chunk := await proc.read_stdout():
        out += chunk
    return bytes(out)


async def _drain_stderr(proc: AgentProcess) -> list[bytes]:
    return [line async for line in proc.stderr_lines()]


async def _hello(proc: AgentProcess) -> dict:
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = await asyncio.wait_for(proc.read_stdout(1), 10)
        assert chunk, "EOF before hello"
        line += chunk
    return json.loads(line)


def test_garbage_output_is_streamed_whole_and_logged(tag, tmp_path):
    """Every stdout byte (invalid JSON, binary, 100 KiB line) arrives and lands in stdout.log;
    stderr lines are logged whole but cut in stderr_tail."""

    async def go():
        proc = await _spawn(tag, "garbage.py", tmp_path)
        out, err = await asyncio.gather(_read_all(proc), _drain_stderr(proc))
        rc = await proc.wait()
        res = await proc.stop(5)
        proc.close()
        return proc, out, err, rc, res

    proc, out, err, rc, res = h.run(go())
    assert out == garbage.expected_stdout()
    assert rc == 0 and res.how == "exited" and res.returncode == 0
    assert [e[:20] for e in err] == [b"warning: first", b"e" * 20, b"warning: last"]
    assert len(err[1]) <= MAX_LINE + 3
    assert list(proc.stderr_tail)[0] == "warning: first" and len(proc.stderr_tail) == 3
    log_dir = tmp_path / "agents" / "a1"
    stdout_log = (log_dir / "stdout.log").read_bytes()
    assert stdout_log.startswith(b"===== launch a1 pid ")
    assert stdout_log.split(b"=====\n", 1)[1] == garbage.expected_stdout()
    assert (log_dir / "stderr.log").read_bytes().split(b"=====\n", 1)[1] == (
        garbage.expected_stderr())


def test_stderr_lines_are_cut_in_the_tail_but_logged_whole(tag, tmp_path):
    """Lines longer than MAX_LINE come back cut with "..."; stderr.log has every byte."""
    data = (b"a" * MAX_LINE + b"\n" + b"b" * (MAX_LINE + 1) + b"\n" + b"c" * 10_000
            + b"\r\n" + b"Loading...")
    code = f"import sys; sys.stderr.buffer.write({data!r})"

    async def go():
        proc = await AgentProcess.spawn("a1", [sys.executable, "-c", code], h.env_for(tag),
                                        tmp_path, tmp_path / "logs")
        lines = await _drain_stderr(proc)
        await proc.stop(5)
        proc.close()
        return proc, lines

    proc, lines = h.run(go())
    assert lines == [b"a" * MAX_LINE, b"b" * MAX_LINE + b"...", b"c" * MAX_LINE + b"...",
                     b"Loading..."]
    assert list(proc.stderr_tail) == [line.decode() for line in lines]
    assert (tmp_path / "logs" / "stderr.log").read_bytes().split(b"=====\n", 1)[1] == data


def test_crash_exit_code_tail_and_relaunch_logs(tag, tmp_path):
    """An agent exiting 3 is described "exit 3"; a relaunch appends to the same logs."""

    async def once():
        proc = await _spawn(tag, "crash.py", tmp_path)
        out, _ = await asyncio.gather(_read_all(proc), _drain_stderr(proc))
        rc = await proc.wait()
        res = await proc.stop(5)
        proc.close()
        return proc, out, rc, res

    for _ in range(2):
        proc, out, rc, res = h.run(once())
        assert json.loads(out)["type"] == "hello"
        assert rc == 3 and proc.exit_description() == "exit 3"
        assert (res.how, res.returncode) == ("exited", 3)
        assert list(proc.stderr_tail) == ["fatal: boom"]
    log = (tmp_path / "agents" / "a1" / "stdout.log").read_bytes()
    assert log.count(b"===== launch a1 pid") == 2 and log.count(b'"type": "hello"') == 2
    assert (tmp_path / "agents" / "a1" / "stderr.log").read_bytes().count(b"fatal: boom") == 2


def test_protocol_round_trip_and_graceful_exit(tag, tmp_path):
    """echo.py answers quiesce with quiesced and exits 0 on stop; stop() then says exited."""

    async def go():
        proc = await _spawn(tag, "echo.py", tmp_path)
        hello = await _hello(proc)
        assert await proc.send(b'{"type": "quiesce"}\n')
        reply = await _hello(proc)
        assert await proc.send(b'{"type": "stop"}\n')
        rc = await asyncio.wait_for(proc.wait(), 10)
        res = await proc.stop(5)
        proc.close()
        return hello, reply, rc, res

    hello, reply, rc, res = h.run(go())
    assert hello["capabilities"] == ["quiesce"] and reply == {"type": "quiesced"}
    assert rc == 0 and (res.how, res.returncode) == ("exited", 0)


def test_stop_terminates_with_sigterm(tag, tmp_path):
    """A running agent that honours TERM ends "terminated by SIGTERM" well within grace."""

    async def go():
        proc = await _spawn(tag, "silent.py", tmp_path)
        res = await proc.stop(10)
        proc.close()
        return proc, res

    proc, res = h.run(go())
    assert (res.how, res.returncode) == ("terminated", -signal.SIGTERM)
    assert proc.exit_description() == "terminated by SIGTERM"
    assert res.seconds < 5


def test_stop_kills_agent_ignoring_term_after_grace(tag, tmp_path):
    """An agent trapping TERM is KILLed once the grace period has passed."""

    async def go():
        proc = await _spawn(tag, "ignore_term.py", tmp_path)
        await _hello(proc)  # the handler is installed
        res = await proc.stop(0.5)
        err = await asyncio.wait_for(_drain_stderr(proc), 5)
        proc.close()
        return proc, res, err

    proc, res, err = h.run(go())
    assert (res.how, res.returncode) == ("killed", -signal.SIGKILL)
    assert proc.exit_description() == "killed by SIGKILL"
    assert 0.5 <= res.seconds < 4
    assert b"ignoring SIGTERM" in err


def test_grace_period_runs_on_the_injected_clock(tag, tmp_path):
    """With a FakeClock the KILL comes when the clock passes the grace, not before; two
    concurrent stops share one result."""

    async def go():
        clock = FakeClock()
        proc = await _spawn(tag, "ignore_term.py", tmp_path)
        await _hello(proc)
        stops = asyncio.gather(proc.stop(100, clock), proc.stop(100, clock))
        await asyncio.wait_for(clock.until_sleeping(), 10)
        await asyncio.sleep(0.3)
        alive_during_grace = proc.returncode is None
        clock.advance(100)
        first, second = await asyncio.wait_for(stops, 10)
        proc.close()
        return alive_during_grace, first, second

    alive_during_grace, first, second = h.run(go())
    assert alive_during_grace
    assert first is second and (first.how, first.returncode) == ("killed", -signal.SIGKILL)
    assert first.seconds == 100


def test_stop_kills_grandchildren_and_escaped_double_fork(tag, tmp_path):
    """After stop, the grandchild holding stdout and the one that escaped the group are
    dead, and stdout reaches EOF."""
    assert become_subreaper()

    async def go():
        proc = await _spawn(tag, "grandchild.py", tmp_path)
        hello = await _hello(proc)
        escaped = psutil.Process(hello["escaped"])
        where = (escaped.ppid(), os.getpgid(escaped.pid))
        res = await proc.stop(5)
        rest = await asyncio.wait_for(_read_all(proc), 5)
        proc.close()
        return proc, hello, where, res, rest

    proc, hello, (escaped_ppid, escaped_pgid), res, rest = h.run(go())
    assert escaped_ppid == os.getpid() and escaped_pgid != proc.pgid
    assert res.how == "terminated"
    assert hello["escaped"] in res.swept
    assert rest == b""
    for pid in (proc.pid, hello["grandchild"], hello["escaped"]):
        assert not h.alive(pid)


def test_stdout_eof_after_stop_when_agent_died_but_grandchild_holds_it(tag, tmp_path):
    """wait() returns when the agent dies though a grandchild keeps stdout open; stdout
    reaches EOF only after stop() swept the grandchildren."""
    assert become_subreaper()

    async def go():
        proc = await _spawn(tag, "grandchild.py", tmp_path)
        hello = await _hello(proc)
        os.kill(proc.pid, signal.SIGKILL)
        rc = await asyncio.wait_for(proc.wait(), 5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(proc.read_stdout(), 0.3)
        res = await proc.stop(5)
        rest = await asyncio.wait_for(_read_all(proc), 5)
        proc.close()
        return hello, rc, res, rest

    hello, rc, res, rest = h.run(go())
    assert rc == -signal.SIGKILL and res.how == "exited"
    assert set(res.swept) == {hello["grandchild"], hello["escaped"]}
    assert rest == b""


def test_sweep_kills_leftovers_of_dead_agents(tag, tmp_path):
    """sweep() finds the descendants of an agent that died on its own, by launch token."""
    assert become_subreaper()

    async def go():
        proc = await _spawn(tag, "grandchild.py", tmp_path)
        hello = await _hello(proc)
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 5)
        swept = await asyncio.to_thread(sweep)
        res = await proc.stop(5)
        proc.close()
        return hello, swept, res

    hello, swept, res = h.run(go())
    assert {hello["grandchild"], hello["escaped"]} <= set(swept)
    assert res.swept == ()


def test_freeze_and_thaw_stop_and_resume_the_group(tag, tmp_path):
    """freeze() puts the agent in state 'stopped'; thaw() lets it run again."""

    async def go():
        proc = await _spawn(tag, "silent.py", tmp_path)
        ps = psutil.Process(proc.pid)
        proc.freeze()
        frozen = await asyncio.to_thread(
            h.wait_until, lambda: ps.status() == psutil.STATUS_STOPPED, 5)
        proc.thaw()
        thawed = await asyncio.to_thread(
            h.wait_until, lambda: ps.status() != psutil.STATUS_STOPPED, 5)
        res = await proc.stop(5)
        proc.close()
        return frozen, thawed, res

    frozen, thawed, res = h.run(go())
    assert frozen and thawed and res.how == "terminated"


def test_stop_of_a_frozen_agent_terminates_it(tag, tmp_path):
    """A frozen group still ends on TERM (stop sends CONT), without waiting for KILL."""

    async def go():
        proc = await _spawn(tag, "silent.py", tmp_path)
        proc.freeze()
        res = await proc.stop(5)
        proc.close()
        return res

    res = h.run(go())
    assert (res.how, res.returncode) == ("terminated", -signal.SIGTERM) and res.seconds < 4


def test_send_to_closed_stdin_returns_false(tag, tmp_path):
    """send() to an agent that closed stdin, or exited, is False and raises nothing."""

    async def go():
        proc = await _spawn(tag, "closed_stdin.py", tmp_path)
        await _hello(proc)
        first = await proc.send(b'{"type": "quiesce"}\n')
        second = await proc.send(b'{"type": "quiesce"}\n')
        await proc.stop(5)
        after_exit = await proc.send(b'{"type": "stop"}\n')
        proc.close()
        return first, second, after_exit

    assert h.run(go()) == (False, False, False)


def test_send_to_agent_that_never_reads_does_not_block(tag, tmp_path):
    """send() to an agent that never reads stdin gives up after its timeout."""

    async def go():
        loop = asyncio.get_running_loop()
        proc = await _spawn(tag, "silent.py", tmp_path)
        small = await proc.send(b'{"type": "heartbeat"}\n')
        t0 = loop.time()
        big = await proc.send(b"x" * (1024 * 1024), timeout=0.3)
        t_big = loop.time() - t0
        t0 = loop.time()
        more = await proc.send(b"y" * 10, timeout=5)
        t_more = loop.time() - t0
        res = await proc.stop(5)
        proc.close()
        return small, big, t_big, more, t_more, res

    small, big, t_big, more, t_more, res = h.run(go())
    assert small is True and big is False and more is False
    assert t_big < 2 and t_more < 0.5
    assert res.how == "terminated"


@pytest.mark.parametrize("argv, cwd_missing, message", [
    (["no-such-agent-xyz", "--x"], False,
     "agent a1: cannot start 'no-such-agent-xyz': No such file or directory"),
    (["./not_executable.txt"], False,
     "agent a1: cannot start './not_executable.txt': Permission denied"),
    (["python3"], True, "agent a1: cannot start 'python3': No such file or directory "
                        "(working directory {cwd})"),
    (["./missing/agent"], False,
     "agent a1: cannot start './missing/agent': No such file or directory"),
])
def test_spawn_that_cannot_start_raises_agent_error(tag, tmp_path, argv, cwd_missing, message):
    """A missing or non-executable command, or a missing cwd, is a one-line AgentError."""
    (tmp_path / "not_executable.txt").write_text("hello\n")
    cwd = tmp_path / "gone" if cwd_missing else tmp_path

    async def go():
        await AgentProcess.spawn("a1", argv, h.env_for(tag), cwd, tmp_path / "logs")

    with pytest.raises(AgentError) as err:
        h.run(go())
    assert str(err.value) == message.format(cwd=cwd)
    assert not (tmp_path / "logs").exists()


def test_info_records_identity(tag, tmp_path):
    """info() has the pid, psutil create time and argv needed to find the agent again."""

    async def go():
        proc = await _spawn(tag, "silent.py", tmp_path)
        info = proc.info()
        ctime = psutil.Process(proc.pid).create_time()
        cmdline = psutil.Process(proc.pid).cmdline()
        await proc.stop(5)
        proc.close()
        return info, ctime, cmdline

    info, ctime, cmdline = h.run(go())
    assert info["pid"] == info["pgid"] and abs(info["create_time"] - ctime) < 0.01
    assert info["argv"] == h.argv("silent.py") and cmdline[-1].endswith("silent.py")
