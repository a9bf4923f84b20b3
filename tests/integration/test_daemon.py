"""The daemon as a user runs it: scheduled sessions on a fast schedule, a SIGKILLed daemon
restarted without launching a run twice, a SIGKILLed session resumed to completion,
reload, stop, give-up with a webhook alert."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor.clock import monotonic, sleep_real, wall_time
from supervisor.daemon.pidfile import daemon_pid
from supervisor.daemon.state import load_state, parse_iso
from supervisor.session.layout import SessionLayout
from supervisor.session.lock import supervisor_pid
from tests.integration.conftest import REPO, supervisor_cli

SUPERVISOR = "from supervisor.control.cli import supervisor_main; supervisor_main()"
RUN = "from supervisor.control.cli import run_mega_test_main; run_mega_test_main()"
FAST = """[daemon]
config = "session.toml"
check_interval_seconds = 1
[capacity]
max_sessions = 4
max_agents = 4
[schedules.fast]
interval = "2s"
hours = 0.05
agents = 1
time_scale = 3600
"""
NEVER = """[daemon]
config = "session.toml"
check_interval_seconds = 1
[crash_watch]
max_recovery_attempts = {attempts}
max_age_hours = 0
[alerts]
webhook_url = "{url}"
timeout_seconds = 5
[schedules.yearly]
cron = "0 0 1 1 *"
"""


def wait_for(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        got = pred()
        if got:
            return got
        sleep_real(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def ours(runs: Path) -> list[psutil.Process]:
    """Every live process of this test: daemons, sessions, resumes, agents."""
    needle = str(runs)
    sids = {p.name for p in runs.iterdir() if p.is_dir()} if runs.is_dir() else set()
    found = []
    for p in psutil.process_iter(["cmdline", "environ", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info.get("cmdline") or [])
            env = p.info.get("environ") or {}
            if needle in cmd or env.get("MEGATEST_SESSION_ID") in sids:
                found.append(p)
        except psutil.Error:
            continue
    return found


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.runs = tmp_path / "runs"
        self.runs.mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []
        (tmp_path / "session.toml").write_text("[control]\nhttp_port = 0\n")

    def schedules(self, text: str, name: str = "schedules.toml") -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    def daemon(self, schedules: Path) -> subprocess.Popen[bytes]:
        out = open(self.dir / f"daemon-{len(self.procs)}.out", "wb")
        proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR, "--test-runs-dir",
                                 str(self.runs), "daemon", "--schedules", str(schedules)],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        wait_for(lambda: daemon_pid(self.runs) == proc.pid or proc.poll() is not None, 20,
                 "the daemon to take its lock")
        assert proc.poll() is None, (self.dir / f"daemon-{len(self.procs) - 1}.out").read_text()
        return proc

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return supervisor_cli("--test-runs-dir", str(self.runs), *args, timeout=60)

    def launched(self) -> list[Any]:
        try:
            return [r for r in load_state(self.runs).runs if r.pid]
        except Exception:  # noqa: BLE001 - the state file may be mid-write while the daemon runs
            return []

    def log(self) -> list[dict[str, Any]]:
        path = self.runs / "daemon.log"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        for p in ours(self.runs):
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(ours(self.runs), timeout=10)
        assert ours(self.runs) == [], "processes of the test survived"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()


def session_done(root: Path) -> bool:
    return (root / "status").exists() and (root / "status").read_text().strip() == "completed"


def test_daemon_launches_on_schedule_and_stop_leaves_sessions_running(env: Env) -> None:
    """A 2-second interval starts sessions (fixed ids, their own process groups); status
    shows the schedule's last and next runs; stop ends the daemon, not its sessions."""
    d = env.daemon(env.schedules(FAST))
    wait_for(lambda: len(env.launched()) >= 2, 30, "two launched runs")
    st = env.cli("daemon", "status")
    assert st.returncode == 0, st.stderr
    assert "fast" in st.stdout and "every 2s" in st.stdout and "in " in st.stdout
    status = json.loads(env.cli("daemon", "status", "--json").stdout)
    sched = status["schedules"][0]
    assert status["daemon"]["running"] and status["daemon"]["pid"] == d.pid
    assert sched["last_fire"] and sched["next_fire"] > sched["last_fire"]
    for run in env.launched():
        assert run.session_id == "fast-" + run.fire_time[:19].replace("-", "").replace(
            ":", "").replace("T", "-")
        if psutil.pid_exists(run.pid):
            assert os.getpgid(run.pid) == run.pid != os.getpgid(d.pid)  # own process group

    def running_one() -> Any:
        return next((r for r in env.launched() if supervisor_pid(
            SessionLayout(env.runs / r.session_id)) == r.pid), None)

    run = wait_for(running_one, 30, "a launched session running")
    stop = env.cli("daemon", "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stderr
    assert d.wait(10) == 0 and daemon_pid(env.runs) is None
    # running when the daemon stopped: it goes on and finishes on its own ("completed",
    # not "interrupted": the daemon's stop never reached it)
    wait_for(lambda: session_done(env.runs / run.session_id), 40, f"{run.session_id} done")
    for r in env.launched():
        wait_for(partial(session_done, env.runs / r.session_id), 40, f"{r.session_id} done")
    assert (env.runs / "daemon.log").exists() and not (env.runs / "daemon.pid").exists()


def test_killed_daemon_restarted_launches_no_run_twice(env: Env) -> None:
    """SIGKILL the daemon and start it again: every run (schedule + fire time) is launched
    once; the runs missed while it was down coalesce into one."""
    path = env.schedules(FAST)
    first = env.daemon(path)
    wait_for(lambda: len(env.launched()) >= 1, 30, "a launched run")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    orphans = env.launched()
    before = {r.run_id for r in load_state(env.runs).runs}
    last_fire = load_state(env.runs).schedules["fast"].last_fire
    sleep_real(5)  # two or three fire times pass while no daemon runs
    restarted_at = wall_time()
    second = env.daemon(path)
    wait_for(lambda: len(env.launched()) >= len(before) + 2, 30, "runs after the restart")
    assert env.cli("daemon", "stop").returncode == 0
    second.wait(10)
    state = load_state(env.runs)
    ids = [r.run_id for r in state.runs]
    assert len(ids) == len(set(ids))
    launches = [e for e in env.log() if e["event"] == "session_launched"]
    assert len({e["run"] for e in launches}) == len(launches)
    assert len({e["session"] for e in launches}) == len(launches)
    after = [r for r in state.runs if r.run_id not in before]
    assert last_fire is not None and all(r.fire_time > last_fire for r in after)
    # the restarted daemon caught up from last_fire: the fire times missed while it was
    # down became one run (the newest), started at once
    assert [e["catch_up"] for e in env.log() if e["event"] == "schedule_set"] == [False, True]
    gap = parse_iso(after[0].fire_time) - parse_iso(last_fire)
    assert gap.total_seconds() >= 4, [r.fire_time for r in after]
    assert parse_iso(after[0].fire_time).timestamp() < restarted_at + 2.5
    for r in orphans:  # sessions of the killed daemon were not killed with it
        wait_for(partial(session_done, env.runs / r.session_id), 40, f"{r.session_id} done")
    for out in (env.runs / "daemon-sessions").glob("*.out"):
        assert "already exists" not in out.read_text()


def test_sigkilled_session_is_resumed_by_the_daemon_and_completes(env: Env) -> None:
    """A session whose supervisor was SIGKILLed is found by the crash watch, resumed once,
    and runs to completion."""
    out = open(env.dir / "session.out", "wb")
    sess = subprocess.Popen([sys.executable, "-c", RUN, "task_queue", "0.05", "1",
                             "--time-scale", "45", "--session-id", "victim", "--test-runs-dir",
                             str(env.runs), "--config", str(env.dir / "session.toml"), "--quiet"],
                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    env.procs.append(sess)
    root = env.runs / "victim"
    wait_for(lambda: (root / "status").exists()
             and (root / "status").read_text().strip() == "running", 30, "the session running")
    sleep_real(1.0)  # into the session: some work and a checkpoint
    sess.send_signal(signal.SIGKILL)
    sess.wait(10)
    assert (root / "status").read_text().strip() == "running"
    env.daemon(env.schedules(NEVER.format(attempts=2, url="")))
    wait_for(lambda: session_done(root), 90, "the resumed session to complete")
    rec = load_state(env.runs).recoveries["victim"]
    assert rec.attempts == 1 and not rec.gave_up
    report = json.loads((root / "final_report.json").read_text())
    assert report["status"] == "completed"
    assert any(e["event"] == "session_resumed" for e in env.log())
    assert list((env.runs / "daemon-sessions").glob("victim.resume-1.out"))
    assert env.cli("daemon", "stop").returncode == 0


class Hook(BaseHTTPRequestHandler):
    got: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_give_up_alerts_reload_and_single_daemon(env: Env) -> None:
    """Past its resume attempts a crashed session is marked failed and the webhook told;
    a bad reload keeps the old schedules, a good one replaces them; one daemon per dir."""
    root = env.runs / "dead"
    root.mkdir()
    (root / "config.json").write_text("{}")
    (root / "status").write_text("running\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.got = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        path = env.schedules(NEVER.format(attempts=0, url=url))
        det = env.cli("daemon", "--schedules", str(path), "--detach")
        assert det.returncode == 0 and "daemon started" in det.stdout, det.stderr
        wait_for(lambda: Hook.got, 20, "the webhook alert")
    finally:
        server.shutdown()
    assert Hook.got[0]["event"] == "session_failed" and Hook.got[0]["session"] == "dead"
    assert (root / "status").read_text().strip() == "failed"
    again = env.cli("daemon", "--schedules", str(path))
    assert again.returncode == 1 and "already runs" in again.stderr
    path.write_text(path.read_text() + '[schedules.broken]\ncron = "0 25 * * *"\n')
    bad = env.cli("daemon", "reload")
    assert bad.returncode == 2 and "schedules.toml:13: schedules.broken.cron: bad cron" in bad.stderr
    assert [s["name"] for s in json.loads(env.cli("daemon", "status", "--json").stdout)
            ["schedules"] if s["next_fire"]] == ["yearly"]
    path.write_text(NEVER.format(attempts=0, url="").replace("yearly", "daily").replace(
        "0 0 1 1 *", "0 4 * * *"))
    good = env.cli("daemon", "reload")
    assert good.returncode == 0 and "daily" in good.stdout, good.stderr
    names = [s["name"] for s in json.loads(env.cli("daemon", "status", "--json").stdout)
             ["schedules"] if s["next_fire"]]
    assert names == ["daily"]
    pid = daemon_pid(env.runs)
    assert env.cli("daemon", "stop").returncode == 0
    assert pid is not None and pid > 0
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
             10, "the daemon process to exit")
    assert env.cli("daemon", "stop").returncode == 1
