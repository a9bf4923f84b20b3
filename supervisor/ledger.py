"""The ledger: the journal and the counters kept in step.

Everything that changes a counter goes through here: it is written to ``events.wal``
first and applied to the ``Counters`` after, so what the report says is what the journal
holds. ``replay`` rebuilds the counters from a journal (resume after a crash).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supervisor.agents.protocol import Event, event_from_object
from supervisor.clock import Clock
from supervisor.counters import Counters
from supervisor.session.journal import EVENT_KIND, Journal, Record, read_journal
from supervisor.session.publisher import JOURNAL, Publisher, Update


class Ledger:
    """``publisher``: every record journaled is also published as a ``journal`` update,
    built only when a subscriber wants those (``Publisher.wants``)."""

    def __init__(self, journal_path: Path, counters: Counters | None = None,
                 clock: Clock | None = None, publisher: Publisher | None = None):
        if clock is not None:
            self.journal = Journal(journal_path, clock_wall=clock.wall,
                                   clock_monotonic=clock.monotonic)
        else:
            self.journal = Journal(journal_path)
        self.counters = counters or Counters()
        self.publisher = publisher

    @property
    def last_seq(self) -> int:
        return self.journal.last_seq

    def agent_events(self, agent_id: str, t: float, events: Sequence[Event]) -> None:
        if not events:
            return
        last = self.counters.last_seq = self.journal.append_events(agent_id, t, events)
        apply = self.counters.apply_event
        for ev in events:
            apply(agent_id, ev.type, ev.fields, t)
        pub = self.publisher
        if pub is not None and pub.wants(JOURNAL):
            self._publish_events(pub, agent_id, t, events, last)

    def _publish_events(self, pub: Publisher, agent_id: str, t: float,
                        events: Sequence[Event], last: int) -> None:
        w, tr = self.journal.last_wall, round(t, 3)
        for seq, ev in enumerate(events, last - len(events) + 1):
            pub.publish(Update(JOURNAL, {"seq": seq, "t": tr, "w": w, "k": EVENT_KIND,
                                         "a": agent_id, "e": ev.fields}))

    def record(self, kind: str, t: float, **fields: Any) -> int:
        seq = self.journal.append(kind, t, **fields)
        self.counters.last_seq = seq
        self.counters.apply_record(kind, fields, t)
        pub = self.publisher
        if pub is not None and pub.wants(JOURNAL):
            pub.publish(Update(JOURNAL, {"seq": seq, "t": round(t, 3),
                                         "w": self.journal.last_wall, "k": kind, **fields}))
        return seq

    def sync(self) -> None:
        self.journal.sync()

    def close(self) -> None:
        self.journal.close()


def fold(counters: Counters, rec: Record) -> dict[str, Any] | None:
    """Apply one journal record to ``counters`` exactly as it was applied live.

    Agent events are re-checked and normalised by the protocol (as at intake); returns the
    event's fields for agent events, None for supervisor records.
    """
    fields: dict[str, Any] | None = None
    if rec.kind == "ev" and rec.event is not None and rec.agent is not None:
        ev = event_from_object(rec.event)
        if isinstance(ev, Event):
            fields = ev.fields
            counters.apply_event(rec.agent, ev.type, fields, rec.t)
    else:
        counters.apply_record(rec.kind, rec.fields, rec.t)
    counters.last_seq = rec.seq
    return fields


def replay(journal_path: Path, counters: Counters, after_seq: int = 0) -> tuple[Counters, float]:
    """Apply every record after ``after_seq`` to ``counters``; returns them and the last ``t``."""
    last_t = 0.0
    for rec in read_journal(journal_path, after_seq=after_seq):
        fold(counters, rec)
        last_t = max(last_t, rec.t)
    return counters, last_t
