"""The session config as frozen dataclasses (the *spec*; runtime objects live elsewhere).

Field defaults here are the built-in defaults: a config file only needs the keys it
changes. Durations are in session time. ``loader.py`` turns TOML into these, collecting
every problem into one ``ConfigError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_VERSION = 1

# Placeholders of the [agent] command template (DESIGN.md section 4).
PLACEHOLDERS: tuple[str, ...] = (
    "session_id", "agent_id", "role", "phase", "model", "project_dir", "prompt_file",
    "resume_state",
)

PROJECT_TYPES = ("task_queue", "database", "microservices")
BACKOFF_STRATEGIES = ("fixed", "linear", "exponential")
SEVERITIES = ("transient", "recoverable", "degraded", "critical", "fatal")
FAILURE_TYPES = (
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
    "unknown",
)
# Recovery actions (DESIGN.md section 7). The seed config's rule actions
# (retry_immediate, retry_with_backoff, ...) are accepted as aliases by the loader.
ACTIONS = (
    "retry",  # retry the failed step with backoff (tenacity)
    "throttle_retry",  # throttle the agent, then retry with backoff
    "switch_model",  # next model of [agent] models, retry
    "modify_prompt",  # retry with a modified prompt
    "log_continue",  # log, continue, flag in report
    "compress_context",  # ask the agent to compress its context
    "pause_alert",  # pause the session, alert, wait for `supervisor resume`
    "escalate",  # escalate to a human: paused until `supervisor resume`
    "restart_agent",  # restart the agent and reassign its task
    "restore_checkpoint",  # restore the last checkpoint, relaunch agents
    "stop",  # stop the session (final checkpoint and report)
)

# DESIGN.md section 7, the default recovery table: failure type -> (severity, action).
# Every row can be overridden in [recovery.<failure>].
DEFAULT_RECOVERY: dict[str, tuple[str, str]] = {
    "network_timeout": ("transient", "retry"),
    "rate_limit": ("recoverable", "throttle_retry"),
    "llm_error": ("recoverable", "switch_model"),
    "parse_failure": ("recoverable", "modify_prompt"),
    "test_failure": ("degraded", "log_continue"),
    "memory_pressure": ("recoverable", "compress_context"),
    "disk_full": ("critical", "pause_alert"),
    "consensus_deadlock": ("critical", "escalate"),
    "agent_hang": ("recoverable", "restart_agent"),
    "agent_crash": ("fatal", "restore_checkpoint"),
    "data_corruption": ("fatal", "stop"),
    "unknown": ("recoverable", "retry"),
}
assert tuple(DEFAULT_RECOVERY) == FAILURE_TYPES

# Action names of the seed config (and a few obvious spellings) -> ACTIONS.
ACTION_ALIASES: dict[str, str] = {
    "retry_immediate": "retry",
    "retry_with_backoff": "throttle_retry",
    "retry_with_modification": "modify_prompt",
    "pause_and_alert": "pause_alert",
    "compress_and_retry": "compress_context",
    "compress": "compress_context",
    "throttle": "throttle_retry",
    "throttle_and_retry": "throttle_retry",
    "switch_model_retry": "switch_model",
    "log_and_continue": "log_continue",
    "continue": "log_continue",
    "human_escalation": "escalate",
    "restart": "restart_agent",
    "restore": "restore_checkpoint",
}


@dataclass(frozen=True)
class MetadataSpec:
    name: str = "Mega Project Test"
    version: str = "1.0.0"
    description: str = ""


@dataclass(frozen=True)
class SessionSpec:
    id: str = "auto"  # "auto": mega-YYYYMMDD-HHMMSS-<8 hex>
    duration_hours: float = 6.0  # the phases' durations are scaled to this
    agent_count: int = 6
    project_type: str = "task_queue"
    time_scale: float = 1.0  # session seconds per wall second
    seed: int = 0
    test_runs_dir: str = "test_runs"


@dataclass(frozen=True)
class CheckpointSpec:
    enabled: bool = True
    interval_minutes: float = 10.0  # default time trigger; phases may override
    tool_call_threshold: int = 100
    token_threshold: int = 500_000
    auto_recovery: bool = True
    max_recovery_attempts: int = 5
    backoff_strategy: str = "exponential"
    backoff_initial_seconds: float = 30.0
    backoff_max_seconds: float = 300.0
    keep_last: int = 10  # retention: the last N, plus every phase-completion checkpoint
    excludes: tuple[str, ...] = (".git", ".venv", "node_modules", "__pycache__", ".cache")
    quiesce_timeout_secs: float = 5.0  # wall seconds to wait for agents at a safe point


@dataclass(frozen=True)
class AgentSpec:
    # Command template; empty means the simulated agent (python -m supervisor.agents.sim).
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # extra environment variables
    max_iterations: int = 10_000
    step_timeout_secs: float = 600.0
    concurrent_agents: int = 6
    roles: tuple[str, ...] = ("Architect", "Coder", "Tester", "Reviewer", "Security", "DevOps")
    models: tuple[str, ...] = ("primary-model", "fallback-model")
    min_trust_score: float = 0.3
    max_trust_score: float = 1.0
    dynamic_spawning: bool = False
    max_total_agents: int = 8
    stop_grace_secs: float = 5.0  # wall seconds between TERM and KILL


@dataclass(frozen=True)
class ConsensusSpec:
    enabled: bool = True
    min_votes: int = 3
    vote_timeout_secs: float = 300.0
    strategy: str = "weighted"  # unanimous | majority | weighted | priority
    threshold: float = 0.6


@dataclass(frozen=True)
class LimitsSpec:
    total_token_budget: int = 5_000_000
    budget_alert_fraction: float = 0.8
    tokens_per_agent_per_hour: int = 200_000
    tool_calls_per_agent_per_hour: int = 500
    max_context_size: int = 128_000
    disk_space_limit_gb: float = 2.0
    max_test_runtime_min: float = 30.0
    idle_timeout_minutes: float = 10.0
    max_parallel_agents: int = 8
    agent_memory_limit_mb: float = 2048.0


@dataclass(frozen=True)
class MonitoringSpec:
    enabled: bool = True
    health_check_interval: float = 30.0  # session seconds between health checks
    metrics_interval_secs: float = 30.0  # session seconds between metrics samples
    metrics_export_interval: float = 60.0
    dashboard_update_interval: float = 30.0
    log_level: str = "info"  # trace | debug | info | warn | error
    agent_activity_logging: bool = True
    export_metrics: bool = True
    metrics_format: str = "json"  # json | prometheus


@dataclass(frozen=True)
class ControlSpec:
    http_enabled: bool = True
    http_port: int = 8080  # 0: any free port
    port_fallback: bool = True  # port in use: take any free port instead of failing


@dataclass(frozen=True)
class ErrorRuleSpec:
    pattern: str  # regular expression, searched case-insensitively
    severity: str
    action: str
    # failure type the rule classifies as; empty: the rule's own severity/action decide
    failure: str = ""


@dataclass(frozen=True)
class ErrorHandlingSpec:
    max_consecutive_errors: int = 5
    classification: str = "auto"  # auto | manual
    rules: tuple[ErrorRuleSpec, ...] = ()


@dataclass(frozen=True)
class BackoffSpec:
    strategy: str = "exponential"
    initial_seconds: float = 30.0
    max_seconds: float = 300.0
    jitter: float = 0.1  # fraction of the wait, random +-


@dataclass(frozen=True)
class RecoveryRuleSpec:
    failure: str
    severity: str
    action: str
    max_attempts: int = 3
    backoff: BackoffSpec = field(default_factory=BackoffSpec)


@dataclass(frozen=True)
class RecoverySpec:
    # One rule per failure type; the loader fills the DESIGN.md table as default.
    rules: tuple[RecoveryRuleSpec, ...] = ()

    def rule(self, failure: str) -> RecoveryRuleSpec | None:
        for r in self.rules:
            if r.failure == failure:
                return r
        return None


@dataclass(frozen=True)
class ProjectTargetSpec:
    lines_of_code: int = 5000
    test_coverage: float = 0.80
    documentation_coverage: float = 0.90
    max_bugs_critical: int = 0
    max_bugs_high: int = 2
    max_bugs_medium: int = 5


@dataclass(frozen=True)
class ProjectPerformanceSpec:
    build_time_secs: float = 60.0
    test_execution_time_secs: float = 120.0
    memory_usage_mb: float = 512.0
    binary_size_mb: float = 50.0


@dataclass(frozen=True)
class ProjectSpec:
    name: str = "RedQueue"
    description: str = ""
    prompt: str = ""  # written to project_prompt.txt
    test_command: tuple[str, ...] = ()  # empty: python -m pytest in project/
    target: ProjectTargetSpec = field(default_factory=ProjectTargetSpec)
    performance: ProjectPerformanceSpec = field(default_factory=ProjectPerformanceSpec)


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    duration_minutes: float
    objectives: tuple[str, ...] = ()
    success_criteria: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # empty: every role
    checkpoint_interval_minutes: float | None = None  # overrides checkpoint.interval_minutes


@dataclass(frozen=True)
class EmailSpec:
    smtp_server: str = ""
    smtp_port: int = 587
    username: str = ""
    password: str = ""
    from_address: str = ""
    to_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotificationsSpec:
    enabled: bool = False
    webhook_url: str = ""
    events: tuple[str, ...] = ("phase_complete", "error", "complete")
    email: EmailSpec | None = None


@dataclass(frozen=True)
class ScheduledFaultSpec:
    failure: str  # a FAILURE_TYPES name the simulator can inject
    phase: str
    at_minutes: float  # session minutes into the phase
    agent: str = ""  # agent id or role; empty: the first agent of the phase


@dataclass(frozen=True)
class FaultsSpec:
    # Rates are expected faults per agent-hour of session time, by failure type.
    rates: tuple[tuple[str, float], ...] = ()
    scheduled: tuple[ScheduledFaultSpec, ...] = ()


@dataclass(frozen=True)
class SimulationSpec:
    tokens_per_agent_hour: int = 28_000
    tool_calls_per_agent_hour: int = 240
    faults: FaultsSpec = field(default_factory=FaultsSpec)


@dataclass(frozen=True)
class PricingSpec:
    prompt_per_million: float = 3.0  # USD per million prompt tokens
    completion_per_million: float = 15.0
    compute_per_hour: float = 0.31  # USD per wall hour of the machine


@dataclass(frozen=True)
class Config:
    metadata: MetadataSpec = field(default_factory=MetadataSpec)
    session: SessionSpec = field(default_factory=SessionSpec)
    checkpoint: CheckpointSpec = field(default_factory=CheckpointSpec)
    agent: AgentSpec = field(default_factory=AgentSpec)
    consensus: ConsensusSpec = field(default_factory=ConsensusSpec)
    limits: LimitsSpec = field(default_factory=LimitsSpec)
    monitoring: MonitoringSpec = field(default_factory=MonitoringSpec)
    control: ControlSpec = field(default_factory=ControlSpec)
    error_handling: ErrorHandlingSpec = field(default_factory=ErrorHandlingSpec)
    recovery: RecoverySpec = field(default_factory=RecoverySpec)
    project: ProjectSpec = field(default_factory=ProjectSpec)
    phases: tuple[PhaseSpec, ...] = ()
    notifications: NotificationsSpec = field(default_factory=NotificationsSpec)
    simulation: SimulationSpec = field(default_factory=SimulationSpec)
    pricing: PricingSpec = field(default_factory=PricingSpec)
    source: str = "<defaults>"  # the file it was loaded from, for messages
