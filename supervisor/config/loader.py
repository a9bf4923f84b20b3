"""Load the session config: defaults < project preset < file < environment < command line.

``load_config`` reads the TOML file, stacks the layers, fills the default phase plan and
recovery table, scales the phases to the session's hours, checks every rule, and raises
one ``ConfigError`` listing every problem (file, line, key path) or returns a frozen
``Config``. ``config_from_dict`` runs the same steps on a dict (``config.json``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.config.fields import INVALID, Decoder, describe
from supervisor.config.presets import build_recovery, default_phases, load_preset
from supervisor.config.schema import (
    PROJECT_TYPES,
    SCHEMA_VERSION,
    Config,
    PhaseSpec,
    ProjectSpec,
    ScheduledFaultSpec,
    SessionSpec,
)
from supervisor.config.toml_lines import line_of, parent_key, read_toml
from supervisor.config.validate import cross_check, reporter
from supervisor.errors import ConfigError, Problem

REPO_DIR = Path(__file__).resolve().parents[2]
CLI_SOURCE = "<command line>"
INTERVAL_ENV = "CHECKPOINT_INTERVAL"  # minutes, as the seed's run_mega_test.sh reads it
_SPECIAL = ("project", "recovery", "schema_version")  # root keys not decoded generically
_ROOT_KEYS = [f.name for f in dataclasses.fields(Config) if f.name != "source"] + ["schema_version"]


@dataclass(frozen=True)
class Overrides:
    """Values from the command line; ``None``: not given."""

    project_type: str | None = None
    hours: float | None = None
    agents: int | None = None
    session_id: str | None = None
    time_scale: float | None = None
    checkpoint_interval_minutes: float | None = None
    test_runs_dir: str | None = None
    seed: int | None = None


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$MEGATEST_CONFIG`` or ``<repo>/configs/mega_test_config.toml``."""
    env = os.environ if env is None else env
    given = env.get("MEGATEST_CONFIG")
    return Path(given) if given else REPO_DIR / "configs" / "mega_test_config.toml"


