"""The error log (failures paired with recoveries), checkpoint validity, and the record of
a journal with a crashed run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from supervisor.errors import SessionError
from supervisor.report.checks import checkpoint_validity
from supervisor.report.record import load_record, pair_failures

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "recorded_session"


def failure(seq: int, t: float, ftype: str = "network_timeout", agent: str = "coder-1",
            **kw: Any) -> dict[str, Any]:
    return {"k": "failure", "seq": seq, "t": t, "type": ftype, "agent": agent,
            "message": f"{ftype} happened", "source": "event", **kw}


def recovery(seq: int, t: float, ftype: str = "network_timeout", agent: str | None = "coder-1",
             **kw: Any) -> dict[str, Any]:
    return {"k": "recovery", "seq": seq, "t": t, "type": ftype, "agent": agent, **kw}


def test_recovery_records_attach_to_their_failure_seq() -> None:
    """Pending then recovered records of one failure leave one row: last outcome, most
    tries, the recorded recovery time; interleaved failures keep their own records."""
    rows = pair_failures([
        failure(10, 5.0, severity="transient", action="retry"),
        recovery(11, 5.5, failure_seq=10, action="retry", attempt=1, tries=0,
                 outcome="pending", recovery_seconds=None),
        failure(12, 6.0, "rate_limit", severity="recoverable"),
        recovery(13, 7.0, "rate_limit", failure_seq=12, action="throttle_retry", attempt=1,
                 tries=0, outcome="pending", recovery_seconds=None),
        recovery(14, 9.0, failure_seq=10, action="retry", attempt=1, tries=2,
                 outcome="recovered", recovery_seconds=4.25),
    ])
    assert [(r["type"], r["action"], r["outcome"], r["attempts"], r["recovery_seconds"])
            for r in rows] == [("network_timeout", "retry", "recovered", 2, 4.25),
                               ("rate_limit", "throttle_retry", "pending", 1, None)]


@pytest.mark.parametrize("incidents,expected", [
    # no failure_seq: the latest failure of the same agent and type, time from the failure
    ([failure(1, 10.0), failure(2, 20.0), recovery(3, 26.0, action="retry",
                                                   outcome="recovered")],
     [(None, None, 0, None), ("retry", "recovered", 1, 6.0)]),
    # same type, other agent (a session-level action)
    ([failure(1, 10.0), recovery(2, 12.0, agent=None, action="stop", outcome="failed")],
     [("stop", "failed", 1, 2.0)]),
    # a recovery whose failure is not in the journal gets its own row
    ([recovery(5, 3.0, failure_seq=4, action="retry", outcome="recovered",
               recovery_seconds=1.0)],
     [("retry", "recovered", 1, 1.0)]),
    # nobody acted: the decided action stays, no outcome
    ([failure(1, 10.0, action="escalate")], [("escalate", None, 0, None)]),
])
def test_pairing_fallbacks(incidents: list[dict[str, Any]],
                           expected: list[tuple[Any, ...]]) -> None:
    """Without failure_seq a recovery goes to the latest matching failure; orphans and
    unhandled failures still show."""
    rows = pair_failures(incidents)
    assert [(r["action"], r["outcome"], r["attempts"], r["recovery_seconds"]) for r in rows] \
        == expected


def test_severity_from_config_table_when_not_recorded() -> None:
    """A failure record without severity takes the recovery table's."""
    rows = pair_failures([failure(1, 1.0, "agent_crash"), failure(2, 2.0, severity="transient")],
                         {"agent_crash": "fatal", "network_timeout": "recoverable"})
    assert [r["severity"] for r in rows] == ["fatal", "transient"]


def ck(n: int, trigger: str = "time") -> dict[str, Any]:
    return {"number": n, "trigger": trigger}


@pytest.mark.parametrize("recorded,files,keep,expected", [
    ([ck(1), ck(2)], {1: {"valid": True}, 2: {"valid": True}}, 2, [True, True]),
    ([ck(1), ck(2)], {1: {"valid": True}, 2: {"valid": False, "error": "bad"}}, 2,
     [True, False]),
    ([ck(1), ck(2), ck(3)], {2: {"valid": True}, 3: {"valid": True}}, 2, [None, True, True]),
    ([ck(1), ck(2), ck(3)], {2: {"valid": True}, 3: {"valid": True}}, 3, [False, True, True]),
    ([ck(1, "phase_complete"), ck(2), ck(3)], {2: {"valid": True}, 3: {"valid": True}}, 1,
     [False, True, True]),
    ([ck(1), ck(2)], {1: {"valid": True}}, 1, [True, False]),
])
def test_checkpoint_validity(recorded: list[dict[str, Any]], files: dict[int, dict[str, Any]],
                             keep: int, expected: list[bool | None]) -> None:
    """A missing file is put down to retention only when retention would have deleted it
    (not a phase checkpoint, keep_last newer ones); otherwise it is invalid."""
    rows = checkpoint_validity(recorded, files, keep)
    assert [r["valid"] for r in rows] == expected
    assert all(r["error"] == "file missing" for r in rows if r["valid"] is False
               and r["number"] not in files)


def _line(seq: int, t: float, w: float, kind: str, **f: Any) -> str:
    return json.dumps({"seq": seq, "t": t, "w": w, "k": kind, **f}) + "\n"


def test_wall_time_of_a_crashed_then_resumed_session(tmp_path: Path) -> None:
    """A run that died without session_end counts up to its last record; the resumed run
    adds its own; the session is ended only by the last run's session_end."""
    root = tmp_path / "s"
    root.mkdir()
    shutil.copy(FIXTURE / "config.json", root / "config.json")
    journal = root / "events.wal"
    lines = ['{"seq":0,"k":"journal","schema":1,"format":"megatest-events","w":100.0}\n',
             _line(1, 0.0, 100.0, "session_start"),
             _line(2, 50.0, 110.0, "failure", agent="a", type="agent_crash", severity="fatal")]
    journal.write_text("".join(lines))
    rec = load_record(root)
    assert (rec.wall_seconds, rec.ended, rec.resumes, len(rec.failures)) == (10.0, False, 0, 1)
    with journal.open("a") as fh:
        fh.write(_line(3, 50.0, 200.0, "session_start"))
        fh.write(_line(4, 80.0, 230.0, "session_end", status="completed"))
    rec = load_record(root)
    assert (rec.wall_seconds, rec.ended, rec.end_status, rec.resumes, rec.last_t) == \
        (40.0, True, "completed", 1, 80.0)


def test_not_a_session_directory(tmp_path: Path) -> None:
    """A directory without config.json, or without a journal, is refused with its path."""
    with pytest.raises(SessionError, match="no config.json"):
        load_record(tmp_path)
    shutil.copy(FIXTURE / "config.json", tmp_path / "config.json")
    with pytest.raises(SessionError, match="events.wal"):
        load_record(tmp_path)
