"""A crashed session whose newest checkpoints are damaged: resume falls back to an older
valid one, says so on stderr, and the journal replay still brings back every event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    Session,
    assert_dead,
    check_continued,
    check_resumed,
    resume,
    write_config,
)

pytestmark = pytest.mark.slow


def test_corrupt_newest_checkpoints_fall_back_with_warning(
        runs: Path, tmp_path: Path, sessions: list[Session]) -> None:
    """Newest checkpoint bit-flipped, the one before truncated: resume warns about both,
    starts from the third newest, and the session completes with nothing lost."""
    cfg = write_config(tmp_path / "c.toml",
                       extra="[checkpoint]\ntool_call_threshold = 40\nkeep_last = 50\n")
    sess = Session(runs, "e2e-fb", cfg, "task_queue", "1", "3", "--time-scale", "720", "--seed", "5")
    sessions.append(sess)
    sess.wait_for(lambda r: r["k"] == "checkpoint" and r["number"] >= 4, what="checkpoint 4")
    killed = sess.kill()
    assert_dead(killed.agents)
    ckdir = killed.root / "checkpoints"
    paths = sorted(ckdir.glob("checkpoint_*.msgpack"))
    newest, second, third = paths[-1], paths[-2], paths[-3]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x10
    newest.write_bytes(bytes(data))
    second.write_bytes(second.read_bytes()[: second.stat().st_size // 3])
    r = resume(runs, "e2e-fb")
    warned = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert any(newest.name in w and third.name in w for w in warned), r.stderr
    assert any(second.name in w and "truncated" in w for w in warned), r.stderr
    # the damaged files stay for inspection, and the report holds them against the
    # session: the critical criterion "all checkpoints valid" fails, so the exit is 1
    bad = {int(p.stem.split("_")[1]) for p in (newest, second)}
    records = check_resumed(killed, r, rc=1, damaged=bad)
    check_continued(killed, records)
    report = json.loads((killed.root / "final_report.json").read_text())
    crit = {c["id"]: c for c in report["criteria"]}["checkpoints_valid"]
    assert crit["status"] == "fail"
    assert all(f"#{n} " in crit["detail"] for n in bad), crit["detail"]
    assert all(c["status"] != "fail" for c in report["criteria"] if c["id"] != "checkpoints_valid")
