"""Alerts: always a log line (level error) in ``daemon.log``; also a JSON POST to
``[alerts] webhook_url`` when one is set, retried with backoff (tenacity)."""

from __future__ import annotations

from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from supervisor import logs
from supervisor.clock import wall_time
from supervisor.daemon.schedules import AlertSpec

log = logs.get("daemon.alerts")
ATTEMPTS = 3
RETRY_WAIT = wait_exponential(multiplier=0.5, max=10)


def alert_body(event: str, fields: dict[str, Any], wall: float | None = None) -> dict[str, Any]:
    return {"source": "megatest-supervisor daemon", "event": event,
            "time": wall if wall is not None else wall_time(), **fields}


async def post_webhook(spec: AlertSpec, body: dict[str, Any], wait: Any = RETRY_WAIT) -> int:
    """POST ``body`` as JSON; the HTTP status. Raises after ATTEMPTS failed tries."""
    timeout = aiohttp.ClientTimeout(total=spec.timeout_seconds)
    async for attempt in AsyncRetrying(
            stop=stop_after_attempt(ATTEMPTS), wait=wait,
            retry=retry_if_exception_type((aiohttp.ClientError, TimeoutError)), reraise=True):
        with attempt:
            async with aiohttp.ClientSession(timeout=timeout) as http, \
                    http.post(spec.webhook_url, json=body) as resp:
                if resp.status >= 500:
                    raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                return resp.status
    raise AssertionError("unreachable")  # pragma: no cover


async def send_alert(spec: AlertSpec, event: str, fields: dict[str, Any],
                     wait: Any = RETRY_WAIT) -> int | None:
    """Log the alert; POST it to the webhook if set: its HTTP status. Never raises."""
    log.error("alert", alert=event, **fields)
    if not spec.webhook_url:
        return None
    try:
        status = await post_webhook(spec, alert_body(event, fields), wait)
    except Exception as e:  # noqa: BLE001 - a webhook being down must not stop the daemon
        log.error("alert_webhook_failed", alert=event, url=spec.webhook_url, error=str(e))
        return None
    log.info("alert_webhook_sent", alert=event, http_status=status)
    return status
