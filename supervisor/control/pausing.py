"""Holding a paused session's agents, and letting them go again.

An agent that announced ``quiesce`` is asked to stop at a safe point (all at once,
bounded by the quiesce timeout) and then sits idle, state ``paused``; one that cannot,
or does not answer in time, is frozen (SIGSTOP of its process group), state ``frozen``.
Either way it produces no events until it is released.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from supervisor.agents.host import AgentHost
from supervisor.session.state import AgentState

HELD = frozenset({AgentState.PAUSED, AgentState.FROZEN})


async def hold_agents(hosts: Iterable[AgentHost], timeout: float) -> dict[str, str]:
    """Bring every live agent to a standstill; returns ``{agent_id: how}`` (paused/frozen)."""
    live = [h for h in hosts if h.alive and h.state not in HELD]
    capable = [h for h in live if "quiesce" in h.capabilities]
    answers = await asyncio.gather(*(h.quiesce(timeout) for h in capable),
                                   return_exceptions=True)
    quiesced = {h.agent_id for h, ok in zip(capable, answers, strict=True) if ok is True}
    held: dict[str, str] = {}
    for h in live:
        if h.agent_id in quiesced:
            h.state = AgentState.PAUSED
        else:
            with contextlib.suppress(Exception):
                h.freeze()
        held[h.agent_id] = str(h.state)
    return held


async def release_agents(hosts: Iterable[AgentHost]) -> dict[str, str]:
    """Undo ``hold_agents``: thaw the frozen, ``resume`` the paused. Returns the new states."""
    out: dict[str, str] = {}
    for h in hosts:
        with contextlib.suppress(Exception):
            if h.state == AgentState.FROZEN:
                h.thaw()
            elif h.state in (AgentState.PAUSED, AgentState.QUIESCED):
                h.state = AgentState.QUIESCED
                await h.unquiesce()
        out[h.agent_id] = str(h.state)
    return out


def held_count(hosts: Iterable[AgentHost]) -> int:
    return sum(1 for h in hosts if h.state in HELD)
