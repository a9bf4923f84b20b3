"""Bad configs: every problem is reported at once, naming file, line and key path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor.config import Overrides, load_config
from supervisor.errors import ConfigError, Problem

# (case, toml text, key path, line, words the message must contain)
CASES = [
    (
        "unknown key with suggestion",
        "[checkpoint]\ninterval_minute = 5\n",
        "checkpoint.interval_minute",
        2,
        "unknown key (did you mean 'interval_minutes'?)",
    ),
    ("unknown section", "\n[sesion]\nid = 'x'\n", "sesion", 2, "did you mean 'session'?"),
    (
        "wrong type",
        "[checkpoint]\ntool_call_threshold = 'abc'\n",
        "checkpoint.tool_call_threshold",
        2,
        "must be an integer, got string 'abc'",
    ),
    (
        "bool is not an int",
        "[session]\nagent_count = true\n",
        "session.agent_count",
        2,
        "must be an integer, got boolean True",
    ),
    (
        "out of range",
        "[session]\nduration_hours = -1\n",
        "session.duration_hours",
        2,
        "must be > 0",
    ),
    ("not finite", "[session]\ntime_scale = inf\n", "session.time_scale", 2, "finite number"),
    ("fraction", "[consensus]\nthreshold = 1.5\n", "consensus.threshold", 2, "between 0 and 1"),
    ("port", "[control]\nhttp_port = 70000\n", "control.http_port", 2, "between 0 and 65535"),
    (
        "bad enum",
        "[checkpoint]\nbackoff_strategy = 'fast'\n",
        "checkpoint.backoff_strategy",
        2,
        "must be one of: fixed, linear, exponential",
    ),
    (
        "bad regex",
        "[[error_handling.rules]]\npattern = '(x'\nseverity = 'transient'\naction = 'retry'\n",
        "error_handling.rules[0].pattern",
        2,
        "not a valid regular expression",
    ),
    (
        "unknown action",
        "[[error_handling.rules]]\npattern = 'x'\nseverity = 'fatal'\naction = 'panic'\n",
        "error_handling.rules[0].action",
        4,
        "must be one of: retry,",
    ),
    (
        "duplicate phase",
        "[[phases]]\nname = 'a'\nduration_minutes = 1\n[[phases]]\nname = 'a'\nduration_minutes = 1\n",
        "phases[1].name",
        5,
        "duplicate phase name 'a' (also phases[0])",
    ),
    (
        "bad phase name",
        "[[phases]]\nname = 'two words'\nduration_minutes = 1\n",
        "phases[0].name",
        2,
        "letters, digits",
    ),
    (
        "missing phase key",
        "[[phases]]\nname = 'a'\n",
        "phases[0]",
        1,
        "missing required key 'duration_minutes'",
    ),
    (
        "role not declared",
        "[agent]\nroles = ['Coder']\n[[phases]]\nname = 'a'\nduration_minutes = 1\nroles = ['Coderr']\n",
        "phases[0].roles[0]",
        6,
        "role 'Coderr' is not declared in [agent] roles (did you mean 'Coder'?)",
    ),
    (
        "agent_count 9",
        "[session]\nagent_count = 9\n",
        "session.agent_count",
        2,
        "must be <= limits.max_parallel_agents (8), got 9",
    ),
    (
        "command as string",
        "[agent]\ncommand = 'selfware run'\n",
        "agent.command",
        2,
        "must be a list of strings",
    ),
    (
        "unknown placeholder",
        "[agent]\ncommand = [\n  'x',\n  '--id={agent}',\n]\n",
        "agent.command[1]",
        2,
        "unknown placeholder '{agent}'",
    ),
    (
        "recovery failure type",
        "[recovery.network_timout]\nseverity = 'transient'\n",
        "recovery.network_timout",
        1,
        "did you mean 'network_timeout'?",
    ),
    (
        "recovery backoff",
        "[recovery.rate_limit]\nbackoff = 'slow'\n",
        "recovery.rate_limit.backoff",
        2,
        "must be one of: fixed, linear, exponential",
    ),
    (
        "fault rate key",
        "[simulation.faults]\nrates = { network_timeout = 0.5, bogus = 1 }\n",
        "simulation.faults.rates.bogus",
        2,
        "unknown failure type",
    ),
    (
        "scheduled fault phase",
        "[[simulation.faults.scheduled]]\nfailure = 'agent_crash'\nphase = 'dev'\nat_minutes = 1\n",
        "simulation.faults.scheduled[0].phase",
        3,
        "no phase named 'dev'",
    ),
    (
        "scheduled fault outside its phase",
        "[[simulation.faults.scheduled]]\nfailure = 'agent_crash'\nphase = 'bootstrap'\n"
        "at_minutes = 60\n",
        "simulation.faults.scheduled[0].at_minutes",
        4,
        "within the phase",
    ),
    ("session id", "[session]\nid = 'a b'\n", "session.id", 2, "must be 'auto' or"),
    (
        "email port",
        "[notifications.email]\nsmtp_port = -1\n",
        "notifications.email.smtp_port",
        2,
        "between 0 and 65535",
    ),
    (
        "schema version",
        "schema_version = 2\n",
        "schema_version",
        1,
        "unsupported schema version 2",
    ),
]


@pytest.mark.parametrize(("case", "text", "key", "line", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_mistake(
    tmp_path: Path, case: str, text: str, key: str, line: int, words: str
) -> None:
    """One mistake gives one ConfigError naming file:line, key path and what is wrong."""
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == [Problem("bad.toml", key, info.value.problems[0].message, line)]
    assert words in info.value.problems[0].message
    assert str(info.value).startswith(f"invalid config: bad.toml:{line}: {key}: ")


def test_all_problems_reported_at_once_in_line_order(tmp_path: Path) -> None:
    """Several mistakes in one file are all listed, in file order, with their lines."""
    path = tmp_path / "many.toml"
    path.write_text(
        "[session]\nduration_hours = 0\n[checkpoint]\nbackoff_strategy = 'x'\n"
        "[agent]\nbogus = 1\n[limits]\nbudget_alert_fraction = 2\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    got = [(p.line, p.key) for p in info.value.problems]
    assert got == [
        (2, "session.duration_hours"),
        (4, "checkpoint.backoff_strategy"),
        (6, "agent.bogus"),
        (8, "limits.budget_alert_fraction"),
    ]
    assert str(info.value).splitlines()[0] == "invalid config: 4 problems"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[session]\nid = 'x'\nagent_count = \n", 3, "Invalid value"),
        ("[session\n", 1, "Expected ']'"),
        ("a = 1\na = 2\n", 2, "Cannot overwrite a value"),
    ],
)
def test_syntax_error_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    """A TOML syntax error is one problem carrying the line tomllib reported."""
    path = tmp_path / "syntax.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    (problem,) = info.value.problems
    assert (problem.source, problem.line) == ("syntax.toml", line)
    assert "TOML syntax error" in problem.message and words in problem.message


def test_unreadable_inputs_are_problems_not_tracebacks(tmp_path: Path) -> None:
    """Missing file, directory, non-UTF-8 bytes: each is a ConfigError naming the path."""
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"a = '\xff\xfe'\n")
    cases = [(tmp_path / "missing.toml", "no such file"), (tmp_path, "is a directory"),
             (binary, "not UTF-8")]  # fmt: skip
    for path, words in cases:
        with pytest.raises(ConfigError) as info:
            load_config(path, env={})
        assert str(path) in str(info.value) and words in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_is_a_problem(tmp_path: Path) -> None:
    """A file that cannot be read is a ConfigError, not an OSError."""
    path = tmp_path / "locked.toml"
    path.write_text("", encoding="utf-8")
    path.chmod(0)
    with pytest.raises(ConfigError, match="locked.toml"):
        load_config(path, env={})


def test_command_line_problems_are_sourced_to_it() -> None:
    """Bad overrides are reported as <command line> problems, all together."""
    overrides = Overrides(project_type="databse", hours=0, agents=9, session_id="-x", time_scale=0)
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides, env={})
    keys = {p.key for p in info.value.problems}
    assert keys == {
        "session.project_type",
        "session.duration_hours",
        "session.agent_count",
        "session.id",
        "session.time_scale",
    }
    assert all(p.source == "<command line>" and p.line is None for p in info.value.problems)
    assert "task_queue, database, microservices" in str(info.value)
    assert "did you mean 'database'?" in str(info.value)


def test_cross_key_problem_points_at_the_command_line() -> None:
    """agents beyond max_parallel_agents from the CLI is blamed on the CLI."""
    with pytest.raises(ConfigError) as info:
        load_config(None, Overrides(agents=9), env={})
    assert [str(p) for p in info.value.problems] == [
        "<command line>: session.agent_count: must be <= limits.max_parallel_agents (8), got 9"
    ]


def test_preset_problems_name_the_preset(tmp_path: Path) -> None:
    """A broken preset is reported under its own file name."""
    (tmp_path / "projects").mkdir()
    (tmp_path / "projects" / "database.toml").write_text(
        "[project]\nnmae = 'X'\n", encoding="utf-8"
    )
    cfg = tmp_path / "c.toml"
    cfg.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(
            cfg, Overrides(project_type="database"), {"MEGATEST_CONFIGS_DIR": str(tmp_path)}
        )
    assert [str(p) for p in info.value.problems] == [
        "database.toml:2: project.nmae: unknown key (did you mean 'name'?)"
    ]


def test_missing_explicit_path_names_it(tmp_path: Path) -> None:
    """load_config with a path that does not exist names that path."""
    with pytest.raises(ConfigError, match=r"cannot read config file .*nowhere\.toml: no such file"):
        load_config(tmp_path / "nowhere.toml", env={})
