"""SIGKILL the supervisor in the middle of a checkpoint, and between a phase's time running
out and its end being journaled; `supervisor resume` completes the session with nothing
lost and no corrupt checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.checkpoint.coordinator import PAUSE_ENV
from tests.e2e.conftest import (
    Killed,
    Session,
    all_checkpoints_valid,
    assert_dead,
    check_continued,
    check_resumed,
    resume,
    write_config,
)
from tests.integration.conftest import assert_no_session_processes

pytestmark = pytest.mark.slow
ARGS = ("task_queue", "1", "3", "--time-scale", "720", "--seed", "3")


def test_kill_during_checkpoint_write(runs: Path, tmp_path: Path,
                                      sessions: list[Session]) -> None:
    """Killed while a checkpoint is being taken (test hook: paused after its snapshot,
    before its file), with a torn temp file as a write cut short leaves: resume falls back
    to the previous checkpoint, ignores and cleans the torn file, and completes."""
    env = {PAUSE_ENV: "2:60"}  # checkpoint 2 (and later) waits 60 s before its file
    sess = Session(runs, "e2e-ckw", write_config(tmp_path / "c.toml"), *ARGS, env=env)
    sessions.append(sess)
    sess.wait_log("checkpoint_test_pause")
    killed = sess.kill()
    ckdir = killed.root / "checkpoints"
    assert sorted(p.name for p in ckdir.glob("checkpoint_*.msgpack")) == ["checkpoint_001.msgpack"]
    whole = (ckdir / "checkpoint_001.msgpack").read_bytes()
    (ckdir / ".checkpoint_002.msgpack.x1y2z3.tmp").write_bytes(whole[: len(whole) // 2])
    assert_dead(killed.agents)
    assert_no_session_processes(killed.root)
    r = resume(runs, "e2e-ckw")  # the hook is not in this environment
    assert "checkpoint_002.msgpack.x1y2z3.tmp" in r.stderr and "never finished" in r.stderr
    records = check_resumed(killed, r)
    check_continued(killed, records)
    assert 2 in all_checkpoints_valid(killed.root)  # numbering goes on where it was


def test_kill_while_phase_agents_stop(runs: Path, tmp_path: Path,
                                      sessions: list[Session]) -> None:
    """Killed after development's time ran out but before its end was journaled (its agents
    being stopped; emulated exactly by cutting the append-only journal back to that moment):
    resume finishes development, launching no agent for it, and goes on."""
    sess = Session(runs, "e2e-end", write_config(tmp_path / "c.toml"), *ARGS)
    sessions.append(sess)
    sess.wait_for(lambda r: r["k"] == "phase_end" and r["index"] == 1, what="development end")
    killed = sess.kill()
    assert_dead(killed.agents)
    first_exit = next(r for r in killed.records if r["k"] == "agent_exit"
                      and r.get("why") == "phase end" and r["seq"] > _phase_start(killed, 1))
    killed = killed.cut_before(first_exit["seq"])
    assert killed.phase_index() == 1 and not killed.phase_ended()
    assert killed.last_t >= 1800.0  # development (10 + 20 of 60 minutes) was over
    r = resume(runs, "e2e-end")
    records = check_resumed(killed, r)
    after = records[len(killed.records):]
    starts = [x for x in after if x["k"] == "phase_start"]
    assert [x["index"] for x in starts] == [1, 2, 3]
    end_dev = next(x for x in after if x["k"] == "phase_end" and x["index"] == 1)
    assert not [x for x in after if x["k"] == "agent_start" and x["seq"] < end_dev["seq"]]
    assert end_dev["status"] == "completed"


def _phase_start(killed: Killed, index: int) -> int:
    return int(next(r["seq"] for r in killed.records
                    if r["k"] == "phase_start" and r["index"] == index))
