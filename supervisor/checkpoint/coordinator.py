"""Taking a checkpoint of a running session: safe point, snapshot, file, journal, retention.

The safe point: agents that announced ``quiesce`` are asked to stop at one (bounded by
``quiesce_timeout_secs``); the others, and those that did not answer in time, are frozen
(SIGSTOP of their process group). Agents are released as soon as the project snapshot is
taken; writing the checkpoint file and retention happen with the agents running again.

Test hook: ``Checkpointer(..., pause_before_write=f)`` makes checkpoint number N wait
``f(N)`` wall seconds after its snapshot objects are stored and before the checkpoint file
is written, logging ``checkpoint_test_pause`` first, so a test can SIGKILL the supervisor
in the middle of taking a checkpoint deterministically. The session wires
``env_pause_hook()``: ``MEGATEST_TEST_CHECKPOINT_PAUSE="N:SECONDS"`` (the crash tests in
``tests/e2e`` set it; never set in production) pauses checkpoint N and later ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from supervisor import __version__, logs
from supervisor.agents.host import AgentHost
from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import (
    FORMAT_NAME,
    SCHEMA_VERSION,
    CheckpointStore,
    encode_manifest,
    write_checkpoint,
)
from supervisor.clock import Clock
from supervisor.session.layout import SessionLayout
from supervisor.session.state import AgentState

log = logs.get("checkpoint")
PAUSE_ENV = "MEGATEST_TEST_CHECKPOINT_PAUSE"


PauseHook = Callable[[int], float]


def hook_pause_seconds(number: int, env: Mapping[str, str] | None = None) -> float:
    """Seconds the test hook asks checkpoint ``number`` to wait before its file is written."""
    raw = (os.environ if env is None else env).get(PAUSE_ENV, "")
    first, _, seconds = raw.partition(":")
    try:
        return float(seconds) if raw and number >= int(first) else 0.0
    except ValueError:
        return 0.0


def env_pause_hook(env: Mapping[str, str] | None = None) -> PauseHook | None:
    """The test hook ``MEGATEST_TEST_CHECKPOINT_PAUSE`` asks for, read once; None if unset."""
    snapshot = dict(os.environ if env is None else env)
    if not snapshot.get(PAUSE_ENV):
        return None
    return lambda number: hook_pause_seconds(number, snapshot)


@dataclass
class CheckpointResult:
    number: int
    path: Path
    trigger: str
    duration_ms: float
    held_ms: float
    size_bytes: int
    files: int
    bytes_hashed: int

    def summary(self, t: float) -> dict[str, Any]:
        return {"number": self.number, "path": str(self.path), "trigger": self.trigger,
                "t": round(t, 3), "duration_ms": round(self.duration_ms, 1),
                "held_ms": round(self.held_ms, 1), "size_bytes": self.size_bytes,
                "files": self.files}


async def hold_agents(hosts: Iterable[AgentHost], timeout: float) -> list[AgentHost]:
    """Bring every agent to a safe point; returns those that must be released. Agents
    already held (a paused session: quiesced or frozen) are at rest and stay held."""
    hosts = [h for h in hosts if h.alive and h.state not in (AgentState.PAUSED, AgentState.FROZEN)]
    capable = [h for h in hosts if "quiesce" in h.capabilities]
    others = [h for h in hosts if "quiesce" not in h.capabilities]
    answers = await asyncio.gather(*(h.quiesce(timeout) for h in capable),
                                   return_exceptions=True)
    for h, ok in zip(capable, answers, strict=True):
        if ok is not True:
            others.append(h)  # did not reach a safe point in time: freeze it
    for h in others:
        with contextlib.suppress(Exception):
            h.freeze()
    return hosts


async def release_agents(hosts: Iterable[AgentHost]) -> None:
    for h in hosts:
        with contextlib.suppress(Exception):
            h.thaw()
            await h.unquiesce()


def git_commit(project: Path) -> str | None:
    if not (project / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class Checkpointer:
    """``clock`` times each checkpoint (and its hold); ``pause_before_write`` is the test
    hook above (None in production)."""

    def __init__(self, layout: SessionLayout, excludes: tuple[str, ...], keep_last: int,
                 quiesce_timeout: float, clock: Clock,
                 pause_before_write: PauseHook | None = None):
        self.clock = clock
        self.pause_before_write = pause_before_write
        self.layout = layout
        self.excludes = excludes
        self.keep_last = keep_last
        self.quiesce_timeout = quiesce_timeout
        self.snapshots = SnapshotStore(layout.snapshots_dir)
        self.store = CheckpointStore(layout.checkpoints_dir, self.snapshots)
        self._lock = asyncio.Lock()

    async def take(self, trigger: str, hosts: Iterable[AgentHost], state: Any,
                   timer: Any = None) -> CheckpointResult:
        """Checkpoint now. ``state()`` returns the session's body fields at the safe point.

        ``timer`` (the session's SessionTimer) is held from the quiesce request until the
        agents are released: agents held do no work, so no session time passes for them
        (a hung agent that never answers a quiesce would otherwise cost the whole timeout,
        at time scale 600 almost an hour of session time).
        """
        async with self._lock:  # CLI, signal and HTTP at once: one after the other
            t0 = self.clock.monotonic()
            if timer is not None:
                timer.hold()
            try:
                held = await hold_agents(hosts, self.quiesce_timeout)
                h0 = self.clock.monotonic()
                try:
                    body = state()  # counters and journal seq, consistent: no await between
                    manifest, stats = await asyncio.to_thread(
                        self.snapshots.snapshot, self.layout.project_dir, self.excludes)
                finally:
                    await release_agents(held)
            finally:
                if timer is not None:
                    timer.release()
            held_ms = (self.clock.monotonic() - h0) * 1000 if held else 0.0
            if stats.skipped:  # links out of project/, fifos, unreadable or vanished files
                log.warning("snapshot_skipped", count=len(stats.skipped),
                            entries=[f"{p}: {why}" for p, why in stats.skipped[:20]])
            commit = await asyncio.to_thread(git_commit, self.layout.project_dir)
            number, path = self.store.next_path()
            pause = self.pause_before_write(number) if self.pause_before_write else 0.0
            if pause > 0:
                log.warning("checkpoint_test_pause", number=number, seconds=pause)
                await self.clock.sleep(self.clock.to_session(pause))
            body.update({
                "number": number,
                "trigger": trigger,
                "manifest": encode_manifest(manifest),
                "git_commit": commit,
                "held_ms": round(held_ms, 1),
                "versions": {"supervisor": __version__, "format": FORMAT_NAME,
                             "schema": SCHEMA_VERSION, "python": platform.python_version(),
                             "msgpack": ".".join(map(str, msgpack.version))},
            })
            body["duration_ms"] = round((self.clock.monotonic() - t0) * 1000, 1)
            size = await asyncio.to_thread(write_checkpoint, path, body)
            duration_ms = (self.clock.monotonic() - t0) * 1000
            result = CheckpointResult(number, path, trigger, duration_ms, held_ms, size,
                                      stats.files, stats.bytes_hashed)
            try:
                deleted = await asyncio.to_thread(self.store.apply_retention, self.keep_last)
                if deleted:
                    log.info("checkpoint_retention", deleted=[p.name for p in deleted])
            except Exception as e:  # retention must never cost the checkpoint just taken
                log.exception("checkpoint_retention_failed", error=str(e))
            return result

    def close(self) -> None:
        """Release the snapshot store's change watch (inotify handle)."""
        self.snapshots.close()
