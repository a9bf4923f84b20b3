"""Loading configs: defaults, the shipped files, HOURS scaling, presets, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.config import Overrides, configs_dir, default_config_path, load_config
from supervisor.config.presets import DEFAULT_RECOVERY, default_phases
from supervisor.config.schema import FAILURE_TYPES, PROJECT_TYPES, Config
from supervisor.errors import ConfigError

FIXTURE = Path("/work/shared/fixtures/selfware_mega_test_config.toml")
DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "mega_test_config.toml"


def write(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def phase_plan(cfg: Config) -> list[tuple[str, float]]:
    return [(p.name, p.duration_minutes) for p in cfg.phases]


def test_default_path_is_the_shipped_config() -> None:
    """default_config_path() names configs/mega_test_config.toml unless MEGATEST_CONFIG is set."""
    assert default_config_path({}) == DEFAULT
    assert default_config_path({"MEGATEST_CONFIG": "/x/y.toml"}) == Path("/x/y.toml")
    assert configs_dir({"MEGATEST_CONFIGS_DIR": "/p"}) == Path("/p")
    assert (configs_dir({}) / "projects" / "task_queue.toml").is_file()


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(6, [60, 120, 120, 60]), (1, [10, 20, 20, 10]), (12, [120, 240, 240, 120])],
)
def test_default_config_phases_scale_to_hours(hours: float, expected: list[float]) -> None:
    """The default config has the four phases in order, scaled to the requested hours."""
    cfg = load_config(None, Overrides(hours=hours), env={})
    names = ["bootstrap", "development", "refinement", "finalization"]
    assert phase_plan(cfg) == list(zip(names, [float(m) for m in expected], strict=True))
    assert cfg.session.duration_hours == hours
    assert [p.checkpoint_interval_minutes for p in cfg.phases] == [15, 20, 20, 10]
    assert cfg.source == str(DEFAULT)


def test_default_config_matches_builtin_plan() -> None:
    """The phases spelled out in the default config are the built-in default plan."""
    cfg = load_config(None, env={})
    assert cfg.phases == default_phases(cfg.agent.roles)
    assert cfg.phases[0].roles == ("Architect", "DevOps", "Coder")
    assert cfg.project.name == "RedQueue" and cfg.project.target.lines_of_code == 5000
    assert "Redis-compatible" in cfg.project.prompt
    assert cfg.control.http_port == 8080 and cfg.control.port_fallback is True
    assert cfg.simulation.faults.rates == ()


def test_fixture_loads_with_seed_aliases() -> None:
    """The seed's real config loads; its rule actions map onto the schema's actions."""
    cfg = load_config(FIXTURE, env={})
    assert cfg.metadata.name == "Mega Project Test"
    assert phase_plan(cfg) == [
        ("bootstrap", 60.0),
        ("development", 120.0),
        ("refinement", 120.0),
        ("finalization", 60.0),
    ]
    actions = [r.action for r in cfg.error_handling.rules]
    assert actions == [
        "retry",
        "throttle_retry",
        "modify_prompt",
        "pause_alert",
        "pause_alert",
        "compress_context",
    ]
    assert cfg.source == str(FIXTURE)


def test_recovery_table_defaults_follow_checkpoint_keys(tmp_path: Path) -> None:
    """Every failure type gets a rule; backoff and attempts default from [checkpoint]."""
    path = write(
        tmp_path,
        """
[checkpoint]
max_recovery_attempts = 7
backoff_strategy = "linear"
backoff_initial_seconds = 2
backoff_max_seconds = 20
[recovery.llm_error]
action = "retry"
jitter = 0.5
""",
    )
    cfg = load_config(path, env={})
    assert [r.failure for r in cfg.recovery.rules] == list(FAILURE_TYPES)
    for rule in cfg.recovery.rules:
        severity, action = DEFAULT_RECOVERY[rule.failure]
        assert rule.severity == severity
        if rule.failure != "llm_error":
            assert rule.action == action
        assert rule.max_attempts == (3 if rule.failure == "network_timeout" else 7)
        assert (rule.backoff.strategy, rule.backoff.initial_seconds) == ("linear", 2.0)
        assert rule.backoff.max_seconds == 20.0
    llm = cfg.recovery.rule("llm_error")
    assert llm is not None and llm.action == "retry" and llm.backoff.jitter == 0.5


PHASE_SETS = {
    "two": ([("plan", 30), ("build", 90)], 2, [30.0, 90.0]),
    "five": ([("a", 10), ("b", 20), ("c", 30), ("d", 20), ("e", 20)], 1, [6, 12, 18, 12, 12]),
    "custom-names": ([("warm-up", 45), ("crunch_2", 15)], 2, [90.0, 30.0]),
}


@pytest.mark.parametrize("case", PHASE_SETS)
def test_hours_scaling_keeps_any_phase_set_in_order(tmp_path: Path, case: str) -> None:
    """Any number of phases with any names keep their order and their proportions."""
    phases, hours, expected = PHASE_SETS[case]
    text = f"[session]\nduration_hours = {hours}\n"
    for name, minutes in phases:
        text += f'[[phases]]\nname = "{name}"\nduration_minutes = {minutes}\n'
    cfg = load_config(write(tmp_path, text), env={})
    assert [p.name for p in cfg.phases] == [n for n, _ in phases]
    assert [p.duration_minutes for p in cfg.phases] == pytest.approx(expected)
    assert sum(p.duration_minutes for p in cfg.phases) == pytest.approx(hours * 60)


def test_no_phases_gives_default_plan_with_declared_roles(tmp_path: Path) -> None:
    """Without [[phases]] the default plan runs, its role subsets cut to declared roles."""
    path = write(tmp_path, '[session]\nduration_hours = 3\n[agent]\nroles = ["Coder", "Tester"]\n')
    cfg = load_config(path, env={})
    assert phase_plan(cfg) == [
        ("bootstrap", 30.0),
        ("development", 60.0),
        ("refinement", 60.0),
        ("finalization", 30.0),
    ]
    assert cfg.phases[0].roles == ("Coder",)


def test_scheduled_faults_scale_with_their_phase(tmp_path: Path) -> None:
    """A scheduled fault keeps its place within its phase when the hours change."""
    path = write(
        tmp_path,
        """
