"""Pure path functions for the session tree (DESIGN.md section 5). No I/O here."""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from supervisor.clock import wall_time

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def new_session_id(wall: float | None = None, token: str | None = None) -> str:
    """``mega-YYYYMMDD-HHMMSS-<8 hex>`` in UTC, e.g. mega-20261121-153000-1a2b3c4d."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(wall_time() if wall is None else wall))
    return f"mega-{stamp}-{token or secrets.token_hex(4)}"


def valid_session_id(session_id: str) -> bool:
    return bool(SESSION_ID_RE.match(session_id)) and session_id not in (".", "..")


@dataclass(frozen=True)
class SessionLayout:
    root: Path

    def __post_init__(self) -> None:
        # Always absolute: agents run in project/, so a path relative to the user's
        # directory (the default ``test_runs``) would point nowhere for them.
        object.__setattr__(self, "root", Path(os.path.abspath(self.root)))

    @classmethod
    def of(cls, test_runs_dir: Path | str, session_id: str) -> SessionLayout:
        return cls(Path(test_runs_dir) / session_id)

    @property
    def session_id(self) -> str:
        return self.root.name

    @property
    def config_toml(self) -> Path:
        return self.root / "config.toml"

    @property
    def config_json(self) -> Path:
        return self.root / "config.json"

    @property
    def agent_toml(self) -> Path:
        return self.root / "agent.toml"

    @property
    def prompt(self) -> Path:
        return self.root / "project_prompt.txt"

    @property
    def log(self) -> Path:
        return self.root / "session.log"

    @property
    def journal(self) -> Path:
        return self.root / "events.wal"

    @property
    def status(self) -> Path:
        return self.root / "status"

    @property
    def status_json(self) -> Path:
        return self.root / "status.json"

    @property
    def pidfile(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def lockfile(self) -> Path:
        return self.root / ".supervisor.lock"

    @property
    def control_json(self) -> Path:
        return self.root / "control.json"

    @property
    def metrics_current(self) -> Path:
        return self.root / "metrics_current.json"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def metrics_history(self) -> Path:
        return self.metrics_dir / "history.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    @property
    def project_dir(self) -> Path:
        return self.root / "project"

    @property
    def final_report_json(self) -> Path:
        return self.root / "final_report.json"

    @property
    def final_report_html(self) -> Path:
        return self.root / "final_report.html"

    def agent_dir(self, agent_id: str) -> Path:
        return self.agents_dir / agent_id

    def agent_state(self, agent_id: str) -> Path:
        return self.agent_dir(agent_id) / "state.json"
