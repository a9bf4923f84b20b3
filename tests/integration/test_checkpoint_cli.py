"""`supervisor checkpoints SESSION`, `checkpoint verify FILE` and `checkpoint show FILE` on
a real finished session, with damaged files among its checkpoints."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import run_mega_test, supervisor_cli

pytestmark = pytest.mark.slow
SID = "ls"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ckcli")
    cfg = base / "c.toml"
    cfg.write_text(f'[control]\nhttp_port = 0\n[project]\ntest_command = ["{sys.executable}", '
                   '"-c", "pass"]\n')
    r = run_mega_test("task_queue", "1", "2", "--time-scale", "1200", "--seed", "2",
                      "--session-id", SID, "--test-runs-dir", str(base / "runs"),
                      "--config", str(cfg), "-q", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return base / "runs" / SID


@pytest.fixture
def runs(finished: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the finished session's test_runs directory, with checkpoint 2
    bit-flipped and checkpoint 3 truncated."""
    runs = tmp_path / "runs"
    shutil.copytree(finished, runs / SID, symlinks=True)
    ck = runs / SID / "checkpoints"
    data = bytearray((ck / "checkpoint_002.msgpack").read_bytes())
    data[-5] ^= 0x01
    (ck / "checkpoint_002.msgpack").write_bytes(bytes(data))
    (ck / "checkpoint_003.msgpack").write_bytes((ck / "checkpoint_003.msgpack").read_bytes()[:40])
    yield runs


def sup(runs: Path, *args: str) -> tuple[int, str, str]:
    r = supervisor_cli("--test-runs-dir", str(runs), *args, timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_checkpoints_lists_every_column_and_marks_damage(runs: Path) -> None:
    """The listing has number, time, phase, trigger, files, size, duration and validity;
    the damaged files are listed as invalid with the reason, the others as valid."""
    code, out, err = sup(runs, "checkpoints", SID, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["number"] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 4
    by = {r["number"]: r for r in rows}
    assert not by[2]["valid"] and "checksum" in by[2]["error"]
    assert not by[3]["valid"] and "truncated" in by[3]["error"]
    for r in rows:
        if r["number"] in (2, 3):
            continue
        assert r["valid"] and r["error"] is None
        assert r["time"] and r["phase"] and r["trigger"]
        # the first checkpoint may come before any agent wrote a file (a loaded machine)
        assert r["files"] > 0 or r["number"] == 1
        assert r["size_bytes"] > 0 and r["duration_ms"] is not None
    assert rows[-1]["trigger"] == "final"
    code, out, err = sup(runs, "checkpoints", SID)
    assert code == 0, err
    for word in ("phase", "trigger", "files", "size", "valid", "NO: ", "truncated", "final"):
        assert word in out, word


def test_checkpoints_verify_flag_checks_objects(runs: Path) -> None:
    """--verify also checks every object: a missing object marks its checkpoint invalid."""
    last = _last_checkpoint(runs)  # the final one: it surely holds files
    show = json.loads(sup(runs, "checkpoint", "show", str(last))[1])
    digest = next(e["sha256"] for e in show["manifest"] if e["kind"] == "file")
    (runs / SID / "snapshots" / "objects" / digest[:2] / digest[2:]).unlink()
    code, out, _ = sup(runs, "checkpoints", SID, "--json", "--verify")
    assert code == 0
    assert not json.loads(out)[-1]["valid"]
    code, out, _ = sup(runs, "checkpoints", SID, "--json")
    assert json.loads(out)[-1]["valid"]  # without --verify only the file itself is read


def _last_checkpoint(runs: Path) -> Path:
    return sorted((runs / SID / "checkpoints").glob("checkpoint_*.msgpack"))[-1]


def test_verify_exit_codes(runs: Path) -> None:
    """verify: 0 and 'ok' for a sound file, 3 for a damaged one, 2 for a bad path."""
    ck = runs / SID / "checkpoints"
    code, out, err = sup(runs, "checkpoint", "verify", str(ck / "checkpoint_001.msgpack"))
    assert code == 0 and ": ok" in out and "every object present" in out, err
    for name, words in (("checkpoint_002.msgpack", "checksum"), ("checkpoint_003.msgpack",
                                                                 "truncated")):
        code, out, err = sup(runs, "checkpoint", "verify", str(ck / name))
        assert code == 3 and words in err and "Traceback" not in err, (name, err)
    for bad in (ck / "checkpoint_999.msgpack", ck):
        code, _, err = sup(runs, "checkpoint", "verify", str(bad))
        assert code == 2 and "Traceback" not in err, (bad, err)


def test_show_prints_json(runs: Path) -> None:
    """show prints the checkpoint as JSON: header fields, counters, the manifest spelled out."""
    last = _last_checkpoint(runs)
    code, out, err = sup(runs, "checkpoint", "show", str(last))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["session_id"] == SID and doc["number"] == int(last.stem.split("_")[1])
    assert doc["format"]
    assert doc["counters"]["tool_calls"] >= 0 and doc["journal_seq"] > 0
    files = [e for e in doc["manifest"] if e["kind"] == "file"]
    assert files and all(len(e["sha256"]) == 64 for e in files)
    code, _, err = sup(runs, "checkpoint", "show",
                       str(runs / SID / "checkpoints" / "checkpoint_003.msgpack"))
    assert code == 3 and "truncated" in err


def test_status_and_metrics_show_the_final_checkpoint(finished: Path) -> None:
    """At the end, status.json and metrics_current.json name the final checkpoint with its
    duration and size, and the count equals the checkpoint records in the journal."""
    records = [json.loads(line) for line in (finished / "events.wal").read_text().splitlines()]
    numbers = [r["number"] for r in records if r["k"] == "checkpoint"]
    status = json.loads((finished / "status.json").read_text())
    metrics = json.loads((finished / "metrics_current.json").read_text())
    for last in (status["last_checkpoint"], metrics["last_checkpoint"]):
        assert last["number"] == numbers[-1] and last["trigger"] == "final"
        assert last["size_bytes"] > 0 and last["duration_ms"] >= 0 and last["files"] > 0
    assert metrics["checkpoint_count"] == len(numbers)
