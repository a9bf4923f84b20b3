"""`supervisor restore --checkpoint FILE` on a real finished session: the project tree is
exactly the checkpoint's, the session runs on from there with the saved agent states, and
every bad or foreign file is refused without writing anything outside the session."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from supervisor.checkpoint.format import Entry, build_frame, write_checkpoint
from supervisor.checkpoint.restore import plan_restore
from supervisor.checkpoint.snapshot import SnapshotStore
from supervisor.checkpoint.store import CheckpointStore, decode_manifest, read_checkpoint
from supervisor.clock import Clock
from supervisor.errors import CheckpointMismatch
from supervisor.report.record import load_record
from supervisor.runner import SessionRunner
from supervisor.session.journal import read_journal
from tests.integration.conftest import assert_no_session_processes, run_mega_test, supervisor_cli

pytestmark = pytest.mark.slow
SID = "rs"
EXCLUDES = (".git", ".venv", "node_modules", "__pycache__", ".cache")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One completed 1-hour, 3-agent session (fast test command), shared read-only."""
    base = tmp_path_factory.mktemp("restore")
    import sys

    cfg = base / "c.toml"
    cfg.write_text(f'[control]\nhttp_port = 0\n[project]\ntest_command = ["{sys.executable}", '
                   '"-c", "pass"]\n')
    runs = base / "runs"
    r = run_mega_test("task_queue", "1", "3", "--time-scale", "720", "--seed", "11",
                      "--session-id", SID, "--test-runs-dir", str(runs), "--config", str(cfg),
                      "-q", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return runs / SID


@pytest.fixture
def session(finished: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the finished session."""
    root = tmp_path / "runs" / SID
    shutil.copytree(finished, root, symlinks=True)
    yield root
    assert_no_session_processes(root)


def checkpoint(root: Path, pred: Any) -> Path:
    recs = [r for r in read_journal(root / "events.wal") if r.kind == "checkpoint"]
    rec = next(r for r in recs if pred(r.fields))
    return root / "checkpoints" / f"checkpoint_{rec.fields['number']:03d}.msgpack"


def tree_differences(project: Path, manifest: list[Entry], store: SnapshotStore) -> list[str]:
    """Everything in ``project`` (excludes aside) that differs from ``manifest``, byte for
    byte: paths, kinds, permission bits, file contents, link targets."""
    have: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDES]
        for name in dirnames + [f for f in filenames if f not in EXCLUDES]:
            full = os.path.join(dirpath, name)
            have[os.path.relpath(full, project)] = os.lstat(full)
    want = {e.path: e for e in manifest}
    out = [f"extra {p}" for p in sorted(have.keys() - want.keys())]
    out += [f"missing {p}" for p in sorted(want.keys() - have.keys())]
    for rel in sorted(have.keys() & want.keys()):
        e, st = want[rel], have[rel]
        if e.kind == "symlink":
            if not stat.S_ISLNK(st.st_mode) or os.readlink(project / rel) != e.target:
                out.append(f"link {rel}")
            continue
        if stat.S_IMODE(st.st_mode) != e.mode:
            out.append(f"mode {rel}: {oct(stat.S_IMODE(st.st_mode))} != {oct(e.mode)}")
        if e.kind == "dir":
            if not stat.S_ISDIR(st.st_mode):
                out.append(f"kind {rel}")
        elif not stat.S_ISREG(st.st_mode):
            out.append(f"kind {rel}")
        else:
            with open(store.object_path(e.digest or ""), "rb") as fh:
                if (project / rel).read_bytes() != fh.read():
                    out.append(f"content {rel}")
    return out


def mess_up(project: Path) -> None:
    """Change the tree every way a restore must undo."""
    files = sorted(p for p in project.rglob("*.py") if "__pycache__" not in p.parts)
    files[0].write_text("# changed after the checkpoint\n")
    files[1].unlink()
    files[2].chmod(0o600)
    (project / "added_later.py").write_text("x = 1\n")
    (project / "new_dir" / "deep").mkdir(parents=True)
    (project / "new_dir" / "deep" / "f.txt").write_bytes(b"\x00\x01")
    (project / "a_link").symlink_to("added_later.py")


def outside_state(base: Path, session_root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every path under ``base`` that is not in the session."""
    out = {}
    for p in base.rglob("*"):
        if session_root in p.parents or p == session_root:
            continue
        st = p.lstat()
        out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def restore(*args: str) -> Any:
    return supervisor_cli("restore", *args, "-q", timeout=120)


def test_plan_restore_makes_tree_identical_to_manifest(session: Path) -> None:
    """Right after plan_restore (no agent yet) project/ equals the manifest byte for byte;
    agent states are the checkpoint's; the journal and a new checkpoint record the restore."""
    ck = checkpoint(session, lambda f: f["trigger"] == "phase_complete")
    body = read_checkpoint(ck)
    manifest = decode_manifest(body["manifest"], str(ck))
    mess_up(session / "project")
    stray = session / "agents" / "not-in-checkpoint"
    stray.mkdir()
    (stray / "state.json").write_text("{}")
    seq_before = max(r.seq for r in read_journal(session / "events.wal"))
    layout, cfg, point, warnings = plan_restore(ck)
    store = SnapshotStore(session / "snapshots")
    assert tree_differences(session / "project", manifest, store) == []
    assert layout.root == session and warnings == []
    assert point.elapsed == body["elapsed"] and point.reason == "restore"
    assert point.agent_states == body["agent_states"]
    for aid, data in body["agent_states"].items():
        assert json.loads((session / "agents" / aid / "state.json").read_text()) == data
    assert not (stray / "state.json").exists()
    new = [r for r in read_journal(session / "events.wal") if r.seq > seq_before]
    assert [r.kind for r in new] == ["restore", "checkpoint"]
    assert new[0].fields["checkpoint"] == body["number"]
    cstore = CheckpointStore(session / "checkpoints", store)
    info, newest = cstore.newest_valid() or (None, None)
    assert info is not None and newest is not None
    assert info.number == new[1].fields["number"] == point.extra["checkpoint"]
    assert newest["trigger"] == "restore" and newest["manifest"] == body["manifest"]
    assert newest["journal_seq"] == new[0].seq
    assert newest["counters"]["tool_calls"] == load_record(session).counters.tool_calls
    runner = SessionRunner(cfg, layout, Clock(), resume=point)  # not run: its starting state
    try:
        last = runner.checkpoints.last
        assert last is not None and last["number"] == info.number and last["trigger"] == "restore"
        assert runner.counters.tool_calls == newest["counters"]["tool_calls"]
    finally:
        runner.ledger.close()


def test_cli_restore_mid_phase_runs_on_with_saved_agent_states(session: Path) -> None:
    """Restoring a mid-development checkpoint reruns the rest of development and the later
    phases, agents continuing from their saved states, and the session completes."""
    ck = checkpoint(session,
                    lambda f: f["phase"] == "development" and f["trigger"] != "phase_complete")
    body = read_checkpoint(ck)
    seq_before = max(r.seq for r in read_journal(session / "events.wal"))
    r = restore("--checkpoint", str(ck))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (session / "status").read_text().strip() == "completed"
    after = [x for x in read_journal(session / "events.wal") if x.seq > seq_before]
    starts = [x for x in after if x.kind == "phase_start"]
    assert [x.fields["name"] for x in starts] == ["development", "refinement", "finalization"]
    assert abs(starts[0].t - body["elapsed"]) < 5.0
    checked = 0
    for aid, saved in body["agent_states"].items():
        if saved.get("phase") != "development":
            continue
        first = next((x.event["data"] for x in after if x.kind == "ev" and x.agent == aid
                      and x.event and x.event["type"] == "state"), None)
        assert first is not None, aid
        assert first["phase"] == "development"
        assert first["step"] >= saved["step"] and first["tasks_done"] >= saved["tasks_done"]
        checked += 1
    assert checked > 0
    report = json.loads((session / "final_report.json").read_text())
    assert report["totals"] == load_record(session).counters.totals()
    store = CheckpointStore(session / "checkpoints", SnapshotStore(session / "snapshots"))
    assert all(i.valid for i in store.list(verify_objects=True))


def test_cli_restore_final_checkpoint_gives_identical_tree(session: Path) -> None:
    """Through the CLI, restoring the final checkpoint (no phase left to run, so no agent
    touches the files) leaves project/ byte for byte as its manifest."""
    ck = checkpoint(session, lambda f: f["trigger"] == "final")
    manifest = decode_manifest(read_checkpoint(ck)["manifest"], str(ck))
    mess_up(session / "project")
    r = restore("--checkpoint", str(ck))
    assert r.returncode == 0, r.stdout + r.stderr
    store = SnapshotStore(session / "snapshots")
    assert tree_differences(session / "project", manifest, store) == []


def test_config_mismatch_refused_unless_forced(session: Path) -> None:
    """A checkpoint taken under another config is refused (exit 3, nothing changed);
    --force restores it anyway."""
    cfg = json.loads((session / "config.json").read_text())
    cfg["checkpoint"]["keep_last"] += 5  # a setting in the config hash
    (session / "config.json").write_text(json.dumps(cfg))
    ck = checkpoint(session, lambda f: f["trigger"] == "final")
    (session / "project" / "added_later.py").write_text("x = 1\n")
    r = restore("--checkpoint", str(ck))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "different config" in r.stderr and "--force" in r.stderr
    assert "Traceback" not in r.stderr
    assert (session / "project" / "added_later.py").exists()
    r = restore("--checkpoint", str(ck), "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (session / "project" / "added_later.py").exists()


def test_unknown_schema_refused_even_forced(session: Path) -> None:
    """A checkpoint file of a newer schema is refused with exit 3, --force or not."""
    ck = checkpoint(session, lambda f: f["trigger"] == "final")
    data = ck.read_bytes()
    head_len = int.from_bytes(data[8:12], "big")
    header = msgpack.unpackb(data[16:16 + head_len], raw=False)
    header["schema"] = 99
    forged = session / "checkpoints" / "checkpoint_090.msgpack"
    forged.write_bytes(build_frame(header, data[16 + head_len:]))
    for extra in ((), ("--force",)):
        r = restore("--checkpoint", str(forged), *extra)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "schema" in r.stderr and "Traceback" not in r.stderr


def test_checkpoint_of_another_session_refused(session: Path) -> None:
    """A checkpoint whose body names another session is refused, even with --force."""
    ck = checkpoint(session, lambda f: f["trigger"] == "final")
    body = read_checkpoint(ck)
    body["session_id"] = "some-other-session"
    forged = session / "checkpoints" / "checkpoint_091.msgpack"
    write_checkpoint(forged, body)
    for extra in ((), ("--force",)):
        r = restore("--checkpoint", str(forged), *extra)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "some-other-session" in r.stderr and "Traceback" not in r.stderr


def test_bad_paths_exit_2(session: Path, tmp_path: Path) -> None:
    """A missing file, a directory, or a checkpoint outside a session: exit 2, no traceback."""
    ck = checkpoint(session, lambda f: f["trigger"] == "final")
    loose = tmp_path / "loose.msgpack"
    shutil.copy(ck, loose)
    cases = {str(tmp_path / "nope.msgpack"): "no checkpoint file",
             str(session / "checkpoints"): "not a file",
             str(loose): "not in the checkpoints/ directory"}
    for path, words in cases.items():
        r = restore("--checkpoint", path)
        assert r.returncode == 2, (path, r.stdout + r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr


def _forge_manifest(session: Path, number: int, rows: list[list[Any]]) -> Path:
    ck = checkpoint(session, lambda f: f["trigger"] == "final")
    body = read_checkpoint(ck)
    body["manifest"] = rows
    forged = session / "checkpoints" / f"checkpoint_{number:03d}.msgpack"
    write_checkpoint(forged, body)
    return forged


def test_escaping_manifests_refused_and_nothing_written_outside(session: Path,
                                                                 tmp_path: Path) -> None:
    """Manifests with '..', an absolute path, or a file under a link that leaves project/
    are refused (exit 3); nothing outside the session is written, project/ is untouched."""
    body = read_checkpoint(checkpoint(session, lambda f: f["trigger"] == "final"))
    good = next(r for r in body["manifest"] if r[1] == 0)  # [path, 0, mode, size, digest]
    cases = [
        [["../escaped.py", 0, 0o644, good[3], good[4]]],
        [["a/../../escaped.py", 0, 0o644, good[3], good[4]]],
        [[str(tmp_path / "abs.py"), 0, 0o644, good[3], good[4]]],
        [["up", 2, "../../.."], ["up/escaped.py", 0, 0o644, good[3], good[4]]],
        [["up", 2, "/tmp"]],
    ]
    before = outside_state(tmp_path, session)
    project_before = {str(p): p.lstat().st_mtime_ns for p in (session / "project").rglob("*")}
    for i, rows in enumerate(cases):
        forged = _forge_manifest(session, 80 + i, rows)
        r = restore("--checkpoint", str(forged), "--force")
        assert r.returncode == 3, (rows, r.stdout + r.stderr)
        assert "manifest" in r.stderr and "Traceback" not in r.stderr
    assert outside_state(tmp_path, session) == before
    assert not list(tmp_path.rglob("escaped.py")) and not (tmp_path / "abs.py").exists()
    assert {str(p): p.lstat().st_mtime_ns for p in (session / "project").rglob("*")} \
        == project_before


def test_project_that_is_a_link_is_not_followed(session: Path, tmp_path: Path) -> None:
    """A session whose project/ was replaced by a link out of it: restore refuses and the
    link's target is left untouched."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    shutil.rmtree(session / "project")
    (session / "project").symlink_to(outside)
    r = restore("--checkpoint", str(checkpoint(session, lambda f: f["trigger"] == "final")))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "symbolic link" in r.stderr and "Traceback" not in r.stderr
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]


def test_mismatch_error_type(session: Path) -> None:
    """plan_restore raises CheckpointMismatch (exit code 3) for a foreign config hash."""
    cfg = json.loads((session / "config.json").read_text())
    cfg["checkpoint"]["keep_last"] += 1
    (session / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointMismatch) as err:
        plan_restore(checkpoint(session, lambda f: f["trigger"] == "final"))
    assert err.value.exit_code == 3