[session]
duration_hours = 1
[[phases]]
name = "only"
duration_minutes = 120
[[simulation.faults.scheduled]]
failure = "agent_crash"
phase = "only"
at_minutes = 30
""",
    )
    cfg = load_config(path, env={})
    assert cfg.phases[0].duration_minutes == 60.0
    assert cfg.simulation.faults.scheduled[0].at_minutes == 15.0


@pytest.mark.parametrize(
    ("project", "name", "loc"),
    [
        ("task_queue", "RedQueue", 5000),
        ("database", "MiniDB", 8000),
        ("microservices", "ServiceMesh", 6000),
    ],
)
def test_presets_by_project_type(project: str, name: str, loc: int) -> None:
    """Each project type takes its preset's name, LOC target and prompt."""
    cfg = load_config(None, Overrides(project_type=project), env={})
    assert cfg.session.project_type == project
    assert (cfg.project.name, cfg.project.target.lines_of_code) == (name, loc)
    assert cfg.project.prompt.strip() and name in cfg.project.prompt
    assert project in PROJECT_TYPES


PRECEDENCE_FILE = """
[session]
project_type = "database"
[project]
name = "MyDB"
[project.target]
test_coverage = 0.5
"""


@pytest.mark.parametrize(
    ("cli_type", "name", "loc", "coverage"),
    [
        (None, "MyDB", 8000, 0.5),  # the file's project: its keys win over the preset
        ("database", "MyDB", 8000, 0.5),  # same project picked on the command line
        ("microservices", "ServiceMesh", 6000, 0.8),  # another project: its preset wins
    ],
)
def test_file_project_keys_win_only_for_its_own_project(
    tmp_path: Path, cli_type: str | None, name: str, loc: int, coverage: float
) -> None:
    """The file's [project.*] override the preset only when the file names that project."""
    cfg = load_config(write(tmp_path, PRECEDENCE_FILE), Overrides(project_type=cli_type), env={})
    assert cfg.project.name == name
    assert cfg.project.target.lines_of_code == loc
    assert cfg.project.target.test_coverage == coverage


def test_custom_presets_dir(tmp_path: Path) -> None:
    """MEGATEST_CONFIGS_DIR points the loader at other presets."""
    (tmp_path / "projects").mkdir()
    write(tmp_path / "projects", '[project]\nname = "Tiny"\n', "task_queue.toml")
    cfg = load_config(write(tmp_path, ""), env={"MEGATEST_CONFIGS_DIR": str(tmp_path)})
    assert cfg.project.name == "Tiny"


def test_checkpoint_interval_env_replaces_phase_intervals() -> None:
    """CHECKPOINT_INTERVAL (minutes) replaces the default and every per-phase interval."""
    cfg = load_config(None, env={"CHECKPOINT_INTERVAL": "5"})
    assert cfg.checkpoint.interval_minutes == 5.0
    assert all(p.checkpoint_interval_minutes is None for p in cfg.phases)


def test_command_line_beats_env_and_file() -> None:
    """Overrides win over CHECKPOINT_INTERVAL and the file; agents sets both agent counts."""
    overrides = Overrides(
        checkpoint_interval_minutes=3,
        agents=2,
        session_id="run-1",
        time_scale=720,
        test_runs_dir="/tmp/runs",
        seed=42,
    )
    cfg = load_config(None, overrides, env={"CHECKPOINT_INTERVAL": "5"})
    assert cfg.checkpoint.interval_minutes == 3.0
    assert all(p.checkpoint_interval_minutes is None for p in cfg.phases)
    assert (cfg.session.agent_count, cfg.agent.concurrent_agents) == (2, 2)
    assert (cfg.session.id, cfg.session.time_scale, cfg.session.seed) == ("run-1", 720.0, 42)
    assert cfg.session.test_runs_dir == "/tmp/runs"


def test_env_interval_rejects_garbage() -> None:
    """A CHECKPOINT_INTERVAL that is not a positive number is a problem sourced to it."""
    for value, needle in [("abc", "number of minutes"), ("-2", "must be > 0"), ("nan", "finite")]:
        with pytest.raises(ConfigError) as info:
            load_config(None, env={"CHECKPOINT_INTERVAL": value})
        assert str(info.value).startswith("invalid config: CHECKPOINT_INTERVAL:")
        assert needle in str(info.value)


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    """An empty file gives the built-in defaults, the preset and the default plan."""
    cfg = load_config(write(tmp_path, ""), env={})
    assert cfg.session.duration_hours == 6.0 and cfg.agent.command == ()
    assert len(cfg.phases) == 4 and len(cfg.recovery.rules) == len(FAILURE_TYPES)
    assert cfg.project.name == "RedQueue"
