"""Config as data: dict / JSON / TOML round trips and the config hash."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

from supervisor.config import (
    Overrides,
    config_from_dict,
    config_hash,
    config_to_dict,
    config_to_toml,
    load_config,
)
from supervisor.config.schema import SCHEMA_VERSION, Config
from supervisor.errors import ConfigError

FIXTURE = Path("/work/shared/fixtures/selfware_mega_test_config.toml")

RICH = """
[session]
id = "rich-1"
duration_hours = 2.5
project_type = "microservices"
[agent]
command = ["my-agent", "--role", "{role}", "--state", "{resume_state}"]
env = { A_VAR = "1", OTHER = "two words" }
roles = ["Coder", "Tester"]
[[phases]]
name = "one"
duration_minutes = 7
roles = ["Coder"]
checkpoint_interval_minutes = 3
[[phases]]
name = "two"
duration_minutes = 13
[notifications.email]
smtp_server = "smtp.example.com"
to_addresses = ["a@example.com"]
[simulation.faults]
rates = { network_timeout = 0.5, agent_crash = 0.05 }
[[simulation.faults.scheduled]]
failure = "agent_hang"
phase = "two"
at_minutes = 4
agent = "Tester"
[recovery.disk_full]
action = "stop"
"""


def configs(tmp_path: Path) -> list[Config]:
    rich = tmp_path / "rich.toml"
    rich.write_text(RICH, encoding="utf-8")
    return [
        load_config(None, env={}),
        load_config(None, Overrides(project_type="database", hours=1, agents=3), env={}),
        load_config(None, env={"CHECKPOINT_INTERVAL": "4"}),
        load_config(FIXTURE, env={}),
        load_config(rich, env={}),
    ]


def test_dict_round_trip_through_json(tmp_path: Path) -> None:
    """config_from_dict(json(config_to_dict(c))) == c, source included."""
    for cfg in configs(tmp_path):
        data = json.loads(json.dumps(config_to_dict(cfg)))
        assert data["schema_version"] == SCHEMA_VERSION
        assert config_from_dict(data) == cfg


def test_toml_round_trip(tmp_path: Path) -> None:
    """Loading config_to_toml(c) back gives c again (source: the file it was loaded from)."""
    for i, cfg in enumerate(configs(tmp_path)):
        path = tmp_path / f"out{i}.toml"
        path.write_text(config_to_toml(cfg), encoding="utf-8")
        again = load_config(path, env={})
        assert again == dataclasses.replace(cfg, source=str(path))


def test_dict_is_complete(tmp_path: Path) -> None:
    """The dict holds every section, every phase and the full recovery table."""
    cfg = configs(tmp_path)[-1]
    data = config_to_dict(cfg)
    assert {f.name for f in dataclasses.fields(Config)} <= set(data)
    assert len(data["recovery"]) == 12 and data["recovery"]["disk_full"]["action"] == "stop"
    assert data["agent"]["env"] == {"A_VAR": "1", "OTHER": "two words"}
    assert data["phases"][0]["duration_minutes"] == pytest.approx(150 * 7 / 20)
    assert "checkpoint_interval_minutes" not in data["phases"][1]
    assert data["notifications"]["email"]["to_addresses"] == ["a@example.com"]
    assert tomllib.loads(config_to_toml(cfg))["simulation"]["faults"]["rates"] == {
        "network_timeout": 0.5,
        "agent_crash": 0.05,
    }


def test_from_dict_validates_like_a_file() -> None:
    """A bad dict is a ConfigError naming the given source and key path."""
    data = config_to_dict(load_config(None, env={}))
    data["phases"][1]["duration_minutes"] = -3
    data["checkpoint"]["interval_minutes"] = "often"
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, source="session/config.json")
    assert [(p.source, p.key) for p in info.value.problems] == [
        ("session/config.json", "checkpoint.interval_minutes"),
        ("session/config.json", "phases[1].duration_minutes"),
    ]


def test_hash_ignores_runtime_knobs_only() -> None:
    """config_hash ignores id, time scale, runs dir and source, but not the plan."""
    base = load_config(None, env={})
    same = load_config(
        None, Overrides(time_scale=720, session_id="other", test_runs_dir="/elsewhere"), env={}
    )
    assert config_hash(dataclasses.replace(same, source="x")) == config_hash(base)
    longer = dataclasses.replace(
        base,
        phases=(dataclasses.replace(base.phases[0], duration_minutes=61.0), *base.phases[1:]),
    )
    assert config_hash(longer) != config_hash(base)
    assert config_hash(load_config(None, Overrides(hours=5), env={})) != config_hash(base)
    assert len(config_hash(base)) == 64


def test_config_hash_ignores_the_sections_a_session_may_reload() -> None:
    """Limits, recovery, error handling and notifications can change in flight (SIGHUP)
    without making earlier checkpoints of the session mismatch."""
    import dataclasses

    from supervisor.config import config_hash, load_config

    base = load_config(None)
    changed = dataclasses.replace(
        base, limits=dataclasses.replace(base.limits, total_token_budget=1),
        notifications=dataclasses.replace(base.notifications, enabled=True))
    assert config_hash(changed) == config_hash(base)
    phases = (dataclasses.replace(base.phases[0], duration_minutes=1.0), *base.phases[1:])
    assert config_hash(dataclasses.replace(base, phases=phases)) != config_hash(base)
