"""Command templates, agent environment, launch prefix and exit descriptions (pure)."""

from __future__ import annotations

import os
import shutil
import signal
import sys

import pytest

from supervisor.agents.command import (
    PDEATHSIG_SHIM,
    PLACEHOLDERS,
    agent_env,
    describe_exit,
    env_name,
    launch_prefix,
    render_command,
    template_problems,
)

VALUES = {
    "session_id": "s1", "agent_id": "agent-2", "role": "Coder", "phase": "development",
    "model": "primary-model", "project_dir": "/runs/s1/project",
    "prompt_file": "/runs/s1/project_prompt.txt", "resume_state": "",
}


@pytest.mark.parametrize("template, expected", [
    (["selfware", "run", "--role", "{role}", "--prompt-file", "{prompt_file}"],
     ["selfware", "run", "--role", "Coder", "--prompt-file", "/runs/s1/project_prompt.txt"]),
    (["x", "--id={session_id}/{agent_id}"], ["x", "--id=s1/agent-2"]),
    (["x", "{phase}{model}"], ["x", "developmentprimary-model"]),
    (["x", "--json={{\"a\": 1}}"], ["x", '--json={"a": 1}']),
    (["x", "{{role}}"], ["x", "{role}"]),
    (["x", "--state", "{resume_state}"], ["x", "--state", ""]),
    (["x", "{project_dir}"], ["x", "/runs/s1/project"]),
    (["plain"], ["plain"]),
])
def test_render_command_fills_placeholders(template, expected):
    """Placeholders are replaced, {{ and }} become braces, other text is kept."""
    assert render_command(template, VALUES) == expected


@pytest.mark.parametrize("template, fragment", [
    (["x", "{rol}"], "command[1] '{rol}': unknown placeholder {rol}"),
    (["{agent}", "ok"], "command[0] '{agent}': unknown placeholder {agent}"),
    (["x", "{role"], "command[1] '{role'"),
    (["x", "role}"], "command[1] 'role}'"),
    (["x", "{role!r}"], "placeholder {role} takes no format spec"),
    (["x", "{model:>10}"], "placeholder {model} takes no format spec"),
    (["x", "{}"], "unknown placeholder {}"),
])
def test_render_command_rejects_bad_templates(template, fragment):
    """A bad template is a ValueError naming the argument and the placeholder."""
    with pytest.raises(ValueError) as err:
        render_command(template, VALUES)
    assert fragment in str(err.value)


def test_render_command_needs_a_value_for_each_used_placeholder():
    """A known placeholder without a value is an error, not an empty argument."""
    values = {k: v for k, v in VALUES.items() if k != "model"}
    with pytest.raises(ValueError, match=r"no value for placeholder \{model\}"):
        render_command(["x", "--model", "{model}"], values)
    assert render_command(["x", "{role}"], values) == ["x", "Coder"]


def test_template_problems_lists_every_problem():
    """template_problems reports each bad argument (for config validation) and names the
    known placeholders."""
    problems = template_problems(["{a}", "{role}", "{b}"])
    assert len(problems) == 2
    assert problems[0].startswith("command[0]") and problems[1].startswith("command[2]")
    assert all("{" + p + "}" in problems[0] for p in PLACEHOLDERS)
    assert template_problems(["x", "{role}", "{{b}}"]) == []


def test_empty_template_is_the_simulated_agent():
    """No command: the simulated agent under the supervisor's own interpreter."""
    assert render_command([], VALUES) == [sys.executable, "-m", "supervisor.agents.sim"]
    assert render_command((), {}) == [sys.executable, "-m", "supervisor.agents.sim"]


@pytest.mark.parametrize("name, expected", [
    ("agent_id", "MEGATEST_AGENT_ID"),
    ("time_scale", "MEGATEST_TIME_SCALE"),
    ("project-dir", "MEGATEST_PROJECT_DIR"),
    ("Phase", "MEGATEST_PHASE"),
])
def test_env_name(name, expected):
    """Value names become upper-case MEGATEST_ variables."""
    assert env_name(name) == expected


def test_agent_env_sets_every_value_and_extra_env():
    """Every value becomes MEGATEST_<NAME>; extra env is added; base env is kept, not changed."""
    base = {"PATH": "/usr/bin", "HOME": "/root", "MEGATEST_ROLE": "stale"}
    env = agent_env({**VALUES, "time_scale": "720"}, {"API_KEY": "k", "PATH": "/opt/bin"}, base)
    assert env["MEGATEST_AGENT_ID"] == "agent-2" and env["MEGATEST_TIME_SCALE"] == "720"
    assert env["MEGATEST_RESUME_STATE"] == "" and env["MEGATEST_ROLE"] == "Coder"
    assert env["API_KEY"] == "k" and env["PATH"] == "/opt/bin" and env["HOME"] == "/root"
    assert base["MEGATEST_ROLE"] == "stale"
    assert len(env) == 2 + 1 + len(VALUES) + 1  # PATH HOME, API_KEY, values, TIME_SCALE


def test_agent_env_extra_as_pairs_and_supervisor_values_win():
    """Extra env may be the config's (name, value) pairs; it cannot override MEGATEST_ values."""
    env = agent_env({"agent_id": "a1"}, (("X", "1"), ("MEGATEST_AGENT_ID", "evil")), {})
    assert env == {"X": "1", "MEGATEST_AGENT_ID": "a1"}


def test_agent_env_defaults_to_our_environment():
    """Without a base env the supervisor's own environment is inherited."""
    env = agent_env({"agent_id": "a1"})
    assert env["MEGATEST_AGENT_ID"] == "a1"
    assert env.get("PATH") == os.environ.get("PATH")
    assert "MEGATEST_AGENT_ID" not in os.environ


@pytest.mark.parametrize("rc, text", [
    (None, "running"),
    (0, "exit 0"),
    (3, "exit 3"),
    (-signal.SIGKILL, "killed by SIGKILL"),
    (-signal.SIGTERM, "terminated by SIGTERM"),
    (-signal.SIGINT, "terminated by SIGINT"),
    (-signal.SIGSEGV, "killed by SIGSEGV"),
    (-200, "killed by signal 200"),
])
def test_describe_exit(rc, text):
    """Return codes read as people say them."""
    assert describe_exit(rc) == text


def test_launch_prefix_methods():
    """none: nothing; shim: our interpreter running the prctl shim with our pid; auto:
    setpriv when installed."""
    assert launch_prefix("none") == []
    assert launch_prefix("shim", supervisor_pid=42) == [
        sys.executable, "-I", "-S", "-c", PDEATHSIG_SHIM, "42"]
    setpriv = shutil.which("setpriv")
    if setpriv:
        assert launch_prefix("auto") == [setpriv, "--pdeathsig", "KILL", "--"]
    else:
        assert launch_prefix("auto")[-2:] == [PDEATHSIG_SHIM, str(os.getpid())]


def test_shim_compiles():
    """The exec shim is valid Python."""
    compile(PDEATHSIG_SHIM, "<shim>", "exec")
