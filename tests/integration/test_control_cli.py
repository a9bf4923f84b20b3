"""The `supervisor` verbs as a user calls them (subprocesses) against a running session:
list, status (id, prefix, path, newest; --json; --watch), checkpoint, pause, resume,
stop, logs (-f, --agent); three checkpoints at once; a stale pidfile."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor.clock import sleep_real, wall_time
from supervisor.control.http_client import call_sync
from tests.integration.conftest import REPO, assert_no_session_processes
from tests.integration.test_control_support import LiveSession, log_has_no_crash, wait_for

SUPERVISOR = "from supervisor.control.cli import supervisor_main; supervisor_main()"


def sup(runs: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`supervisor --test-runs-dir RUNS ARGS...` in a subprocess."""
    return subprocess.run([sys.executable, "-c", SUPERVISOR, "--test-runs-dir", str(runs),
                           *args], cwd=REPO, text=True, capture_output=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "120"})


def sup_popen(runs: Path, *args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SUPERVISOR, "--test-runs-dir", str(runs),
                             *args], cwd=REPO, text=True, **kw)


def status_json(runs: Path, ref: str | None = None) -> dict[str, Any]:
    r = sup(runs, "status", *([ref] if ref else []), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSession]:
    """A long session (6 h at scale 240) that the tests below steer and finally stop."""
    runs = tmp_path_factory.mktemp("cli") / "runs"
    runs.mkdir()
    (runs / "mega-20200101-000000-0ld0ld00").mkdir()  # an old, finished session beside it
    (runs / "mega-20200101-000000-0ld0ld00" / "config.json").write_text("{}")
    (runs / "mega-20200101-000000-0ld0ld00" / "status").write_text("completed\n")
    s = LiveSession(runs, "mega-20261121-120000-c0ffee00",
                    ["task_queue", "6", "3", "--time-scale", "240"])
    try:
        yield s.wait_running()
    finally:
        s.kill()