def configs_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory holding ``projects/<type>.toml`` (``$MEGATEST_CONFIGS_DIR`` overrides)."""
    env = os.environ if env is None else env
    given = env.get("MEGATEST_CONFIGS_DIR")
    return Path(given) if given else REPO_DIR / "configs"


def load_config(
    path: Path | None = None,
    overrides: Overrides = Overrides(),  # noqa: B008 - frozen, so a shared default is safe
    env: Mapping[str, str] | None = None,
) -> Config:
    """The config of ``path`` (default: ``default_config_path()``) with env and overrides."""
    env = os.environ if env is None else env
    path = Path(path) if path is not None else default_config_path(env)
    name = path.name or str(path)
    data, lines = read_toml(path, name)
    return _resolve(data, lines, name, str(path), overrides, env, configs_dir(env))


def config_from_dict(d: dict[str, Any], source: str = "config.json") -> Config:
    """The Config of a ``config_to_dict`` dict, validated like a file (no presets, no env)."""
    if not isinstance(d, dict):
        raise ConfigError([Problem(source, "", f"must be a table, got {describe(d)}")])
    data = dict(d)
    origin = data.pop("source", source)
    if not isinstance(origin, str):
        raise ConfigError([Problem(source, "source", f"must be a string, got {describe(origin)}")])
    return _resolve(data, {}, source, origin, Overrides(), {}, None)


def _resolve(
    data: dict[str, Any],
    lines: dict[str, int],
    source: str,
    origin: str,
    overrides: Overrides,
    env: Mapping[str, str],
    presets: Path | None,
) -> Config:
    problems: list[Problem] = []
    origins: dict[str, tuple[str, int | None]] = {}
    dec = Decoder(source, problems, lines, origins)
    cli = Decoder(CLI_SOURCE, problems, None, origins)

    _check_root(dec, data)
    file_type, project_type = _project_types(data, overrides)
    preset = ProjectSpec()
    if presets is not None and project_type in PROJECT_TYPES:
        preset = load_preset(presets, project_type, problems)

    generic = {k: v for k, v in data.items() if k in _ROOT_KEYS and k not in _SPECIAL}
    cfg = dec.build(Config, generic, "", Config(), skip=("source", *_SPECIAL))
    cfg = dataclasses.replace(
        cfg,
        project=_project(dec, data.get("project"), preset, file_type == project_type),
        recovery=build_recovery(dec, data.get("recovery", {}), cfg.checkpoint),
    )

    interval_given = False
    if INTERVAL_ENV in env:
        cfg = _apply_interval_env(cfg, env[INTERVAL_ENV], problems, origins)
        interval_given = True
    cfg = cli.build(Config, _override_table(overrides, project_type), "", cfg)
    interval_given = interval_given or overrides.checkpoint_interval_minutes is not None

    if not cfg.phases:
        cfg = dataclasses.replace(cfg, phases=default_phases(cfg.agent.roles))

    def fallback(path: str) -> tuple[str, int | None]:
        up = path
        while up and up not in origins:
            up = parent_key(up)
        where = origins[up][0] if up else source
        return where, line_of(lines, path) if where == source else None

    cross_check(cfg, reporter(problems, origins, fallback))
    if problems:
        # the file's problems first, in line order; then presets, environment, command line
        problems.sort(key=lambda p: (p.source != source, p.line is None, p.line or 0))
        raise ConfigError(problems)
    cfg = _scale_phases(cfg)
    if interval_given:
        phases = tuple(dataclasses.replace(p, checkpoint_interval_minutes=None) for p in cfg.phases)
        cfg = dataclasses.replace(cfg, phases=phases)
    return dataclasses.replace(cfg, source=origin)


def _check_root(dec: Decoder, data: dict[str, Any]) -> None:
    for key in data:
        if key not in _ROOT_KEYS:
            dec.unknown("", key, _ROOT_KEYS)
    if "schema_version" in data:
        version = dec.convert(int, data["schema_version"], "schema_version")
        if version is not INVALID and version != SCHEMA_VERSION:
            dec.problem(
                "schema_version",
                f"unsupported schema version {version} (this supervisor reads {SCHEMA_VERSION})",
            )


def _project_types(data: dict[str, Any], overrides: Overrides) -> tuple[str, str]:
    """(the project type the file was written for, the effective project type)."""
    session = data.get("session")
    file_type = SessionSpec().project_type
    if isinstance(session, dict) and isinstance(session.get("project_type"), str):
        file_type = session["project_type"]
    if overrides.project_type is None:
        return file_type, file_type
    return file_type, overrides.project_type  # checked with the other overrides


def _project(dec: Decoder, raw: Any, preset: ProjectSpec, file_wins: bool) -> ProjectSpec:
    """The file's ``[project]`` over the preset, if the file was written for this project.

    Otherwise the file's table is still checked, but the preset is used as it is.
    """
    if raw is None:
        return preset
    spec = dec.build(ProjectSpec, raw, "project", preset if file_wins else ProjectSpec())
    return spec if file_wins and spec is not INVALID else preset


def _apply_interval_env(
    cfg: Config, text: str, problems: list[Problem], origins: dict[str, tuple[str, int | None]]
) -> Config:
    dec = Decoder(INTERVAL_ENV, problems, None, origins)
    key = "checkpoint.interval_minutes"
    try:
        minutes = float(text)
    except ValueError:
        dec.problem(key, f"must be a number of minutes, got {text!r}")
        return cfg
    if not math.isfinite(minutes):
        dec.problem(key, f"must be a finite number of minutes, got {text!r}")
        return cfg
    new: Config = dec.build(Config, {"checkpoint": {"interval_minutes": minutes}}, "", cfg)
    return new


def _override_table(o: Overrides, project_type: str) -> dict[str, Any]:
    """The command-line values as a config table (only those given)."""
    session = {
        "project_type": project_type if o.project_type is not None else None,
        "duration_hours": o.hours,
        "agent_count": o.agents,
        "id": o.session_id,
        "time_scale": o.time_scale,
        "test_runs_dir": o.test_runs_dir,
        "seed": o.seed,
    }
    table: dict[str, Any] = {"session": {k: v for k, v in session.items() if v is not None}}
    if o.agents is not None:
        table["agent"] = {"concurrent_agents": o.agents}
    if o.checkpoint_interval_minutes is not None:
        table["checkpoint"] = {"interval_minutes": o.checkpoint_interval_minutes}
    return table


def _scale_phases(cfg: Config) -> Config:
    """Stretch every phase (and its scheduled faults) so the plan lasts duration_hours."""
    target = cfg.session.duration_hours * 60.0
    total = sum(p.duration_minutes for p in cfg.phases)
    if math.isclose(total, target, rel_tol=1e-9):
        return cfg
    factor = target / total
    phases: tuple[PhaseSpec, ...] = tuple(
        dataclasses.replace(p, duration_minutes=p.duration_minutes * factor) for p in cfg.phases
    )
    faults: tuple[ScheduledFaultSpec, ...] = tuple(
        dataclasses.replace(f, at_minutes=f.at_minutes * factor)
        for f in cfg.simulation.faults.scheduled
    )
    simulation = dataclasses.replace(
        cfg.simulation, faults=dataclasses.replace(cfg.simulation.faults, scheduled=faults)
    )
    return dataclasses.replace(cfg, phases=phases, simulation=simulation)
