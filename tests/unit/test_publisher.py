"""The status publisher: fan-out, kinds, failing subscribers, and its three session
subscribers (journal records from the ledger, status.json, the console view)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from supervisor.agents.protocol import Event, parse_line
from supervisor.clock import FakeClock
from supervisor.console import VIEW_KINDS, SessionView
from supervisor.ledger import Ledger
from supervisor.session.layout import SessionLayout
from supervisor.session.publisher import EVENT, JOURNAL, STATUS, Publisher, Update
from supervisor.session.status import STATUS_FILE_KINDS, StatusFile, read_status_word


class Collect:
    def __init__(self, name: str = "", log: list[tuple[str, str]] | None = None) -> None:
        self.name = name
        self.updates: list[Update] = []
        self.log = log

    def notify(self, update: Update) -> None:
        self.updates.append(update)
        if self.log is not None:
            self.log.append((self.name, update.kind))


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def notify(self, update: Update) -> None:
        self.calls += 1
        raise RuntimeError("watcher bug")


def test_every_subscriber_gets_every_update_in_order() -> None:
    """Each subscriber sees each update, subscribers in the order they subscribed."""
    pub = Publisher()
    order: list[tuple[str, str]] = []
    a, b = Collect("a", order), Collect("b", order)
    pub.subscribe(a)
    pub.subscribe(b)
    pub.status({"status": "running"})
    pub.event("phase 1/4 started")
    assert order == [("a", STATUS), ("b", STATUS), ("a", EVENT), ("b", EVENT)]
    assert a.updates[1].data == {"text": "phase 1/4 started", "level": "info"}


def test_kinds_filter_and_wants() -> None:
    """A subscriber for some kinds gets only those; ``wants`` says whether a kind reaches
    anybody, so journal updates are not even built for a session nobody watches live."""
    pub = Publisher()
    assert not pub.has_subscribers and not pub.wants(JOURNAL)
    status_only = Collect()
    pub.subscribe(status_only, {STATUS})
    assert pub.has_subscribers and pub.wants(STATUS) and not pub.wants(JOURNAL)
    pub.publish(Update(JOURNAL, {"seq": 1}))
    pub.status({"status": "running"})
    assert [u.kind for u in status_only.updates] == [STATUS]
    everything = Collect()
    off = pub.subscribe(everything)
    assert pub.wants(JOURNAL)
    off()
    off()  # idempotent
    assert not pub.wants(JOURNAL)
    with pytest.raises(ValueError, match="unknown update kinds"):
        pub.subscribe(Collect(), {"nonsense"})


def test_a_raising_subscriber_is_dropped_and_the_others_still_served() -> None:
    """A subscriber that raises is logged and dropped; the one after it still gets the
    update and every later one."""
    pub = Publisher()
    broken, good = Broken(), Collect()
    pub.subscribe(broken)
    pub.subscribe(good)
    pub.status({"n": 1})
    pub.status({"n": 2})
    assert broken.calls == 1
    assert [u.data["n"] for u in good.updates] == [1, 2]


def test_unsubscribing_while_notified_takes_effect_from_the_next_update() -> None:
    """A subscriber that unsubscribes another during a fan-out does not break it."""
    pub = Publisher()
    later = Collect()
    offs: list[Any] = []

    class Remover:
        def notify(self, update: Update) -> None:
            offs[0]()

    pub.subscribe(Remover())
    offs.append(pub.subscribe(later))
    pub.status({"n": 1})
    pub.status({"n": 2})
    assert [u.data["n"] for u in later.updates] == [1]


def _events(*lines: bytes) -> list[Event]:
    out = []
    for line in lines:
        ev = parse_line(line)
        assert isinstance(ev, Event)
        out.append(ev)
    return out


def test_ledger_publishes_each_record_as_written_to_the_journal(tmp_path: Path) -> None:
    """Every journal record (agent events and supervisor records) is published with the
    same content as its line in events.wal."""
    pub = Publisher()
    seen = Collect()
    pub.subscribe(seen, {JOURNAL})
    ledger = Ledger(tmp_path / "events.wal", clock=FakeClock(), publisher=pub)
    ledger.record("phase_start", 1.25, index=0, name="development", agents=["coder-1"])
    ledger.agent_events("coder-1", 2.5, _events(
        b'{"type":"tool_call","name":"edit_file","ok":true,"duration_ms":3.5}',
        b'{"type":"heartbeat"}'))
    ledger.close()
    written = [json.loads(line) for line in (tmp_path / "events.wal").read_text().splitlines()]
    assert [dict(u.data) for u in seen.updates] == written[1:]  # all but the header
    assert [u.data["seq"] for u in seen.updates] == [1, 2, 3]


def test_ledger_builds_no_journal_update_without_a_journal_subscriber(tmp_path: Path) -> None:
    """The status.json writer alone does not make the ledger publish journal records."""
    pub = Publisher()
    status = Collect()
    pub.subscribe(status, STATUS_FILE_KINDS)
    ledger = Ledger(tmp_path / "events.wal", clock=FakeClock(), publisher=pub)
    ledger.agent_events("coder-1", 1.0, _events(b'{"type":"heartbeat"}'))
    ledger.record("command", 1.0, command="status", source="signal")
    ledger.close()
    assert status.updates == []


def test_status_file_subscriber_writes_the_snapshot(tmp_path: Path) -> None:
    """status and status.json follow the latest status (and the final) snapshot."""
    layout = SessionLayout(tmp_path / "s1")
    layout.root.mkdir()
    pub = Publisher()
    pub.subscribe(StatusFile(layout), STATUS_FILE_KINDS)
    pub.status({"status": "running", "progress_percent": 12.5})
    assert read_status_word(layout.root) == "running"
    pub.finished({"status": "completed", "progress_percent": 100.0})
    assert read_status_word(layout.root) == "completed"
    assert json.loads(layout.status_json.read_text())["progress_percent"] == 100.0


def test_status_file_subscriber_survives_a_failed_write(tmp_path: Path) -> None:
    """A write that fails (the directory is gone) is counted and logged, not raised, so
    the subscriber stays subscribed and writes again once it can."""
    layout = SessionLayout(tmp_path / "gone")
    writer = StatusFile(layout)
    pub = Publisher()
    pub.subscribe(writer, STATUS_FILE_KINDS)
    pub.status({"status": "running"})
    assert writer.failures == 1 and pub.has_subscribers
    layout.root.mkdir()
    pub.status({"status": "paused"})
    assert read_status_word(layout.root) == "paused"


def test_console_view_is_a_subscriber() -> None:
    """The plain console view prints events and decile progress lines from updates."""
    out = io.StringIO()
    view = SessionView(stream=out, live=False)
    pub = Publisher()
    pub.subscribe(view, VIEW_KINDS)
    pub.event("phase 1/4 bootstrap started (2 agents)")
    pub.status({"progress_percent": 31.0, "phase": {"name": "bootstrap"},
                "totals": {"tokens": 1200, "tool_calls": 7}})
    pub.publish(Update(JOURNAL, {"seq": 9}))  # not a view kind: never reaches it
    text = out.getvalue()
    assert "phase 1/4 bootstrap started (2 agents)" in text
    assert " 31.0%  phase bootstrap  tokens 1,200  tool calls 7" in text
    assert "seq" not in text