def test_list_shows_sessions_with_status_and_progress(session: LiveSession) -> None:
    """`list --json` names both sessions; the running one with pid, phase and progress."""
    r = sup(session.runs, "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["session_id"]: row for row in json.loads(r.stdout)}
    live = rows[session.session_id]
    assert live["status"] == "running" and live["pid"] == session.pid
    assert live["phase"] and isinstance(live["progress_percent"], float)
    assert rows["mega-20200101-000000-0ld0ld00"]["status"] == "completed"
    table = sup(session.runs, "list")
    assert session.session_id in table.stdout and "running" in table.stdout


@pytest.mark.parametrize("ref", ["id", "prefix", "path", "omitted"])
def test_status_finds_the_session_every_way(session: LiveSession, ref: str) -> None:
    """SESSION as an id, a unique prefix, a path, or left out (the newest running)."""
    given = {"id": session.session_id, "prefix": "mega-20261121", "path": str(session.root),
             "omitted": None}[ref]
    snap = status_json(session.runs, given)
    assert snap["session_id"] == session.session_id and snap["status"] == "running"
    assert snap["pid"] == session.pid


def test_status_view_shows_phase_progress_agents_and_health(session: LiveSession) -> None:
    """The plain `status` view: phases with progress, ETA, rates, agents, health."""
    r = sup(session.runs, "status", session.session_id)
    assert r.returncode == 0, r.stderr
    for needle in ("RUNNING", "overall", "1. bootstrap", "4. finalization", "ETA",
                   "tokens", "tool calls", "health", "architect-1", "util"):
        assert needle in r.stdout, (needle, r.stdout)


def test_ambiguous_or_unknown_session_is_a_usage_error(session: LiveSession) -> None:
    """A prefix of two sessions, or no match, exits 2 with the reason, no traceback."""
    r = sup(session.runs, "status", "mega-")
    assert r.returncode == 2 and "matches 2 sessions" in r.stderr
    r = sup(session.runs, "pause", "nope")
    assert r.returncode == 2 and "no session 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_cli_checkpoint_gives_a_file_that_verifies(session: LiveSession) -> None:
    """`checkpoint SESSION` answers with the new file; `checkpoint verify` accepts it."""
    r = sup(session.runs, "checkpoint", session.session_id)
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip().rsplit(": ", 1)[-1]
    assert path.endswith(".msgpack")
    v = sup(session.runs, "checkpoint", "verify", path)
    assert v.returncode == 0 and ": ok" in v.stdout, v.stdout + v.stderr


def _agent_events_between(session: LiveSession, start: str, end: str) -> list[Any]:
    recs = session.journal()
    a = max(i for i, r in enumerate(recs) if r.kind == start)
    b = max(i for i, r in enumerate(recs) if r.kind == end)
    return [r for r in recs[a:b] if r.kind == "ev"]


def test_pause_holds_agents_and_session_time_then_resume_continues(
        session: LiveSession) -> None:
    """pause: agents held (quiesced or SIGSTOPped), no agent event journaled, session time
    stands still, even across a checkpoint; resume: agents and time go on."""
    r = sup(session.runs, "pause", session.session_id)
    assert r.returncode == 0 and "paused" in r.stdout, r.stderr
    snap = status_json(session.runs)
    assert snap["status"] == "paused" and snap["paused"] is True
    assert snap["eta"]["finish_wall"] is None
    states = {a["id"]: a["state"] for a in snap["agents"] if a["pid"]}
    assert states and set(states.values()) <= {"paused", "frozen"}, states
    for a in snap["agents"]:
        if a["pid"]:
            st = psutil.Process(a["pid"]).status()
            assert st == psutil.STATUS_STOPPED if a["state"] == "frozen" else \
                st != psutil.STATUS_STOPPED
    assert sup(session.runs, "pause").returncode == 1  # already paused
    elapsed = snap["elapsed_seconds"]
    ck = sup(session.runs, "checkpoint")  # a checkpoint does not wake them
    assert ck.returncode == 0, ck.stderr
    sleep_real(1.5)
    again = status_json(session.runs)
    assert again["elapsed_seconds"] == elapsed and again["status"] == "paused"
    assert {a["id"]: a["state"] for a in again["agents"] if a["pid"]} == states
    r = sup(session.runs, "resume", session.session_id)
    assert r.returncode == 0 and "resumed" in r.stdout, r.stderr
    assert _agent_events_between(session, "pause", "resume") == []
    wait_for(lambda: status_json(session.runs)["elapsed_seconds"] > elapsed + 30, 20,
             "session time to run again")
    after = status_json(session.runs)
    assert after["status"] == "running" and after["paused_wall_seconds"] >= 1.5
    assert {a["state"] for a in after["agents"] if a["pid"]} <= {"running", "starting"}
    resumed_at = _seq_of_last(session, "resume")  # read once: the journal is long by now
    wait_for(lambda: any(r.kind == "ev" and r.seq > resumed_at for r in session.journal()),
             20, "agent events after resume")


def _seq_of_last(session: LiveSession, kind: str) -> int:
    return max(r.seq for r in session.journal() if r.kind == kind)


def test_cli_signal_and_http_checkpoints_at_once_are_all_valid(session: LiveSession) -> None:
    """A CLI checkpoint, a SIGUSR2 and an HTTP checkpoint at the same moment: each gives a
    checkpoint, every one verifies with `supervisor checkpoint verify`, nothing fails."""
    http: dict[str, Any] = {}

    def post() -> None:
        http["answer"] = call_sync(session.root, "POST", "/api/checkpoint", {"reason": "http"})

    since = wall_time()
    cli = sup_popen(session.runs, "checkpoint", session.session_id, "--reason", "cli",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    thread = threading.Thread(target=post)
    thread.start()
    session.signal(signal.SIGUSR2)
    out, err = cli.communicate(timeout=60)
    thread.join(60)
    assert cli.returncode == 0, err
    status, answer = http["answer"]
    assert status == 200 and answer["ok"], answer
    by_reason = wait_for(lambda: _forced_since(session, since, 3), 30, "three checkpoints")
    assert set(by_reason) == {"cli", "http", "SIGUSR2"}
    assert answer["checkpoint"]["path"] == by_reason["http"]
    assert out.strip().endswith(by_reason["cli"])
    checks = [sup_popen(session.runs, "checkpoint", "verify", p, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE) for p in by_reason.values()]
    for c in checks:
        o, e = c.communicate(timeout=60)
        assert c.returncode == 0 and ": ok" in o, o + e
    log_has_no_crash(session)


def _forced_since(session: LiveSession, since: float, n: int) -> dict[str, str] | None:
    got = {}
    for r in session.log_events("checkpoint"):
        if r.get("trigger") == "forced" and r["timestamp"] >= _iso(since):
            got[str(r.get("reason"))] = str(r["path"])
    return got if len(got) >= n else None


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall - 1))


