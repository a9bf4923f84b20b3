"""The session's status publisher: one place that tells every watcher what changed.

The session publishes ``Update``s; subscribers (``status.json`` writing, the console view,
the HTTP server's live clients, the dashboard) each get every update, on the session loop,
in the order published. A subscriber must not block and must not raise: one that raises is
logged and dropped, so a broken watcher never harms the session or the other watchers.

Kinds of update and their ``data``:

- ``"status"``: the status snapshot (the dict ``status.json`` holds);
- ``"event"``: ``{"text": str, "level": str}``, a line a person should see
  (phase started, checkpoint taken, paused, alert ...);
- ``"journal"``: one journal record as written to ``events.wal``
  (``{"seq", "t", "w", "k", ...}``; agent events ``{"seq", "t", "w", "k": "ev", "a", "e"}``);
  only built when somebody subscribes (``has_subscribers``), as intake is a hot path;
- ``"finished"``: the final status snapshot, once, when the session has ended.

A subscriber may name the kinds it wants (``subscribe(sub, kinds={"status"})``); by default
it gets every kind. ``wants(kind)`` says whether anybody would receive an update of that
kind: the session's own subscribers (``status.json``, the console) do not take journal
records, so a session nobody watches live builds no journal updates at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from supervisor import logs

log = logs.get("publisher")

STATUS = "status"
EVENT = "event"
JOURNAL = "journal"
FINISHED = "finished"
KINDS = frozenset({STATUS, EVENT, JOURNAL, FINISHED})


@dataclass(frozen=True)
class Update:
    kind: str  # "status", "event", "journal" or "finished" (see the module docstring)
    data: Mapping[str, Any]


class Subscriber(Protocol):
    def notify(self, update: Update) -> None:
        """Called on the session loop; must not block or raise."""
        ...


class UpdateSource(Protocol):
    """What a watcher outside the session (the HTTP server, the dashboard) may do with the
    publisher: subscribe, and unsubscribe through the function it gets back."""

    def subscribe(self, sub: Subscriber,
                  kinds: Collection[str] | None = None) -> Callable[[], None]: ...


class Publisher:
    """Fan-out of updates to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subs: tuple[tuple[Subscriber, frozenset[str]], ...] = ()
        self._wanted: frozenset[str] = frozenset()

    def subscribe(self, sub: Subscriber,
                  kinds: Collection[str] | None = None) -> Callable[[], None]:
        """Add ``sub`` (for ``kinds``, default all); returns its unsubscribe (idempotent)."""
        wanted = KINDS if kinds is None else frozenset(kinds)
        unknown = wanted - KINDS
        if unknown:
            raise ValueError(f"unknown update kinds {sorted(unknown)}; known: {sorted(KINDS)}")
        self._set((*self._subs, (sub, wanted)))

        def unsubscribe() -> None:
            self._drop(sub)

        return unsubscribe

    def _set(self, subs: tuple[tuple[Subscriber, frozenset[str]], ...]) -> None:
        self._subs = subs
        self._wanted = frozenset().union(*(k for _, k in subs))

    def _drop(self, sub: Subscriber) -> None:
        # by identity: two equal subscribers are still two subscriptions
        self._set(tuple(entry for entry in self._subs if entry[0] is not sub))

    def publish(self, update: Update) -> None:
        """Give ``update`` to every subscriber of its kind; a raising one is logged and
        dropped. A subscriber added or removed meanwhile takes effect from the next one."""
        for sub, kinds in self._subs:  # a tuple: (un)subscribing replaces it, safe here
            if update.kind not in kinds:
                continue
            try:
                sub.notify(update)
            except Exception as e:  # noqa: BLE001 - a watcher's bug must not stop the session
                log.exception("subscriber_failed", subscriber=type(sub).__name__,
                              kind=update.kind, error=str(e))
                self._drop(sub)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subs)

    def wants(self, kind: str) -> bool:
        """Would an update of ``kind`` reach anybody? (Cheap: check before building one.)"""
        return kind in self._wanted

    # ---- conveniences for the session (all go through ``publish``) ----
    def status(self, snapshot: Mapping[str, Any]) -> None:
        self.publish(Update(STATUS, snapshot))

    def event(self, text: str, level: str = "info") -> None:
        self.publish(Update(EVENT, {"text": text, "level": level}))

    def finished(self, snapshot: Mapping[str, Any]) -> None:
        self.publish(Update(FINISHED, snapshot))
