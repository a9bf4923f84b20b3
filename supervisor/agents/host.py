"""One running agent as the session sees it: its process, its event intake, its state.

The intake loop is the supervisor's hot path: stdout chunks are split into lines, parsed
(pure), written to the journal and applied to the counters in one batch per chunk.
Events that need a decision (hello, error, state, quiesced, vote, test results) are handed
to the session through ``on_event``; garbage is counted and logged, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from supervisor import logs
from supervisor.agents.process import AgentProcess
from supervisor.agents.protocol import Event, Garbage, LineSplitter, encode_command, parse_line
from supervisor.ledger import Ledger
from supervisor.plan import AgentSlot
from supervisor.session.state import AgentState

# Events the session itself must look at (all events are journaled and counted anyway).
NOTABLE = frozenset({"hello", "error", "state", "quiesced", "vote", "test_result", "memory"})
GARBAGE_LOG_FIRST = 20  # log the first N garbage lines per agent, then every 1000th

log = logs.get("agent")

OnEvent = Callable[["AgentHost", Event, float], Awaitable[None] | None]


class AgentHost:
    def __init__(
        self,
        slot: AgentSlot,
        phase: str,
        ledger: Ledger,
        now: Callable[[], float],
        on_event: OnEvent,
        model: str,
    ):
        self.slot = slot
        self.agent_id = slot.agent_id
        self.phase = phase
        self.ledger = ledger
        self.now = now
        self.on_event = on_event
        self.model = model
        self.proc: AgentProcess | None = None
        self.state = AgentState.STARTING
        self.capabilities: set[str] = set()
        self.quiesced = asyncio.Event()
        self.stop_requested = False
        self.garbage = 0
        self.last_state: dict[str, Any] | None = None
        self.started_t = now()
        self._splitter = LineSplitter()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def spawn(self, argv: list[str], env: dict[str, str], cwd: Path, log_dir: Path) -> None:
        self.proc = await AgentProcess.spawn(self.agent_id, argv, env, cwd, log_dir)
        self.state = AgentState.RUNNING

    # ---- intake ----
    async def pump_stdout(self) -> None:
        assert self.proc is not None
        proc = self.proc
        while True:
            chunk = await proc.read_stdout(65536)
            if not chunk:
                break
            await self._intake(self._splitter.feed(chunk))
        tail = self._splitter.finish()
        if tail:
            await self._intake([tail])

    async def _intake(self, lines: list[Any]) -> None:
        events: list[Event] = []
        notable: list[Event] = []
        garbage: list[Garbage] = []
        for line in lines:
            item = parse_line(line)
            if item is None:
                continue
            if isinstance(item, Event):
                events.append(item)
                if item.type in NOTABLE:
                    notable.append(item)
            else:
                garbage.append(item)
        t = self.now()
        if events:
            self.ledger.agent_events(self.agent_id, t, events)
        if garbage:
            self._count_garbage(garbage, t)
        for ev in notable:
            res = self.on_event(self, ev, t)
            if res is not None:
                await res

    def _count_garbage(self, garbage: list[Garbage], t: float) -> None:
        self.ledger.record("garbage", t, agent=self.agent_id, count=len(garbage),
                           reason=garbage[0].reason)
        for g in garbage:
            self.garbage += 1
            if self.garbage <= GARBAGE_LOG_FIRST or self.garbage % 1000 == 0:
                log.info("agent_output", agent=self.agent_id, reason=g.reason, line=g.preview,
                         garbage_count=self.garbage)

    # ---- commands ----
    async def send(self, cmd: str, **fields: Any) -> bool:
        if self.proc is None or self.proc.returncode is not None:
            return False
        return await self.proc.send(encode_command(cmd, **fields))

    async def quiesce(self, timeout: float) -> bool:
        """Ask for a safe point; True when the agent said ``quiesced`` in time."""
        self.quiesced.clear()
        if not await self.send("quiesce"):
            return False
        try:
            await asyncio.wait_for(self.quiesced.wait(), timeout)
        except TimeoutError:
            return False
        self.state = AgentState.QUIESCED
        return True

    async def unquiesce(self) -> None:
        if self.state == AgentState.QUIESCED:
            await self.send("resume")
            self.state = AgentState.RUNNING

    def freeze(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.freeze()
            self.state = AgentState.FROZEN

    def thaw(self) -> None:
        if self.proc is not None and self.state == AgentState.FROZEN:
            self.proc.thaw()
            self.state = AgentState.RUNNING

    async def stop(self, grace: float) -> str:
        """Ask politely (``stop``), then TERM/KILL the whole tree. Returns how it ended."""
        if self.proc is None:
            return "never started"
        self.stop_requested = True
        self.state = AgentState.STOPPING
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                self.thaw()
            if await self.send("stop"):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.proc.wait(), min(grace, 2.0))
        await self.proc.stop(grace)
        return self.proc.exit_description()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None
