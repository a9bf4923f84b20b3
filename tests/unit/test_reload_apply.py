"""Applying a reload to a session: what changes in the runner, config.json and the
journal, and that a failure changes nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from supervisor.clock import FakeClock
from supervisor.config import config_hash, config_to_dict, config_to_toml, load_config
from supervisor.config.schema import Config
from supervisor.control.reload import apply_reload
from supervisor.ledger import Ledger
from supervisor.session.journal import read_journal
from supervisor.session.layout import SessionLayout
from supervisor.session.publisher import Publisher


class Session:
    """The parts of a SessionRunner a reload touches, over a real session directory."""

    def __init__(self, root: Path, cfg: Config, refuse: bool = False):
        root.mkdir()
        self.layout = SessionLayout(root)
        self.cfg = cfg
        self.config_hash = config_hash(cfg)
        self.ledger = Ledger(self.layout.journal, clock=FakeClock())
        self.publisher = Publisher()
        self.refuse = refuse
        self.reloaded: list[tuple[Config, Config]] = []
        self.statuses = 0
        self.timer = self
        self.layout.config_toml.write_text(config_to_toml(cfg))
        self.layout.config_json.write_text(json.dumps(config_to_dict(cfg)))

    def elapsed(self) -> float:
        return 42.0

    def write_status(self) -> dict[str, Any]:
        self.statuses += 1
        return {}

    def on_config_reloaded(self, old: Config, new: Config) -> None:
        if self.refuse:
            raise ValueError("recovery table refused")
        self.reloaded.append((old, new))

    def edit(self, old: str, new: str) -> None:
        text = self.layout.config_toml.read_text()
        assert text.count(old) == 1
        self.layout.config_toml.write_text(text.replace(old, new))

    def reloads(self) -> list[dict[str, Any]]:
        self.ledger.sync()
        return [r.fields for r in read_journal(self.layout.journal) if r.kind == "config_reload"]


@pytest.fixture(scope="module")
def base() -> Config:
    return load_config(None, env={})


def test_applied_change_reaches_runner_hook_config_json_and_journal(
        tmp_path: Path, base: Config) -> None:
    """A new budget: runner.cfg and its hash change, the hook sees old and new,
    config.json holds it, the journal records the change."""
    s = Session(tmp_path / "s", base)
    s.edit("total_token_budget = 5000000", "total_token_budget = 3000000")
    answer = asyncio.run(apply_reload(s))  # type: ignore[arg-type]
    assert answer["ok"] is True
    assert answer["applied"] == [{"path": "limits.total_token_budget", "old": 5_000_000,
                                  "new": 3_000_000}]
    assert s.cfg.limits.total_token_budget == 3_000_000
    # reloadable sections are outside the hash: checkpoints from before still match
    assert s.config_hash == config_hash(s.cfg) == config_hash(base)
    assert [(o.limits.total_token_budget, n.limits.total_token_budget)
            for o, n in s.reloaded] == [(5_000_000, 3_000_000)]
    assert json.loads(s.layout.config_json.read_text())["limits"]["total_token_budget"] == \
        3_000_000
    rec = s.reloads()
    assert len(rec) == 1 and rec[0]["ok"] is True and rec[0]["applied"][0]["new"] == 3_000_000
    assert s.statuses == 1


def test_restart_only_change_is_reported_not_applied(tmp_path: Path, base: Config) -> None:
    """A changed agent count is listed as needing a restart; nothing else happens."""
    s = Session(tmp_path / "s", base)
    before = s.layout.config_json.read_text()
    s.edit("agent_count = 6", "agent_count = 3")
    answer = asyncio.run(apply_reload(s))  # type: ignore[arg-type]
    assert answer["ok"] is True and answer["applied"] == []
    assert [c["path"] for c in answer["needs_restart"]] == ["session.agent_count"]
    assert s.cfg is base and s.reloaded == [] and s.layout.config_json.read_text() == before


@pytest.mark.parametrize("how", ["invalid file", "hook refuses"])
def test_failed_reload_changes_nothing(tmp_path: Path, base: Config, how: str) -> None:
    """An invalid file, or new specs a part refuses: the old config stays everywhere and
    the journal records the failure."""
    s = Session(tmp_path / "s", base, refuse=how == "hook refuses")
    before = s.layout.config_json.read_text()
    new_value = "-3" if how == "invalid file" else "3000000"
    s.edit("total_token_budget = 5000000", f"total_token_budget = {new_value}")
    answer = asyncio.run(apply_reload(s))  # type: ignore[arg-type]
    assert answer["ok"] is False and answer["error"]
    assert s.cfg is base and s.config_hash == config_hash(base)
    assert s.layout.config_json.read_text() == before
    rec = s.reloads()
    assert len(rec) == 1 and rec[0]["ok"] is False
