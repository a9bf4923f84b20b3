"""Resolving a schedule's session: config file, settings laid over it, command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from supervisor.daemon.launcher import (
    RUN_CODE,
    check_schedules,
    deep_merge,
    resolve_run,
    resume_argv,
    session_argv,
)
from supervisor.daemon.schedules import parse_schedules
from supervisor.errors import ConfigError


def write(tmp_path: Path, schedules: str, session: str = "[control]\nhttp_port = 0\n"):
    (tmp_path / "session.toml").write_text(session)
    return parse_schedules('[daemon]\nconfig = "session.toml"\n' + schedules,
                           "schedules.toml", tmp_path)


def test_deep_merge_merges_tables_and_replaces_values() -> None:
    """Tables merge key by key; arrays and scalars are replaced."""
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    assert deep_merge(base, {"a": {"y": [3]}, "c": 3}) == {"a": {"x": 1, "y": [3]}, "b": 2,
                                                            "c": 3}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}


def test_resolved_run_and_its_command_line(tmp_path: Path) -> None:
    """Overrides become run_mega_test's arguments; the fixed session id and --quiet are set."""
    spec = write(tmp_path, "[schedules.fast]\ninterval = 2\nhours = 0.05\ntime_scale = 3600\n"
                           "seed = 3\n")
    run, cfg = resolve_run(spec.schedules[0], spec, tmp_path / "runs")
    assert cfg.session.duration_hours == 0.05 and cfg.session.time_scale == 3600
    assert run.agents == cfg.session.agent_count == 6  # the config's, since none was given
    argv = session_argv(run, "fast-20260101-000000")
    assert argv[:3] == [sys.executable, "-c", RUN_CODE]
    assert argv[3:6] == ["task_queue", "0.05", "6"]
    for flag, value in (("--session-id", "fast-20260101-000000"), ("--time-scale", "3600.0"),
                        ("--seed", "3"), ("--test-runs-dir", str(tmp_path / "runs")),
                        ("--config", str(tmp_path / "session.toml"))):
        assert argv[argv.index(flag) + 1] == value
    assert "--quiet" in argv
    assert resume_argv(tmp_path, "s1")[-3:] == ["resume", "s1", "--quiet"]


def test_no_overrides_pass_no_positionals(tmp_path: Path) -> None:
    """Without project/hours/agents the config file decides them (no positional arguments)."""
    spec = write(tmp_path, "[schedules.plain]\ninterval = '1d'\n",
                 "[session]\nagent_count = 2\nduration_hours = 3\n")
    run, cfg = resolve_run(spec.schedules[0], spec, tmp_path)
    argv = session_argv(run, "x")
    assert argv[3] == "--config" and run.agents == 2 and cfg.session.duration_hours == 3


def test_settings_are_laid_over_the_config(tmp_path: Path) -> None:
    """A schedule's settings table changes the session config it runs with."""
    spec = write(tmp_path, "[schedules.stress]\ninterval = '1d'\nagents = 2\n"
                           "[schedules.stress.settings.simulation.faults]\n"
                           "rates = { network_timeout = 0.5 }\n")
    run, cfg = resolve_run(spec.schedules[0], spec, tmp_path)
    assert dict(cfg.simulation.faults.rates) == {"network_timeout": 0.5}
    assert cfg.control.http_port == 0  # the base file still counts
    assert run.settings_data is not None and run.agents == 2


def test_problems_point_at_the_schedule_or_the_config_file(tmp_path: Path) -> None:
    """A bad setting names schedules.toml with its line; too many agents names the schedule."""
    spec = write(tmp_path, "[capacity]\nmax_agents = 4\n"
                           "[schedules.a]\ninterval = '1d'\n"
                           "[schedules.a.settings.simulation.faults]\n"
                           "rates = { network_timeout = -1 }\n"
                           "[schedules.b]\ninterval = '1d'\n")
    with pytest.raises(ConfigError) as e:
        check_schedules(spec, tmp_path)
    found = [str(p) for p in e.value.problems]
    assert found[0] == ("schedules.toml:8: schedules.a.settings.simulation.faults.rates."
                        "network_timeout: must be >= 0, got -1.0")
    assert found[1].startswith("schedules.toml:9: schedules.b: its session has 6 agents, more "
                               "than capacity.max_agents (4)")


def test_bad_base_config_is_named(tmp_path: Path) -> None:
    """A problem in the session config file names that file and the schedule using it."""
    spec = write(tmp_path, "[schedules.a]\ninterval = '1d'\n", "[session]\nagent_count = 0\n")
    with pytest.raises(ConfigError) as e:
        check_schedules(spec, tmp_path)
    assert any(str(p).startswith("session.toml:2: session.agent_count:")
               and "(config of schedules.a)" in str(p) for p in e.value.problems)