def test_logs_print_the_session_log_and_an_agents_output(session: LiveSession) -> None:
    """`logs` shows readable lines; `logs --agent ID` that agent's events; an unknown
    agent is a usage error listing the known ones."""
    r = sup(session.runs, "logs", session.session_id)
    assert r.returncode == 0 and "session_started" in r.stdout and "INFO" in r.stdout
    assert not r.stdout.lstrip().startswith("{")
    out_log = session.root / "agents" / "architect-1" / "stdout.log"
    wait_for(lambda: out_log.exists() and b'"tool_call"' in out_log.read_bytes(), 20,
             "a tool call of architect-1")
    a = sup(session.runs, "logs", "--agent", "architect-1")
    assert a.returncode == 0 and "tool_call name=" in a.stdout, a.stderr
    e = sup(session.runs, "logs", "--agent", "architect-1", "--stderr")
    assert e.returncode == 0 and "launch architect-1" in e.stdout
    bad = sup(session.runs, "logs", "--agent", "ghost-9")
    assert bad.returncode == 2 and "architect-1" in bad.stderr


def test_watch_and_follow_end_when_the_session_is_stopped(session: LiveSession) -> None:
    """`status --watch` (on a terminal) and `logs -f` run until `stop` ends the session;
    the session ends interrupted (exit 130) with a final checkpoint and report."""
    master, slave = pty.openpty()
    watch = sup_popen(session.runs, "status", "--watch", "--interval", "0.3",
                      stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    screen = bytearray()
    reader = threading.Thread(target=_drain, args=(master, screen), daemon=True)
    reader.start()
    follow = sup_popen(session.runs, "logs", "-f", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    wait_for(lambda: b"overall" in screen, 20, "the live view on the terminal")
    r = sup(session.runs, "stop", session.session_id)
    assert r.returncode == 0 and "stopping" in r.stdout, r.stderr
    assert session.wait(60) == 130, session.output()
    assert watch.wait(20) == 0
    out, _ = follow.communicate(timeout=20)
    assert follow.returncode == 0 and "session_finished" in out
    reader.join(5)
    assert b"INTERRUPTED" in screen
    assert session.status_word() == "interrupted"
    assert json.loads((session.root / "final_report.json").read_text())["status"] == \
        "interrupted"
    assert any(r.get("trigger") == "final" for r in session.log_events("checkpoint"))
    assert_no_session_processes(session.root)


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        into.extend(chunk)
    os.close(fd)


def test_stale_pidfile_does_not_block_resume(tmp_path: Path) -> None:
    """A supervisor killed with SIGKILL leaves its pidfile; with that pid now another
    process's, `status` says crashed and `supervisor resume` brings the session back."""
    runs = tmp_path / "runs"
    runs.mkdir()
    s = LiveSession(runs, "crashy", ["task_queue", "1", "2", "--time-scale", "1800"])
    try:
        s.wait_running()
        wait_for(lambda: s.status_json()["totals"]["tool_calls"] > 0, 20, "agents at work")
        os.kill(s.pid, signal.SIGKILL)
        s.proc.wait(10)
    finally:
        s.kill()
    (s.root / "supervisor.pid").write_text(f"{os.getpid()}\n")  # a live, unrelated pid
    listed = {r["session_id"]: r for r in json.loads(sup(runs, "list", "--json").stdout)}
    assert listed["crashy"]["status"] == "crashed"
    assert listed["crashy"]["stale_pid"] == os.getpid() and listed["crashy"]["pid"] is None
    assert sup(runs, "pause", "crashy").returncode == 1  # nothing to pause
    r = sup(runs, "resume", "crashy", "-q", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(resumed)" in r.stdout
    assert (s.root / "status").read_text().strip() == "completed"
    assert not (s.root / "supervisor.pid").exists()
    assert_no_session_processes(s.root)
