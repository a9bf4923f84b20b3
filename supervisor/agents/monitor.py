"""psutil views of agent process trees: resource samples, descendants, group members,
processes carrying a launch token, the kill-and-reap that sweeps use, and disk usage.

Everything here blocks on /proc; the session runs it in a thread (``asyncio.to_thread``).
A process is identified by (pid, create_time) everywhere, so a reused pid never counts.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from supervisor.agents.command import LAUNCH_ENV
from supervisor.clock import sleep_real

CTIME_TOLERANCE = 0.01  # seconds: psutil create times of one process agree within this


@dataclass(frozen=True)
class TreeSample:
    cpu_percent: float  # summed over the tree; 100 = one core busy
    rss_bytes: int
    num_procs: int  # living processes in the tree (the agent included), zombies not counted
    descendants: list[tuple[int, float]] = field(default_factory=list)  # (pid, create_time)


EMPTY = TreeSample(0.0, 0, 0, [])


def same_process(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process with this pid if it is alive and was created at ``create_time``."""
    if create_time is None or pid <= 1:
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > CTIME_TOLERANCE:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


def live_tree(pid: int) -> set[tuple[int, float]]:
    """(pid, create_time) of every living descendant of ``pid`` (not ``pid`` itself)."""
    out: set[tuple[int, float]] = set()
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return out
    for child in children:
        try:
            out.add((child.pid, child.create_time()))
        except psutil.Error:
            continue
    return out


def group_members(pgid: int) -> dict[int, psutil.Process]:
    """Every process (zombies included) whose process group is ``pgid``."""
    found: dict[int, psutil.Process] = {}
    if pgid <= 1 or pgid == os.getpgrp():
        return found
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid:
                found[pid] = psutil.Process(pid)
        except (OSError, psutil.Error):
            continue
    return found


def find_launch(tokens: set[str], children_only: bool) -> dict[int, psutil.Process]:
    """Processes whose environment carries one of these launch tokens, and their
    descendants. ``children_only``: look only at this process's direct children (where
    escaped agent descendants land when we are a subreaper), else at every process."""
    found: dict[int, psutil.Process] = {}
    if not tokens:
        return found
    me = os.getpid()
    candidates: Iterable[psutil.Process]
    candidates = psutil.Process(me).children() if children_only else psutil.process_iter()
    for proc in candidates:
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(LAUNCH_ENV) not in tokens:
                continue
            found[proc.pid] = proc
            for desc in proc.children(recursive=True):
                found.setdefault(desc.pid, desc)
        except psutil.Error:
            continue
    return found


def kill_and_reap(victims: Mapping[int, psutil.Process], wait: float = 5.0) -> list[int]:
    """SIGKILL these processes, wait (bounded) until each is gone, and reap the ones that
    are our children (re-parented orphans). Returns the pids that were alive and killed."""
    me = os.getpid()
    killed: list[psutil.Process] = []
    pending: list[psutil.Process] = []
    for proc in victims.values():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                proc.kill()
                killed.append(proc)
            elif proc.ppid() != me:
                continue  # dead already; its own parent reaps it
            pending.append(proc)
        except psutil.Error:
            continue
    for _ in range(int(wait / 0.02)):
        pending = [p for p in pending if not _gone(p, me)]
        if not pending:
            break
        sleep_real(0.02)
    return [p.pid for p in killed]


def _gone(proc: psutil.Process, me: int) -> bool:
    """Dead for good: vanished, or a zombie (reaped here when it is our child)."""
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
        if proc.ppid() == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
    except psutil.Error:
        return True
    return True


class TreeSampler:
    """Samples one agent's tree, keeping psutil.Process objects so cpu_percent has a base."""

    def __init__(self, pid: int, create_time: float | None = None):
        self.pid = pid
        self.create_time = create_time  # when given, a reused pid samples as EMPTY
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self.seen: set[tuple[int, float]] = set()  # every descendant ever sampled

    def _get(self, proc: psutil.Process) -> tuple[tuple[int, float], psutil.Process]:
        key = (proc.pid, proc.create_time())
        return key, self._procs.get(key, proc)

    def sample(self) -> TreeSample:
        try:
            root = psutil.Process(self.pid)
            if (self.create_time is not None
                    and abs(root.create_time() - self.create_time) > CTIME_TOLERANCE):
                raise psutil.NoSuchProcess(self.pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            self._procs.clear()
            return EMPTY
        cpu, rss, count = 0.0, 0, 0
        descendants: list[tuple[int, float]] = []
        current: dict[tuple[int, float], psutil.Process] = {}
        for member in members:
            try:
                key, proc = self._get(member)
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    cpu += proc.cpu_percent(interval=None)
            except psutil.Error:
                continue
            current[key] = proc
            count += 1
            if proc.pid != self.pid:
                descendants.append(key)
        self._procs = current
        self.seen.update(descendants)
        return TreeSample(cpu, rss, count, descendants)


def sample_tree(pid: int, sampler: TreeSampler | None = None) -> TreeSample:
    """One sample of ``pid`` and its descendants. Pass the same ``sampler`` each time for a
    meaningful cpu_percent (the first sample of a process reads 0.0)."""
    return (sampler or TreeSampler(pid)).sample()


class ResourceMonitor:
    """Per-agent tree samplers. ``track``/``untrack`` from the loop, ``sample_all`` in a
    thread. Feed each sample's ``descendants`` to ``AgentProcess.note_descendants`` (or
    use ``seen_descendants``) so a stop can find descendants that left the group."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samplers: dict[str, TreeSampler] = {}

    def track(self, agent_id: str, pid: int, create_time: float | None = None) -> None:
        with self._lock:
            self._samplers[agent_id] = TreeSampler(pid, create_time)

    def untrack(self, agent_id: str) -> None:
        with self._lock:
            self._samplers.pop(agent_id, None)

    def seen_descendants(self, agent_id: str) -> set[tuple[int, float]]:
        with self._lock:
            sampler = self._samplers.get(agent_id)
            return set(sampler.seen) if sampler else set()

    def sample_all(self) -> dict[str, TreeSample]:
        with self._lock:
            samplers = dict(self._samplers)
        return {agent_id: s.sample() for agent_id, s in samplers.items()}


def disk_usage_bytes(path: Path | str) -> int:
    """Total apparent size of the files under ``path`` (hard links counted once,
    symlinks not followed). Files vanishing during the walk are skipped."""
    total = 0
    seen_inodes: set[tuple[int, int]] = set()
    stack = [os.fspath(path)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen_inodes:
                        continue
                    seen_inodes.add(key)
                total += st.st_size
    return total


def disk_free_bytes(path: Path | str) -> int:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return int(psutil.disk_usage(str(p)).free)
