"""Alerts: what a human must know now (a pause for disk space, an escalation, the budget).

Every alert goes to the log (and, through ``on_event``, the session's publisher), to the journal as an ``alert`` record,
to the recent-alerts list that ``status.json`` shows, and, when ``[notifications]`` is
enabled with a ``webhook_url`` and ``"error"`` among its ``events``, to the webhook as a
JSON POST. The POST runs in the background with tenacity retries (3 attempts,
exponential waits; HTTP 429 and 5xx and connection errors are retried, other 4xx are
not) and a bounded timeout per attempt; a failing or slow webhook is logged and never
harms the session.

Webhook body (schema 1)::

    {"schema_version": 1, "event": "alert", "session_id": ..., "kind": "disk_full",
     "severity": "critical", "message": ..., "agent": null, "t": 123.4, "wall": 1.8e9, ...}
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from supervisor import logs
from supervisor.config.schema import NotificationsSpec

log = logs.get("alerts")

PAYLOAD_SCHEMA = 1
KEEP_ALERTS = 20
WEBHOOK_EVENT = "error"  # the [notifications] events entry alerts belong to
SEVERITY_LEVELS = {"info": "info", "warning": "warning", "critical": "error"}

Post = Callable[[str, dict[str, Any]], Awaitable[int]]
Sleep = Callable[[float], Awaitable[None]]
Record = Callable[[dict[str, Any]], None]


class _Retryable(Exception):
    """A webhook answer worth another try (429, 5xx)."""


async def aiohttp_post(url: str, payload: dict[str, Any], timeout: float = 5.0) -> int:
    """POST ``payload`` as JSON; the HTTP status."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        async with session.post(url, json=payload) as resp:
            return resp.status


class Notifier:
    def __init__(self, spec: NotificationsSpec, session_id: str, *,
                 record: Record | None = None, post: Post | None = None,
                 sleep: Sleep | None = None, attempts: int = 3, timeout: float = 5.0,
                 on_event: Callable[[str, str], None] | None = None):
        self.spec = spec
        self.session_id = session_id
        self.record = record
        self.on_event = on_event  # (text, level): a line for the console and live clients
        self._post = post or (lambda url, body: aiohttp_post(url, body, timeout))
        self._sleep = sleep or asyncio.sleep
        self.attempts = attempts
        self.alerts: deque[dict[str, Any]] = deque(maxlen=KEEP_ALERTS)
        self.sent = 0
        self.failed = 0
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def webhook_enabled(self) -> bool:
        s = self.spec
        return bool(s.enabled and s.webhook_url.strip() and WEBHOOK_EVENT in s.events)

    def alert(self, kind: str, message: str, severity: str = "warning",
              agent: str | None = None, t: float | None = None, wall: float | None = None,
              **data: Any) -> dict[str, Any]:
        """Raise an alert: log, journal, status list and (when configured) the webhook."""
        entry: dict[str, Any] = {"kind": kind, "severity": severity, "message": message,
                                 "agent": agent, "t": None if t is None else round(t, 3),
                                 "wall": None if wall is None else round(wall, 3), **data}
        self.alerts.append(entry)
        level = SEVERITY_LEVELS.get(severity, "warning")
        getattr(log, level)("alert", kind=kind, severity=severity, message=message, agent=agent)
        if self.record is not None:
            try:
                self.record(entry)
            except Exception as e:  # noqa: BLE001 - the journal is the ledger's business; never fail here
                log.error("alert_record_failed", error=str(e))
        if self.on_event is not None:
            self.on_event(f"ALERT {severity}: {message}", level)
        if self.webhook_enabled and severity != "info":
            self._spawn({"schema_version": PAYLOAD_SCHEMA, "event": "alert",
                         "session_id": self.session_id, **entry})
        return entry

    def recent(self, n: int = 10) -> list[dict[str, Any]]:
        return list(self.alerts)[-n:]

    # ---- webhook ----
    def _spawn(self, payload: dict[str, Any]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self.deliver(payload))
        except RuntimeError:  # no loop (a unit test outside asyncio): nothing to post with
            log.warning("webhook_skipped", reason="no event loop")
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, payload: dict[str, Any]) -> bool:
        """POST one payload with retries; True when the webhook took it. Never raises."""
        url = self.spec.webhook_url
        try:
            retrying = AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=0.5, max=5.0),
                retry=retry_if_exception_type((aiohttp.ClientError, TimeoutError, OSError,
                                               _Retryable)),
                sleep=self._sleep, reraise=True)
            async for attempt in retrying:
                with attempt:
                    status = await self._post(url, payload)
                    if status == 429 or status >= 500:
                        raise _Retryable(f"HTTP {status}")
                    if status >= 400:
                        self.failed += 1
                        log.warning("webhook_refused", url=url, status=status)
                        return False
            self.sent += 1
            return True
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a failing webhook is logged, never harms the session
            self.failed += 1
            log.warning("webhook_failed", url=url, error=str(e) or type(e).__name__,
                        attempts=self.attempts)
            return False

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded, wall seconds) for posts in flight."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
