"""The simulated agent's inputs: MEGATEST_* variables and agent.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.agents.sim.settings import (
    ScheduledFault,
    SimInputError,
    SimSettings,
    apply_agent_config,
    settings_from_env,
)


def test_defaults_without_environment() -> None:
    """With no variables at all the simulator still has a usable configuration."""
    s = settings_from_env({})
    assert s == SimSettings()
    assert s.rng_key == "0:agent-0:development"


def test_reads_every_variable(tmp_path: Path) -> None:
    """Each MEGATEST_* variable lands in its setting."""
    env = {
        "MEGATEST_SESSION_ID": "s1", "MEGATEST_AGENT_ID": "tester-2", "MEGATEST_ROLE": "Tester",
        "MEGATEST_PHASE": "refinement", "MEGATEST_PHASE_INDEX": "2", "MEGATEST_PHASE_COUNT": "4",
        "MEGATEST_MODEL": "m1", "MEGATEST_PROJECT_DIR": str(tmp_path),
        "MEGATEST_PROJECT_TYPE": "database", "MEGATEST_TIME_SCALE": "720", "MEGATEST_SEED": "9",
        "MEGATEST_PHASE_SECONDS": "7200.5", "MEGATEST_AGENT_INDEX": "3",
        "MEGATEST_AGENT_COUNT": "6", "MEGATEST_RESUME_STATE": "", "MEGATEST_PHASE_ELAPSED": "60",
    }
    s = settings_from_env(env)
    assert (s.agent_id, s.role, s.phase, s.phase_index, s.phase_count) == (
        "tester-2", "Tester", "refinement", 2, 4)
    assert (s.project_type, s.time_scale, s.seed, s.phase_seconds) == ("database", 720.0, 9, 7200.5)
    assert (s.agent_index, s.agent_count, s.model, s.phase_elapsed) == (3, 6, "m1", 60.0)
    assert s.resume_state == "" and s.rng_key == "9:tester-2:refinement"


@pytest.mark.parametrize("name, value, words", [
    ("MEGATEST_TIME_SCALE", "fast", "MEGATEST_TIME_SCALE='fast': expected a number"),
    ("MEGATEST_TIME_SCALE", "0", "must be > 0"),
    ("MEGATEST_SEED", "1.5", "MEGATEST_SEED='1.5': expected an integer"),
    ("MEGATEST_PROJECT_TYPE", "blog", "expected one of task_queue, database, microservices"),
])
def test_bad_variables_name_themselves(name: str, value: str, words: str) -> None:
    """A malformed variable raises SimInputError naming the variable and the problem."""
    with pytest.raises(SimInputError, match=words):
        settings_from_env({name: value})


def test_agent_config_rates_faults_and_limits(tmp_path: Path) -> None:
    """agent.toml's [simulation] and [limits] tables are applied; unknown faults are warned."""
    config = tmp_path / "agent.toml"
    config.write_text(
        "[simulation]\ntokens_per_agent_hour = 50000\ntool_calls_per_agent_hour = 300\n"
        "[simulation.faults]\nrates = { network_timeout = 0.5, cosmic_ray = 1.0, llm_error = 0 }\n"
        "[[simulation.faults.scheduled]]\nfailure = \"agent_crash\"\nphase = \"development\"\n"
        "at_minutes = 30\nagent = \"Coder\"\n"
        "[limits]\nmax_context_size = 64000\n[session]\nagent_count = 6\n"
    )
    s = settings_from_env({"MEGATEST_AGENT_CONFIG": str(config)})
    assert (s.tokens_per_hour, s.tool_calls_per_hour, s.max_context) == (50_000, 300, 64_000)
    assert s.fault_rates == (("network_timeout", 0.5),)
    assert s.scheduled_faults == (ScheduledFault("agent_crash", "development", 30.0, "Coder"),)
    assert any("cosmic_ray" in w for w in s.warnings)


@pytest.mark.parametrize("doc, words", [
    ({"simulation": {"tokens_per_agent_hour": -1}}, "simulation.tokens_per_agent_hour"),
    ({"simulation": {"faults": {"rates": {"rate_limit": "often"}}}}, "rates.rate_limit"),
    ({"simulation": {"faults": {"scheduled": [{"failure": "llm_error", "at_minutes": -3}]}}},
     r"scheduled\[0\].at_minutes"),
    ({"simulation": 3}, r"\[simulation\] must be a table"),
])
def test_bad_agent_config_values_are_named(doc: dict, words: str) -> None:
    """A wrong value in agent.toml raises SimInputError with its key path."""
    with pytest.raises(SimInputError, match=words):
        apply_agent_config(SimSettings(), doc)


def test_missing_or_broken_config_file(tmp_path: Path) -> None:
    """A missing or unparsable agent.toml is reported with its path."""
    with pytest.raises(SimInputError, match="no such file"):
        settings_from_env({"MEGATEST_AGENT_CONFIG": str(tmp_path / "nope.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("[simulation\n")
    with pytest.raises(SimInputError, match="invalid TOML"):
        settings_from_env({"MEGATEST_AGENT_CONFIG": str(broken)})
