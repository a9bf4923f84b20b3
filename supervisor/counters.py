"""Session counters as a pure fold over journal records.

Live, every record is written to the journal first and then applied here (see
``ledger.py``); on resume the same records are replayed through the same code, so the
counters, the metrics and the report always agree with ``events.wal``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class AgentCounters:
    role: str = ""
    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    tool_calls_failed: int = 0
    tasks_started: int = 0
    tasks_completed: int = 0
    tasks_failed: int = 0
    errors: int = 0
    events: int = 0
    garbage: int = 0
    restarts: int = 0
    launches: int = 0
    last_activity_t: float | None = None
    context: int = 0
    models: list[str] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)
    active_seconds: float = 0.0  # session seconds the agent's process was running
    current_task: str | None = None


@dataclass
class PhaseCounters:
    name: str
    index: int
    planned_seconds: float = 0.0
    start_t: float | None = None
    end_t: float | None = None
    status: str = "pending"
    agents: list[str] = field(default_factory=list)
    tokens: int = 0
    tool_calls: int = 0
    tasks_completed: int = 0
    errors: int = 0
    tests: dict[str, Any] | None = None


@dataclass
class Counters:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    tool_calls_failed: int = 0
    tasks_started: int = 0
    tasks_completed: int = 0
    tasks_failed: int = 0
    errors: int = 0
    events: int = 0
    garbage_lines: int = 0
    checkpoints: int = 0
    restarts: int = 0
    failures: int = 0
    recoveries: int = 0
    votes: int = 0
    test_passed: int | None = None
    test_failed: int | None = None
    test_coverage: float | None = None
    last_seq: int = 0
    phase_index: int = -1
    agents: dict[str, AgentCounters] = field(default_factory=dict)
    phases: list[PhaseCounters] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    _running_since: dict[str, float] = field(default_factory=dict)

    # ---- derived ----
    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def phase(self) -> PhaseCounters | None:
        if 0 <= self.phase_index < len(self.phases):
            return self.phases[self.phase_index]
        return None

    @property
    def test_pass_rate(self) -> float | None:
        if self.test_passed is None or self.test_failed is None:
            return None
        total = self.test_passed + self.test_failed
        return self.test_passed / total if total else None

    def agent(self, agent_id: str) -> AgentCounters:
        a = self.agents.get(agent_id)
        if a is None:
            a = self.agents[agent_id] = AgentCounters()
        return a

    # ---- the fold: agent events ----
    def apply_event(self, agent_id: str, etype: str, f: dict[str, Any], t: float) -> None:  # noqa: C901 - the fold: one branch per protocol event type
        """One accepted agent event (already journaled)."""
        self.events += 1
        a = self.agent(agent_id)
        a.events += 1
        a.last_activity_t = t
        ph = self.phase
        if etype == "tool_call":
            self.tool_calls += 1
            a.tool_calls += 1
            if ph is not None:
                ph.tool_calls += 1
            if not f.get("ok", True):
                self.tool_calls_failed += 1
                a.tool_calls_failed += 1
        elif etype == "tokens":
            p = int(f.get("prompt", 0))
            c = int(f.get("completion", 0))
            self.prompt_tokens += p
            self.completion_tokens += c
            a.prompt_tokens += p
            a.completion_tokens += c
            a.tokens += p + c
            if ph is not None:
                ph.tokens += p + c
            model = f.get("model")
            if model and (not a.models or a.models[-1] != model) and model not in a.models:
                a.models.append(str(model))
            ctx = f.get("context")
            if ctx is not None:
                a.context = int(ctx)
        elif etype == "task":
            status = f.get("status")
            if status == "started":
                self.tasks_started += 1
                a.tasks_started += 1
                a.current_task = str(f.get("id"))
            elif status == "completed":
                self.tasks_completed += 1
                a.tasks_completed += 1
                a.current_task = None
                if ph is not None:
                    ph.tasks_completed += 1
            elif status == "failed":
                self.tasks_failed += 1
                a.tasks_failed += 1
                a.current_task = None
        elif etype == "error":
            self.errors += 1
            a.errors += 1
            if ph is not None:
                ph.errors += 1
        elif etype == "test_result":
            self.test_passed = int(f.get("passed", 0))
            self.test_failed = int(f.get("failed", 0))
            cov = f.get("coverage")
            if cov is not None:
                self.test_coverage = float(cov)
        elif etype == "memory":
            key = f.get("key")
            if isinstance(key, str):
                self.memory[key] = f.get("value")
        elif etype == "vote":
            self.votes += 1

    # ---- the fold: supervisor records ----
    def apply_record(self, kind: str, f: dict[str, Any], t: float) -> None:  # noqa: C901 - the fold: one branch per supervisor record kind
        if kind == "session_plan":
            if not self.phases:
                self.phases = [
                    PhaseCounters(name=p["name"], index=i, planned_seconds=p["seconds"])
                    for i, p in enumerate(f.get("phases", []))
                ]
            for agent_id, role in f.get("agents", {}).items():
                self.agent(agent_id).role = role
        elif kind == "phase_start":
            self.phase_index = int(f["index"])
            ph = self.phase
            if ph is not None:
                if ph.start_t is None:
                    ph.start_t = t
                ph.status = "running"
                ph.agents = list(f.get("agents", ph.agents))
        elif kind == "phase_end":
            idx = int(f["index"])
            if 0 <= idx < len(self.phases):
                ph = self.phases[idx]
                ph.end_t = t
                ph.status = str(f.get("status", "completed"))
        elif kind == "phase_tests":
            idx = int(f["index"])
            if 0 <= idx < len(self.phases):
                self.phases[idx].tests = dict(f.get("tests") or {})
        elif kind == "agent_start":
            a = self.agent(f["agent"])
            a.launches += 1
            if f.get("restart"):
                a.restarts += 1
                self.restarts += 1
            if f.get("model") and f["model"] not in a.models:
                a.models.append(str(f["model"]))
            self._running_since[f["agent"]] = t
        elif kind == "agent_exit":
            a = self.agent(f["agent"])
            a.exits.append(str(f.get("how", "exit")))
            since = self._running_since.pop(f["agent"], None)
            if since is not None:
                a.active_seconds += max(0.0, t - since)
        elif kind == "garbage":
            n = int(f.get("count", 1))
            self.garbage_lines += n
            self.agent(f["agent"]).garbage += n
        elif kind == "checkpoint":
            self.checkpoints += 1

        elif kind == "failure":
            self.failures += 1
        elif kind == "recovery":
            if f.get("outcome") == "recovered":
                self.recoveries += 1

    def active_seconds(self, agent_id: str, t: float) -> float:
        """Session seconds the agent has been running, up to ``t``."""
        a = self.agents.get(agent_id)
        if a is None:
            return 0.0
        since = self._running_since.get(agent_id)
        return a.active_seconds + (max(0.0, t - since) if since is not None else 0.0)

    def close_running(self, t: float) -> None:
        """Account the running time of agents still up at ``t`` (end of session)."""
        for agent_id, since in list(self._running_since.items()):
            self.agent(agent_id).active_seconds += max(0.0, t - since)
            self._running_since[agent_id] = t

    # ---- persistence (checkpoints) ----
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema_version"] = SCHEMA_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counters:
        d = dict(d)
        d.pop("schema_version", None)
        agents = {k: AgentCounters(**v) for k, v in d.pop("agents", {}).items()}
        phases = [PhaseCounters(**p) for p in d.pop("phases", [])]
        c = cls(**d)
        c.agents = agents
        c.phases = phases
        return c

    def totals(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tool_calls": self.tool_calls,
            "tool_calls_failed": self.tool_calls_failed,
            "tasks_started": self.tasks_started,
            "tasks_completed": self.tasks_completed,
            "tasks_failed": self.tasks_failed,
            "errors": self.errors,
            "events": self.events,
            "garbage_lines": self.garbage_lines,
            "checkpoints": self.checkpoints,
            "restarts": self.restarts,
            "failures": self.failures,
            "recoveries": self.recoveries,
        }
