"""Alerts: a log line always; a JSON POST to the webhook, retried, never raising."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from aiohttp import web
from tenacity import wait_none

from supervisor import logs
from supervisor.daemon.alerts import ATTEMPTS, send_alert
from supervisor.daemon.schedules import AlertSpec


async def serve(statuses: list[int], got: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=statuses[min(len(got), len(statuses)) - 1])

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hook"


def test_alert_is_logged_and_posted() -> None:
    """The webhook receives the event and its fields as JSON; the log has it at error."""
    out = io.StringIO()
    logs.configure(None, stream=out)
    got: list[dict[str, Any]] = []

    async def main() -> int | None:
        runner, url = await serve([200], got)
        try:
            return await send_alert(AlertSpec(url, 5), "session_failed", {"session": "s1"},
                                    wait=wait_none())
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == 200
    assert got[0]["event"] == "session_failed" and got[0]["session"] == "s1"
    line = json.loads(out.getvalue().splitlines()[0])
    assert line["level"] == "error" and line["alert"] == "session_failed"


def test_failing_webhook_is_retried_then_logged_not_raised() -> None:
    """A webhook answering 500 is tried ATTEMPTS times; the failure is logged, no exception."""
    out = io.StringIO()
    logs.configure(None, stream=out)
    got: list[dict[str, Any]] = []

    async def main() -> int | None:
        runner, url = await serve([500], got)
        try:
            return await send_alert(AlertSpec(url, 5), "run_failed", {"run": "r"},
                                    wait=wait_none())
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) is None
    assert len(got) == ATTEMPTS
    assert "alert_webhook_failed" in out.getvalue()


def test_no_webhook_only_logs() -> None:
    """Without a URL nothing is sent."""
    out = io.StringIO()
    logs.configure(None, stream=out)
    assert asyncio.run(send_alert(AlertSpec(), "x", {})) is None
    assert '"alert": "x"' in out.getvalue()
