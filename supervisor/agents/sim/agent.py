"""The simulated agent's behaviour, without I/O on stdin/stdout and without real time.

``SimAgent`` is stepped by the runtime (or a test) with the external session time:
``advance(now)`` returns the protocol events due by then, ``command(cmd, now)`` handles a
supervisor command, ``next_wakeup()`` says when something is due next. All randomness
comes from streams seeded with ``"{seed}:{agent_id}:{phase}"`` (one per step, per task,
per fault type), so the same inputs give the same events and files.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from .faults import (
    CRASH_TRACEBACK,
    DEADLOCK_ERROR_AFTER,
    DEADLOCK_MAX_ROUNDS,
    DEADLOCK_VOTE_EVERY,
    ERROR_FAULTS,
    FaultPlan,
    MemoryHog,
)
from .projects import load_project
from .settings import SimSettings
from .tasks import Task
from .timeline import Timeline
from .work import Worker
from .workspace import Workspace

VERSION = "sim-1"
CAPABILITIES = ["quiesce", "switch_model", "compress"]
STATE_SCHEMA = 1
HEARTBEAT_EVERY = 60.0
STATE_EVERY = 300.0
DEFAULT_PHASE_SECONDS = 3600.0
# Activity by phase relative to the session average (the seed plan: 150K, 200K, 180K,
# 100K tokens per hour over 1h, 2h, 2h, 1h), so tokens_per_agent_hour is the average.
PHASE_FACTORS = {"bootstrap": 0.89, "development": 1.19, "refinement": 1.07, "finalization": 0.59}
SHORT_PHASE = {"bootstrap": "boot", "development": "dev", "refinement": "ref", "finalization": "fin"}
COMMANDS = ("quiesce", "resume", "switch_model", "compress_context", "throttle", "stop")
# Timer kinds, in the order they fire when due at the same instant.
TIMERS = ("fault", "step", "deadlock", "heartbeat", "state")

Event = dict[str, Any]


def consensus_choice(seed: int, topic: str, choices: tuple[str, ...]) -> str:
    """The choice every agent of a session makes on ``topic`` (they agree)."""
    digest = hashlib.sha256(f"{seed}:{topic}".encode()).digest()
    return choices[int.from_bytes(digest[:4], "big") % len(choices)]


class SimAgent:
    def __init__(
        self,
        settings: SimSettings,
        workspace: Workspace,
        resume: Mapping[str, Any] | None = None,
        hog: MemoryHog | None = None,
        prompt_chars: int = 0,
    ):
        self.s = settings
        self.key = settings.rng_key
        self.hog = hog or MemoryHog()
        project = load_project(settings.project_type)
        self.topics: tuple[tuple[str, tuple[str, ...]], ...] = project.VOTE_TOPICS
        self.work = Worker(settings, workspace, project.catalog())
        factor = PHASE_FACTORS.get(settings.phase.lower(), 1.0)
        self.step_rate = settings.tool_calls_per_hour * factor / 3600.0
        calls = settings.tool_calls_per_hour
        self.tokens_per_step = settings.tokens_per_hour / calls if calls else 0.0
        self.model = settings.model
        self.context = 1500 + prompt_chars // 4
        self.step = 0
        self.task_seq = 0
        self.tasks_done = 0
        self.tool_calls = 0
        self.tokens = [0, 0]  # prompt, completion
        self.faults_done: list[tuple[str, float]] = []
        self.phase_total = 0.0
        self.task: Task | None = None
        self._restart_task: int | None = None
        self.stderr: list[str] = list(settings.warnings)
        start = self._restore(resume) if resume else (settings.phase_elapsed or 0.0)
        if self.phase_total <= 0:
            left = settings.phase_seconds if settings.phase_seconds > 0 else DEFAULT_PHASE_SECONDS
            self.phase_total = start + left
        self.timeline = Timeline(start)
        self._now_local = start  # phase time of the latest thing that happened
        self.faults = FaultPlan(settings, start, self.faults_done)
        self.timers: dict[str, float | None] = {
            "fault": None,
            "step": start + self._interval(random.Random(f"{self.key}:first:{self.step}")),
            "deadlock": None,
            "heartbeat": start + HEARTBEAT_EVERY,
            "state": start + STATE_EVERY,
        }
        self.hung = False
        self.quiesced = False
        self.throttle_until: float | None = None
        self.exit_code: int | None = None
        self.pressure_bytes = 0  # memory_pressure target while active
        self.deadlock: dict[str, Any] | None = None

    # -- protocol entry points -------------------------------------------------------------
    def hello(self) -> Event:
        return {"type": "hello", "agent": self.s.agent_id, "version": VERSION,
                "capabilities": list(CAPABILITIES)}

    def take_stderr(self) -> list[str]:
        lines = self.stderr + self.work.notes
        self.stderr, self.work.notes = [], []
        return lines

    def next_wakeup(self) -> float | None:
        """External time at which ``advance`` has something to do; None: only a command."""
        if self.hung or self.exit_code is not None or self.quiesced:
            return None
        if self.throttle_until is not None:
            return self.throttle_until
        _, at = self._next_timer()
        return None if at is None else self.timeline.to_ext(at)

    def advance(self, now: float) -> list[Event]:
        """Every event due by external time ``now``."""
        out: list[Event] = []
        if self.hung or self.exit_code is not None:
            return out
        self._expire_throttle(now)
        if self.timeline.frozen:
            return out
        limit = self.timeline.local(now)
        while not self.hung and self.exit_code is None:
            kind, at = self._next_timer()
            if at is None or at > limit:
                break
            self._fire(kind, at, out)
        self._now_local = max(self._now_local, limit)
        return out

    def command(self, cmd: Any, now: float) -> list[Event]:  # noqa: C901 - one branch per supervisor command of protocol v1
        """Handle one supervisor command received at external time ``now``."""
        name = cmd.get("cmd") if isinstance(cmd, Mapping) else None
        if name not in COMMANDS:
            self.stderr.append(f"sim: ignoring unknown command {str(cmd)[:200]}")
            return []
        if self.hung:  # a hung agent answers nothing; it only obeys stop
            if name == "stop":
                self.exit_code = 0
            return []
        self._expire_throttle(now)
        self._now_local = max(self._now_local, self.timeline.local(now))
        self.deadlock = None  # any intervention ends a consensus deadlock
        self.timers["deadlock"] = None
        if name == "quiesce":
            self.quiesced = True
            self.timeline.freeze(now)
            return [{"type": "quiesced"}]
        if name == "resume":
            if self.quiesced:
                self.quiesced = False
                if self.throttle_until is None:
                    self.timeline.thaw(now)
            return []
        if name == "stop":
            self.exit_code = 0
            return [self.state_event()]
        if name == "switch_model":
            model = cmd.get("model")
            if not isinstance(model, str) or not model:
                self.stderr.append(f"sim: switch_model without a model name: {cmd}")
                return []
            self.model = model
            soon = self.timeline.local(now) + 1.0
            self.timers["state"] = min(self.timers["state"] or soon, soon)
        elif name == "compress_context":
            self.context = max(500, int(self.context * 0.3))
            self.pressure_bytes = 0
            self.hog.release()
        elif name == "throttle":
            seconds = cmd.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                self.stderr.append(f"sim: throttle needs seconds >= 0: {cmd}")
                return []
            until = now + float(seconds)
            self.throttle_until = max(self.throttle_until or until, until)
            self.timeline.freeze(now)
        return []

    def final_events(self) -> list[Event]:
        """What to say before a graceful exit (stop, SIGTERM): the final state."""
        if self.hung or self.exit_code not in (None, 0):
            return []
        return [self.state_event()]

    # -- state -------------------------------------------------------------------------------
    def state_event(self) -> Event:
        data = {
            "schema": STATE_SCHEMA,
            "sim": VERSION,
            "agent": self.s.agent_id,
            "role": self.s.role,
            "phase": self.s.phase,
            "phase_index": self.s.phase_index,
            "project_type": self.s.project_type,
            "seed": self.s.seed,
            "step": self.step,
            "task_seq": self.task_seq,
            "current_task": self.task.seq if self.task else None,
            "tasks_done": self.tasks_done,
            "tool_calls": self.tool_calls,
            "tokens": {"prompt": self.tokens[0], "completion": self.tokens[1]},
            "model": self.model,
            "context": self.context,
            "elapsed": round(self._now_local, 3),
            "phase_total": round(self.phase_total, 3),
            "faults_done": [[kind, at] for kind, at in self.faults_done],
            "rng": {"key": self.key, "step": self.step},
            **self.work.dump(),
        }
        return {"type": "state", "data": data}

    def _restore(self, data: Mapping[str, Any]) -> float:
        """Continue from a previous state; returns the phase time to start at."""
        try:
            if data.get("schema") != STATE_SCHEMA:
                raise ValueError(f"unknown state schema {data.get('schema')!r}")
            if data.get("agent", self.s.agent_id) != self.s.agent_id:
                raise ValueError(f"state of agent {data.get('agent')!r}")
            if data.get("project_type", self.s.project_type) == self.s.project_type:
                self.work.load(dict(data))
            self.context = int(data.get("context", self.context))
            tokens = data.get("tokens") or {}
            self.tokens = [int(tokens.get("prompt", 0)), int(tokens.get("completion", 0))]
            self.tool_calls = int(data.get("tool_calls", 0))
            if data.get("phase") != self.s.phase:
                return self.s.phase_elapsed or 0.0
            self.step = int(data.get("step", 0))
            self.task_seq = int(data.get("task_seq", 0))
            self.tasks_done = int(data.get("tasks_done", 0))
            current = data.get("current_task")
            self._restart_task = int(current) if current else None
            self.faults_done = [(str(k), float(at)) for k, at in data.get("faults_done", [])]
            start = float(data.get("elapsed", 0.0))
            self.phase_total = float(data.get("phase_total", 0.0))
            if self.s.phase_elapsed is not None:
                start = max(start, self.s.phase_elapsed)
            elif self.phase_total > 0:
                start = max(start, self.phase_total - self.s.phase_seconds)
            self.phase_total = max(self.phase_total, start + self.s.phase_seconds)
            return start
        except (TypeError, ValueError, AttributeError) as exc:
            self.stderr.append(f"sim: resume state not usable ({exc}); starting fresh")
            self._reset_progress()
            return self.s.phase_elapsed or 0.0

    def _reset_progress(self) -> None:
        self.step = self.task_seq = self.tasks_done = self.tool_calls = 0
        self.tokens = [0, 0]
        self.faults_done = []
        self.phase_total = 0.0
        self._restart_task = None
        self.work.load({})

    # -- timers ------------------------------------------------------------------------------
    def _next_timer(self) -> tuple[str, float | None]:
        self.timers["fault"] = self.faults.next_time()
        best: tuple[str, float | None] = ("", None)
        for kind in TIMERS:
            at = self.timers[kind]
            if at is not None and (best[1] is None or at < best[1]):
                best = (kind, at)
        return best

    def _fire(self, kind: str, at: float, out: list[Event]) -> None:
        self._now_local = at
        if kind == "heartbeat":
            out.append({"type": "heartbeat"})
            self.timers["heartbeat"] = at + HEARTBEAT_EVERY
        elif kind == "state":
            out.append(self.state_event())
            self.timers["state"] = at + STATE_EVERY
        elif kind == "fault":
            for fault_at, fault in self.faults.pop_due(at):
                self._inject(fault, fault_at, out)
                if self.hung or self.exit_code is not None:
                    break
        elif kind == "deadlock":
            self._deadlock_vote(at, out)
        elif kind == "step":
            self._step(at, out)

    def _expire_throttle(self, now: float) -> None:
        if self.throttle_until is not None and self.throttle_until <= now:
            ended = self.throttle_until
            self.throttle_until = None
            if not self.quiesced:
                self.timeline.thaw(ended)

    def _interval(self, rng: random.Random) -> float:
        if self.step_rate <= 0:
            return float("inf")
        return rng.expovariate(self.step_rate)

    # -- work ------------------------------------------------------------------------------
    def _step(self, at: float, out: list[Event]) -> None:
        rng = random.Random(f"{self.key}:step:{self.step}")
        if self.task is None:
            self._start_task(at, out)
        task = self.task
        assert task is not None
        out.append(self._tokens_event(rng))
        out.extend(self.work.execute(task, task.steps[task.pos], rng))
        task.pos += 1
        self.step += 1
        self.tool_calls += 1
        if task.done:
            out.append({"type": "task", "id": task.id, "status": "completed", "title": task.title})
            out.extend(self.work.finish(task, rng))
            self.tasks_done += 1
            self.task = None
        vote_chance = 1 / 40 if self.work.role == "architect" else 1 / 80
        if rng.random() < vote_chance and self.deadlock is None:
            topic, choices = rng.choice(self.topics)
            out.append({"type": "vote", "topic": topic,
                        "choice": consensus_choice(self.s.seed, topic, choices)})
        nxt = at + self._interval(rng)
        self.timers["step"] = nxt if nxt > at else at + 1e-6

    def _start_task(self, at: float, out: list[Event]) -> None:
        if self._restart_task is not None:
            seq, self._restart_task = self._restart_task, None
        else:
            self.task_seq += 1
            seq = self.task_seq
        short = SHORT_PHASE.get(self.s.phase.lower(), self.s.phase)
        task_id = f"{self.s.agent_id}/{short}/{seq}"
        task = self.work.plan(seq, task_id, at / self.phase_total, self.key)
        self.task = task
        out.append({"type": "task", "id": task_id, "status": "started", "title": task.title})

    def _tokens_event(self, rng: random.Random) -> Event:
        mean = self.tokens_per_step
        prompt = int(round(mean * 0.75 * rng.uniform(0.5, 1.5)))
        completion = int(round(mean * 0.25 * rng.uniform(0.5, 1.5)))
        self.tokens[0] += prompt
        self.tokens[1] += completion
        self.context += (prompt + completion) // 2
        limit = self.s.max_context
        if self.pressure_bytes:
            self.context = min(self.context + limit // 10, 3 * limit)
            self.hog.grow(self.pressure_bytes)
        elif self.context > 0.85 * limit:  # the agent compacts its own context
            self.context = int(self.context * 0.3)
        return {"type": "tokens", "prompt": prompt, "completion": completion,
                "model": self.model, "context": self.context}

    # -- faults ----------------------------------------------------------------------------
    def _inject(self, fault: str, at: float, out: list[Event]) -> None:
        self.stderr.append(f"sim: injecting {fault}")
        self.faults_done.append((fault, round(at, 3)))
        rng = random.Random(f"{self.key}:inject:{fault}:{at:.3f}")
        if fault in ERROR_FAULTS:
            message, fatal = ERROR_FAULTS[fault]
            event: Event = {"type": "error", "kind": fault, "message": message}
            if fatal:
                event["fatal"] = True
            out.append(event)
        elif fault == "test_failure":
            failed = rng.randint(1, 3)
            out.append({"type": "tool_call", "name": "run_tests", "ok": False,
                        "duration_ms": int(rng.uniform(600, 6000))})
            out.append(self.work.test_result(rng, failed=failed))
        elif fault == "memory_pressure":
            self.pressure_bytes = rng.randint(50, 200) << 20
        elif fault == "agent_crash":
            self.stderr.append(CRASH_TRACEBACK.rstrip("\n"))
            self.exit_code = 1
        elif fault == "agent_hang":
            self.hung = True
        elif fault == "consensus_deadlock":
            topic, choices = self.topics[int(at) % len(self.topics)]
            self.deadlock = {"topic": topic, "choices": choices[:2], "round": 0}
            self.timers["deadlock"] = at

    def _deadlock_vote(self, at: float, out: list[Event]) -> None:
        lock = self.deadlock
        if lock is None:
            self.timers["deadlock"] = None
            return
        choice = lock["choices"][lock["round"] % len(lock["choices"])]
        out.append({"type": "vote", "topic": lock["topic"], "choice": choice})
        lock["round"] += 1
        if lock["round"] == DEADLOCK_ERROR_AFTER:
            out.append({"type": "error", "kind": "consensus_deadlock",
                        "message": f"no consensus on {lock['topic']} after "
                                   f"{DEADLOCK_ERROR_AFTER} rounds of voting"})
        if lock["round"] >= DEADLOCK_MAX_ROUNDS:
            self.deadlock = None
            self.timers["deadlock"] = None
        else:
            self.timers["deadlock"] = at + DEADLOCK_VOTE_EVERY
