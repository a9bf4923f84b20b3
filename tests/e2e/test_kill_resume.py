"""SIGKILL the supervisor of a real simulated session early in bootstrap, mid-phase and
right after a phase change, then `supervisor resume` it: the session completes, nothing
journaled before the kill is lost, no checkpoint is corrupt, no agent of the killed
supervisor survives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import (
    Rec,
    Session,
    assert_dead,
    check_continued,
    check_resumed,
    resume,
    write_config,
)
from tests.integration.conftest import assert_no_session_processes

pytestmark = pytest.mark.slow
# scale 480: bootstrap lasts 1.25 s of wall time, development 2.5 s, room enough for the
# kill to land where the test means it even on a busy machine
ARGS = ("task_queue", "1", "3", "--time-scale", "480", "--seed", "3")


def _tool_calls_after(sess: Session, start: Rec, n: int) -> Rec:
    seen = 0

    def pred(r: Rec) -> bool:
        nonlocal seen
        if r["k"] == "ev" and r["e"]["type"] == "tool_call" and r["seq"] > start["seq"]:
            seen += 1
        return seen >= n
    return sess.wait_for(pred, what=f"{n} tool calls")


def test_kill_early_in_bootstrap(runs: Path, tmp_path: Path, sessions: list[Session]) -> None:
    """Killed before the first checkpoint, the journal ending in a torn record: resume
    rebuilds everything from the journal and drops the torn tail."""
    sess = Session(runs, "e2e-boot", write_config(tmp_path / "c.toml"), *ARGS)
    sessions.append(sess)
    first = sess.wait_for(lambda r: r["k"] == "ev" and r["e"]["type"] == "tool_call",
                          what="the first tool call")
    _tool_calls_after(sess, first, 3)
    killed = sess.kill()
    assert not any(r["k"] == "checkpoint" for r in killed.records)
    assert killed.agents, "no agent had started"
    assert_dead(killed.agents)  # parent-death signal: gone before anyone reaped them
    assert_no_session_processes(killed.root)
    with open(killed.root / "events.wal", "ab") as fh:  # as a power loss mid-write leaves it
        fh.write(b'{"seq":%d,"t":1.0,"k":"ev","a":"coder-2","e":{"type":"tok' % (killed.last_seq + 1))
    r = resume(runs, "e2e-boot")
    records = check_resumed(killed, r)
    check_continued(killed, records)


def test_kill_mid_development(runs: Path, tmp_path: Path, sessions: list[Session]) -> None:
    """Killed mid-phase after a checkpoint: the phase and the agents' work continue, and
    the project's tests still pass at the end."""
    cfg = write_config(tmp_path / "c.toml", project_tests=True,
                       extra="[checkpoint]\ntool_call_threshold = 30\n")  # one early in the phase
    sess = Session(runs, "e2e-dev", cfg, *ARGS)
    sessions.append(sess)
    cp = sess.wait_for(lambda r: r["k"] == "checkpoint" and r.get("phase") == "development",
                       what="a checkpoint in development")
    _tool_calls_after(sess, cp, 15)
    killed = sess.kill()
    assert killed.phase_index() == 1 and not killed.phase_ended()
    assert_dead(killed.agents)
    assert_no_session_processes(killed.root)
    r = resume(runs, "e2e-dev")
    records = check_resumed(killed, r)
    check_continued(killed, records)
    final = [x for x in records if x["k"] == "final_tests"][-1]["tests"]
    assert final["passed"] > 0 and final["failed"] == 0 and final["errors"] == 0


def test_kill_right_after_phase_change(runs: Path, tmp_path: Path,
                                       sessions: list[Session]) -> None:
    """Killed the moment refinement starts: resume runs refinement, not development again."""
    sess = Session(runs, "e2e-chg", write_config(tmp_path / "c.toml"), *ARGS)
    sessions.append(sess)
    sess.wait_for(lambda r: r["k"] == "phase_start" and r["index"] == 2, what="refinement")
    killed = sess.kill()
    assert killed.phase_index() == 2
    assert_dead(killed.agents)
    assert_no_session_processes(killed.root)
    r = resume(runs, "e2e-chg")
    records = check_resumed(killed, r)
    check_continued(killed, records)
    names = [x["name"] for x in records[len(killed.records):] if x["k"] == "phase_start"]
    assert names == ["refinement", "finalization"]
