"""Helpers for the control-plane tests: a simulated session running in the background, as
`run_mega_test` would run it, and the checks made on it. (No tests in this module.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from supervisor.checkpoint.inspect import verify_checkpoint
from supervisor.clock import monotonic, sleep_real
from supervisor.control.http_client import read_control
from supervisor.session.journal import Record, read_journal
from tests.integration.conftest import REPO

T = TypeVar("T")
RUN = "from supervisor.control.cli import run_mega_test_main; run_mega_test_main()"
# any free port for the API; `true` as the project's test command: the control plane is
# under test here, not the project, and pytest runs at each phase end cost seconds of CPU
HTTP_ANY_PORT = '[control]\nhttp_port = 0\n\n[project]\ntest_command = ["true"]\n'


def wait_for(check: Callable[[], T | None], timeout: float, what: str,
             poll: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        sleep_real(poll)


class LiveSession:
    """``run_mega_test ... -q`` in the background (its own process group)."""

    def __init__(self, runs: Path, session_id: str, args: list[str],
                 config_text: str = HTTP_ANY_PORT, env: dict[str, str] | None = None):
        self.runs = runs
        self.root = runs / session_id
        self.session_id = session_id
        cfg = runs.parent / f"{session_id}.toml"
        cfg.write_text(config_text, encoding="utf-8")
        self.out_path = runs.parent / f"{session_id}.out"
        self._out = open(self.out_path, "w", encoding="utf-8")  # noqa: SIM115
        full_env = {k: v for k, v in os.environ.items() if k != "CHECKPOINT_INTERVAL"}
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUN, *args, "--config", str(cfg), "--test-runs-dir",
             str(runs), "--session-id", session_id, "-q"],
            cwd=REPO, env=full_env, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def status_word(self) -> str | None:
        try:
            return (self.root / "status").read_text().strip() or None
        except OSError:
            return None

    def status_json(self) -> dict[str, Any]:
        return json.loads((self.root / "status.json").read_text())

    def wait_running(self, timeout: float = 30.0, http: bool = True,
                     checkpoints: int = 0) -> LiveSession:
        """Until the session runs its first phase (and serves HTTP, has N checkpoints)."""
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"session ended early ({self.proc.returncode}):\n"
                                     + self.output())
            ok = self.status_word() == "running" and (self.root / "supervisor.pid").exists()
            if http:
                ok = ok and (self.root / "control.json").exists()
            return ok and len(self.checkpoint_files()) >= checkpoints
        wait_for(ready, timeout, f"session {self.session_id} to run")
        return self

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 90.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._out.close()

    def log(self) -> list[dict[str, Any]]:
        out = []
        for line in (self.root / "session.log").read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def log_events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.log() if r.get("event") == event]

    def journal(self) -> list[Record]:
        return list(read_journal(self.root / "events.wal"))

    def checkpoint_files(self) -> list[Path]:
        return sorted((self.root / "checkpoints").glob("checkpoint_*.msgpack"))

    def token(self) -> str:
        ctl = read_control(self.root)
        assert ctl is not None
        return ctl.token

    def url(self) -> str:
        ctl = read_control(self.root)
        assert ctl is not None
        return ctl.url


def verify_all(root: Path) -> list[str]:
    """Verify every checkpoint file of a session (checksum and every object)."""
    files = sorted((root / "checkpoints").glob("checkpoint_*.msgpack"))
    assert files, f"no checkpoints in {root}"
    for f in files:
        lines = verify_checkpoint(f)
        assert lines[0].endswith(": ok"), lines
    return [f.name for f in files]


def log_has_no_crash(session: LiveSession) -> None:
    bad = [r for r in session.log() if r.get("event") in (
        "session_crashed", "command_failed", "checkpoint_failed", "finish_step_failed",
        "metrics_failed", "intake_failed")]
    assert not bad, bad[:3]
