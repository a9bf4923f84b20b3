"""psutil samples of agent process trees, and disk usage."""

from __future__ import annotations

import asyncio
import os
import sys

import psutil
import pytest

from supervisor.agents.monitor import (
    ResourceMonitor,
    TreeSampler,
    disk_free_bytes,
    disk_usage_bytes,
    same_process,
    sample_tree,
)
from supervisor.agents.process import AgentProcess
from tests.integration.conftest import load_fake

_load = load_fake


h = _load("harness")

pytestmark = pytest.mark.timeout(60)




def test_sample_counts_children_and_memory(tag, tmp_path):
    """A sample of an agent with 3 children counts 4 processes, their RSS and descendants;
    the monitor remembers descendants and the agent's stop uses them."""

    async def go():
        proc = await AgentProcess.spawn("a1", h.argv("children.py", "3"), h.env_for(tag),
                                        tmp_path, tmp_path / "logs")
        line = b""
        while not line.endswith(b"\n"):
            line += await proc.read_stdout(1)
        mon = ResourceMonitor()
        mon.track("a1", proc.pid, proc.create_time)
        first = (await asyncio.to_thread(mon.sample_all))["a1"]
        second = (await asyncio.to_thread(mon.sample_all))["a1"]
        proc.note_descendants(mon.seen_descendants("a1"))
        res = await proc.stop(5)
        after = await asyncio.to_thread(mon.sample_all)
        mon.untrack("a1")
        untracked = await asyncio.to_thread(mon.sample_all)
        assert untracked == {}
        proc.close()
        return proc, line, first, second, res, after

    proc, line, first, second, res, after = h.run(go())
    children = set(__import__("json").loads(line)["children"])
    assert first.num_procs == 4 and second.num_procs == 4
    assert {pid for pid, _ in first.descendants} == children
    assert all(ctime > 0 for _, ctime in first.descendants)
    assert first.rss_bytes > 3 * 8 * 1024 * 1024
    assert res.how == "terminated"
    assert after["a1"].num_procs == 0 and after["a1"].rss_bytes == 0


def test_cpu_percent_of_a_busy_process(tag, tmp_path):
    """A process spinning on the CPU shows cpu_percent well above zero on its 2nd sample."""
    import subprocess

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], env=h.env_for(tag))
    try:
        sampler = TreeSampler(busy.pid)
        assert sample_tree(busy.pid, sampler).cpu_percent == 0.0  # no base yet
        assert h.wait_until(lambda: sample_tree(busy.pid, sampler).cpu_percent > 10, 5, 0.2)
    finally:
        busy.kill()
        busy.wait(5)


def test_same_process_checks_create_time(tag):
    """same_process and TreeSampler match pid and create time; another create time is
    another process."""
    me = psutil.Process()
    assert same_process(me.pid, me.create_time()) is not None
    assert TreeSampler(me.pid, me.create_time()).sample().num_procs >= 1
    assert TreeSampler(me.pid, me.create_time() - 3.0).sample().num_procs == 0
    assert same_process(me.pid, me.create_time() + 1.0) is None
    assert same_process(me.pid, None) is None


def test_disk_usage_counts_files_once(tmp_path):
    """disk_usage_bytes sums file sizes in the tree, a hard link once, symlinks not followed."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "x.bin").write_bytes(b"1" * 1000)
    (tmp_path / "a" / "y.bin").write_bytes(b"2" * 234)
    (tmp_path / "a" / "b" / "z.bin").write_bytes(b"3" * 5000)
    os.link(tmp_path / "x.bin", tmp_path / "a" / "x_link.bin")
    (tmp_path / "a" / "sym").symlink_to("/usr")
    link_size = os.lstat(tmp_path / "a" / "sym").st_size
    assert disk_usage_bytes(tmp_path) == 1000 + 234 + 5000 + link_size
    assert disk_usage_bytes(tmp_path / "missing") == 0


def test_disk_free_of_missing_path_uses_parent(tmp_path):
    """disk_free_bytes of a path not yet created reports its file system's free space."""
    free = disk_free_bytes(tmp_path / "not" / "yet")
    assert free > 0
    assert abs(free - psutil.disk_usage(str(tmp_path)).free) < 64 * 1024 * 1024
