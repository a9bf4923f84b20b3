"""Fakes for the recovery manager's unit tests: a runner with a FakeClock, a real ledger
(journal in tmp_path) and agents that record the commands they are sent. No processes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import deque
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from supervisor.agents.protocol import Event, parse_line
from supervisor.clock import FakeClock
from supervisor.config.schema import Config
from supervisor.ledger import Ledger
from supervisor.plan import AgentSlot, PlannedPhase
from supervisor.recovery.actions import RecoveryManager
from supervisor.session.journal import read_journal
from supervisor.session.layout import SessionLayout
from supervisor.session.publisher import Publisher
from supervisor.session.state import AgentState, SessionStatus
from supervisor.session.timer import SessionTimer

SIM_CAPS = ("quiesce", "switch_model", "compress")


def ev(etype: str, **fields: Any) -> Event:
    item = parse_line(json.dumps({"type": etype, **fields}).encode())
    assert isinstance(item, Event), item
    return item


class FakeHost:
    def __init__(self, slot: AgentSlot, started_t: float, caps: tuple[str, ...], model: str):
        self.slot = slot
        self.agent_id = slot.agent_id
        self.capabilities = set(caps)
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.alive = True
        self.state = AgentState.RUNNING
        self.last_state: dict[str, Any] | None = None
        self.started_t = started_t
        self.model = model
        self.proc = SimpleNamespace(stderr_tail=deque(), returncode=None)
        self.stop_requested = False
        self.frozen = False

    async def send(self, cmd: str, **fields: Any) -> bool:
        if not self.alive:
            return False
        self.sent.append((cmd, fields))
        return True

    async def stop(self, grace: float) -> str:
        self.stop_requested = True
        self.alive = False
        return "exit 0"

    def freeze(self) -> None:
        self.frozen = True

    def commands(self) -> list[str]:
        return [c for c, _ in self.sent]


class FakeStore:
    def __init__(self) -> None:
        self.newest: tuple[Any, dict[str, Any]] | None = None

    def newest_valid(self, verify_objects: bool = True) -> tuple[Any, dict[str, Any]] | None:
        return self.newest


async def inline(fn: Any, *args: Any) -> Any:
    """Blocking work done at once, in the loop (no thread: deterministic tests)."""
    return fn(*args)


class FakeRunner:
    """The parts of SessionRunner the recovery manager uses."""

    def __init__(self, tmp_path: Path, cfg: Config | None = None,
                 agents: tuple[str, ...] = ("coder-1", "tester-2"),
                 caps: tuple[str, ...] = SIM_CAPS, scale: float = 1.0):
        self.cfg = cfg or Config()
        self.caps = caps
        self.clock = FakeClock(scale)
        self.timer = SessionTimer(self.clock)
        self.layout = SessionLayout(tmp_path / "s1")
        for d in (self.layout.root, self.layout.agents_dir, self.layout.project_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.session_id = "s1"
        self.publisher = Publisher()
        self.ledger = Ledger(self.layout.journal, None, self.clock)
        self.counters = self.ledger.counters
        slots = tuple(AgentSlot(a, a.split("-")[0].title(), i) for i, a in enumerate(agents))
        self.ledger.record("session_plan", 0.0, phases=[{"name": "development", "seconds": 3600}],
                           agents={s.agent_id: s.role for s in slots})
        self.ledger.record("phase_start", 0.0, index=0, name="development", agents=list(agents))
        self.phase = PlannedPhase(0, "development", 0.0, 3600.0, slots, 600.0)
        self.agent_states: dict[str, dict[str, Any]] = {}
        self.agent_models: dict[str, int] = {}
        self.hosts: dict[str, Any] = {s.agent_id: FakeHost(s, 0.0, caps, self.model(s.agent_id))
                                      for s in slots}
        self.resources: dict[str, dict[str, Any]] = {}
        self.paused = False
        self.stopping = False
        self.finishing = False
        self.status = SessionStatus.RUNNING
        self.statuses: list[SessionStatus] = []
        self.stops: list[tuple[str, Any, Any]] = []
        self.launches: list[tuple[str, bool, dict[str, Any] | None, str]] = []
        self.monitor = SimpleNamespace(untrack=lambda aid: None)
        self.store = FakeStore()
        self.checkpoints = SimpleNamespace(checkpointer=SimpleNamespace(store=self.store))
        self.tasks: set[asyncio.Task[Any]] = set()
        self.recovery = RecoveryManager(cast(Any, self))
        self.recovery.ops.blocking = inline

    # ---- the runner's API ----
    def model(self, agent_id: str) -> str:
        models = self.cfg.agent.models
        return models[self.agent_models.get(agent_id, 0) % len(models)]

    def set_status(self, status: SessionStatus) -> None:
        self.status = status
        self.statuses.append(status)

    def write_status(self) -> dict[str, Any]:
        return {}

    def spawn_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def request_stop(self, reason: str, interrupted: bool = True, signal_name: str | None = None,
                     status: SessionStatus | None = None, exit_code: int | None = None) -> None:
        self.stopping = True
        self.stops.append((reason, status, exit_code))

    async def pause(self, source: str) -> dict[str, Any]:
        if self.paused:
            return {"ok": False}
        self.paused = True
        self.timer.hold()
        self.set_status(SessionStatus.PAUSED)
        self.ledger.record("pause", self.timer.elapsed(), source=source)
        return {"ok": True}

    def unpause(self) -> None:
        self.paused = False
        self.timer.release()
        self.set_status(SessionStatus.RUNNING)

    async def launch_agent(self, slot: AgentSlot, phase: PlannedPhase, restart: bool = False) -> Any:
        model = self.model(slot.agent_id)
        host = FakeHost(slot, self.timer.elapsed(), self.caps, model)
        self.hosts[slot.agent_id] = host
        state = self.agent_states.get(slot.agent_id)
        self.launches.append((slot.agent_id, restart, dict(state) if state else None, model))
        self.ledger.record("agent_start", self.timer.elapsed(), agent=slot.agent_id,
                           model=model, restart=restart)
        return host

    # ---- test helpers ----
    def event(self, agent_id: str, etype: str, **fields: Any) -> None:
        """An agent event through the ledger (journal, counters), as intake does it."""
        self.ledger.agent_events(agent_id, self.timer.elapsed(), [ev(etype, **fields)])

    def progress(self, agent_id: str) -> None:
        self.event(agent_id, "tool_call", name="edit", ok=True, duration_ms=5)
        self.event(agent_id, "tokens", prompt=100, completion=20, model="m", context=2000)

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [dict(r.fields, t=r.t, seq=r.seq) for r in read_journal(self.layout.journal)
                if r.kind == kind]


def with_cfg(cfg: Config, **sections: dict[str, Any]) -> Config:
    """``cfg`` with some fields of some sections replaced: with_cfg(c, limits={...})."""
    changes = {name: dataclasses.replace(getattr(cfg, name), **values)
               for name, values in sections.items()}
    return dataclasses.replace(cfg, **changes)


async def settle(r: FakeRunner, rounds: int = 30) -> None:
    """Let the manager's tasks run as far as they can without time passing; tick between."""
    for _ in range(rounds):
        await asyncio.sleep(0)
        await r.recovery.on_tick()
    for _ in range(5):
        await asyncio.sleep(0)


async def advance(r: FakeRunner, seconds: float, steps: int = 4) -> None:
    """Move the fake clock forward in a few steps, letting tasks and ticks run."""
    for _ in range(steps):
        r.clock.advance(seconds / steps)
        await settle(r, 5)
