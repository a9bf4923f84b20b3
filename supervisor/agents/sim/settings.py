"""The simulated agent's inputs: ``MEGATEST_*`` environment variables and ``agent.toml``.

Pure parsing, standard library only. Missing variables get defaults so the simulator
also runs by hand; a malformed value raises ``SimInputError`` naming the variable.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROJECT_TYPES = ("task_queue", "database", "microservices")
# Failure types the simulator can inject (DESIGN.md section 7).
FAULT_TYPES = (
    "network_timeout",
    "rate_limit",
    "llm_error",
    "parse_failure",
    "test_failure",
    "memory_pressure",
    "disk_full",
    "consensus_deadlock",
    "agent_hang",
    "agent_crash",
    "data_corruption",
)


class SimInputError(Exception):
    """An environment variable or the agent config has a value the simulator cannot use."""


@dataclass(frozen=True)
class ScheduledFault:
    failure: str
    phase: str  # phase name; "" or "*": any phase
    at_minutes: float  # session minutes into the phase
    agent: str = ""  # agent id or role; "": the agent with index 0


@dataclass(frozen=True)
class SimSettings:
    session_id: str = "manual"
    agent_id: str = "agent-0"
    role: str = "Coder"
    phase: str = "development"
    phase_index: int = 0
    phase_count: int = 1
    model: str = "sim-model"
    project_dir: str = "sim-project"
    project_type: str = "task_queue"
    prompt_file: str = ""
    resume_state: str = ""
    time_scale: float = 60.0
    seed: int = 0
    phase_seconds: float = 3600.0  # session seconds left in the phase at launch
    phase_elapsed: float | None = None  # optional: session seconds already spent in it
    agent_index: int = 0
    agent_count: int = 1
    tokens_per_hour: int = 28_000
    tool_calls_per_hour: int = 240
    fault_rates: tuple[tuple[str, float], ...] = ()
    scheduled_faults: tuple[ScheduledFault, ...] = ()
    max_context: int = 128_000
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def rng_key(self) -> str:
        """The seed string of every random stream of this agent in this phase."""
        return f"{self.seed}:{self.agent_id}:{self.phase}"


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(f"MEGATEST_{name}")
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> Any:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise SimInputError(f"MEGATEST_{name}={raw!r}: expected {what}") from None
    return value


def settings_from_env(env: Mapping[str, str] | None = None) -> SimSettings:
    """Build the settings from ``MEGATEST_*`` variables (``os.environ`` by default)."""
    env = os.environ if env is None else env
    d = SimSettings()
    agent_index = _number(env, "AGENT_INDEX", d.agent_index, int)
    agent_id = _get(env, "AGENT_ID") or f"agent-{agent_index}"
    time_scale = _number(env, "TIME_SCALE", d.time_scale)
    if time_scale <= 0:
        raise SimInputError(f"MEGATEST_TIME_SCALE={time_scale}: must be > 0")
    phase_count = max(1, _number(env, "PHASE_COUNT", d.phase_count, int))
    phase_index = min(max(0, _number(env, "PHASE_INDEX", d.phase_index, int)), phase_count - 1)
    agent_count = max(1, _number(env, "AGENT_COUNT", d.agent_count, int))
    elapsed_raw = _get(env, "PHASE_ELAPSED")
    project_type = _get(env, "PROJECT_TYPE") or d.project_type
    if project_type not in PROJECT_TYPES:
        raise SimInputError(
            f"MEGATEST_PROJECT_TYPE={project_type!r}: expected one of {', '.join(PROJECT_TYPES)}"
        )
    base = SimSettings(
        session_id=_get(env, "SESSION_ID") or d.session_id,
        agent_id=agent_id,
        role=_get(env, "ROLE") or d.role,
        phase=_get(env, "PHASE") or d.phase,
        phase_index=phase_index,
        phase_count=phase_count,
        model=_get(env, "MODEL") or d.model,
        project_dir=_get(env, "PROJECT_DIR") or d.project_dir,
        project_type=project_type,
        prompt_file=_get(env, "PROMPT_FILE") or "",
        resume_state=_get(env, "RESUME_STATE") or "",
        time_scale=time_scale,
        seed=_number(env, "SEED", d.seed, int),
        phase_seconds=max(0.0, _number(env, "PHASE_SECONDS", d.phase_seconds)),
        phase_elapsed=None if elapsed_raw is None else max(0.0, _number(env, "PHASE_ELAPSED", 0.0)),
        agent_index=agent_index,
        agent_count=agent_count,
    )
    config_path = _get(env, "AGENT_CONFIG")
    if config_path is None:
        return base
    return apply_agent_config(base, load_toml(config_path))


def load_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SimInputError(f"MEGATEST_AGENT_CONFIG={path!r}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SimInputError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise SimInputError(f"{path}: cannot read: {exc.strerror}") from None


def _table(doc: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, Mapping):
        raise SimInputError(f"agent config: [{where}] must be a table")
    return value


def _positive_int(table: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SimInputError(f"agent config: {where}.{key} = {value!r}: expected a number >= 0")
    return int(value)


def apply_agent_config(base: SimSettings, doc: Mapping[str, Any]) -> SimSettings:
    """Overlay the ``[simulation]`` and ``[limits]`` tables of agent.toml on ``base``."""
    sim = _table(doc, "simulation", "simulation")
    limits = _table(doc, "limits", "limits")
    faults = _table(sim, "faults", "simulation.faults")
    warnings: list[str] = []

    rates_table = faults.get("rates", {})
    if not isinstance(rates_table, Mapping):
        raise SimInputError("agent config: simulation.faults.rates must be a table")
    rates: list[tuple[str, float]] = []
    for name, rate in rates_table.items():
        if name not in FAULT_TYPES:
            warnings.append(f"simulation.faults.rates.{name}: unknown failure type, ignored")
            continue
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
            raise SimInputError(
                f"agent config: simulation.faults.rates.{name} = {rate!r}: expected a number >= 0"
            )
        if rate > 0:
            rates.append((name, float(rate)))

    scheduled_raw = faults.get("scheduled", [])
    if not isinstance(scheduled_raw, list):
        raise SimInputError("agent config: simulation.faults.scheduled must be an array of tables")
    scheduled: list[ScheduledFault] = []
    for i, item in enumerate(scheduled_raw):
        where = f"simulation.faults.scheduled[{i}]"
        if not isinstance(item, Mapping):
            raise SimInputError(f"agent config: {where} must be a table")
        failure = str(item.get("failure", ""))
        if failure not in FAULT_TYPES:
            warnings.append(f"{where}.failure = {failure!r}: unknown failure type, ignored")
            continue
        at = item.get("at_minutes", 0.0)
        if isinstance(at, bool) or not isinstance(at, int | float) or at < 0:
            raise SimInputError(f"agent config: {where}.at_minutes = {at!r}: expected a number >= 0")
        scheduled.append(
            ScheduledFault(failure, str(item.get("phase", "")), float(at), str(item.get("agent", "")))
        )

    return SimSettings(
        **{
            **base.__dict__,
            "tokens_per_hour": _positive_int(
                sim, "tokens_per_agent_hour", base.tokens_per_hour, "simulation"
            ),
            "tool_calls_per_hour": _positive_int(
                sim, "tool_calls_per_agent_hour", base.tool_calls_per_hour, "simulation"
            ),
            "max_context": _positive_int(limits, "max_context_size", base.max_context, "limits")
            or base.max_context,
            "fault_rates": tuple(rates),
            "scheduled_faults": tuple(scheduled),
            "warnings": base.warnings + tuple(warnings),
        }
    )
