"""The session's HTTP control API on a real 127.0.0.1 socket, against a fake session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor.clock import monotonic
from supervisor.control.commands import Command, CommandKind, CommandSource
from supervisor.control.http import HttpServer, start_http_server

STATUS = {"schema_version": 1, "session_id": "s-http", "status": "running", "progress": 0.5}
METRICS: dict[str, Any] = {
    "schema_version": 1,
    "session_id": "s-http",
    "total_tokens": 1234,
    "tool_calls": 56,
    "progress": 0.5,
    "health_score": 88,
    "test_pass_rate": None,
    "agents": {"coder-2": {"role": "Coder", "tokens": 1000, "rss_bytes": 2048, "state": "x"}},
}


class FakeSession:
    """A ControlTarget whose loop (``serve``) answers commands like a session would."""

    session_id = "s-http"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Command] = asyncio.Queue()
        self.received: list[Command] = []
        self.paused = False
        self.fail_status = False

    def status_snapshot(self) -> dict[str, Any]:
        if self.fail_status:
            raise RuntimeError("status is broken")
        return dict(STATUS)

    def metrics_snapshot(self) -> dict[str, Any]:
        return METRICS

    def submit(self, command: Command) -> None:
        self.queue.put_nowait(command)

    async def serve(self) -> None:
        while True:
            cmd = await self.queue.get()
            self.received.append(cmd)
            if cmd.kind is CommandKind.PAUSE and self.paused:
                cmd.fail("already paused")
            elif cmd.kind is CommandKind.RELOAD and cmd.args.get("unavailable"):
                cmd.answer({"ok": False, "error": "reloading", "status": 503})
            else:
                self.paused = cmd.kind is CommandKind.PAUSE or (
                    self.paused and cmd.kind is not CommandKind.RESUME
                )
                cmd.answer({"ok": True, "kind": str(cmd.kind), "args": cmd.args})


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, answering: bool = True, **kwargs: Any
) -> AsyncIterator[tuple[FakeSession, HttpServer, aiohttp.ClientSession]]:
    """A server on a free port, its fake session loop, and an HTTP client."""
    target = FakeSession()
    server = await start_http_server(target, tmp_path, 0, False, **kwargs)
    loop_task = asyncio.create_task(target.serve()) if answering else None
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(server.url, connector=connector) as client:
            yield target, server, client
    finally:
        if loop_task is not None:
            loop_task.cancel()
        await server.close()


def run(scenario: Callable[[], Awaitable[None]], limit: float = 5.0) -> None:
    asyncio.run(asyncio.wait_for(scenario(), limit))


def auth(server: HttpServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def test_status_and_metrics_are_the_snapshots(tmp_path: Path) -> None:
    """GET /api/status and /api/metrics answer the session's snapshots as JSON, no token."""

    async def scenario() -> None:
        async with serving(tmp_path) as (_, _server, client):
            async with client.get("/api/status") as resp:
                assert resp.status == 200
                assert await resp.json() == STATUS
            async with client.get("/api/metrics") as resp:
                assert resp.status == 200
                assert await resp.json() == METRICS

    run(scenario)


def test_prometheus_endpoint_parses_with_expected_values(tmp_path: Path) -> None:
    """GET /metrics is Prometheus text with the snapshot's values; nulls are left out."""

    async def scenario() -> None:
        async with serving(tmp_path) as (_, _server, client):
            async with client.get("/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = await resp.text()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("megatest_tokens_total", ())] == 1234
        assert samples[("megatest_tool_calls_total", ())] == 56
        assert samples[("megatest_session_progress_ratio", ())] == 0.5
        assert samples[("megatest_health_score", ())] == 88
        key = ("megatest_agent_tokens_total", (("agent", "coder-2"), ("role", "Coder")))
        assert samples[key] == 1000
        assert samples[("megatest_agent_rss_bytes", (("agent", "coder-2"),))] == 2048
        assert not any(name == "megatest_test_pass_ratio" for name, _ in samples)

    run(scenario)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/checkpoint", CommandKind.CHECKPOINT),
        ("/api/pause", CommandKind.PAUSE),
        ("/api/resume", CommandKind.RESUME),
        ("/api/stop", CommandKind.STOP),
        ("/api/reload", CommandKind.RELOAD),
    ],
)
def test_post_with_token_submits_an_http_command(
    tmp_path: Path, path: str, kind: CommandKind
) -> None:
    """Each POST with the token puts one Command of its kind, source HTTP, on the queue."""

    async def scenario() -> None:
        async with serving(tmp_path) as (target, server, client):
            body = {"reason": "manual"}
            async with client.post(path, json=body, headers=auth(server)) as resp:
                assert resp.status == 200
                answer = await resp.json()
            assert answer == {"ok": True, "kind": str(kind), "args": body}
            async with client.post(path, headers=auth(server)) as resp:  # empty body
                assert resp.status in (200, 409)
        assert [(c.kind, c.source) for c in target.received] == [(kind, CommandSource.HTTP)] * 2
        assert target.received[0].args == {"reason": "manual"}
        assert target.received[1].args == {}

    run(scenario)


def test_refused_command_is_409_and_reply_status_is_honoured(tmp_path: Path) -> None:
    """A reply with ok false is 409; a reply carrying "status" sets the HTTP status."""

    async def scenario() -> None:
        async with serving(tmp_path) as (_, server, client):
            async with client.post("/api/pause", headers=auth(server)) as resp:
                assert resp.status == 200
            async with client.post("/api/pause", headers=auth(server)) as resp:
                assert resp.status == 409
                assert await resp.json() == {"ok": False, "error": "already paused"}
            body = {"unavailable": True}
            async with client.post("/api/reload", json=body, headers=auth(server)) as resp:
                assert resp.status == 503

    run(scenario)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic dXNlcjpwdw=="}],
)
def test_post_without_the_right_token_is_401(tmp_path: Path, headers: dict[str, str]) -> None:
    """A POST with no, a wrong, or a non-bearer token is 401 JSON and submits nothing."""

    async def scenario() -> None:
        async with serving(tmp_path) as (target, _server, client):
            async with client.post("/api/stop", headers=headers) as resp:
                assert resp.status == 401
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
                answer = await resp.json()
            assert answer["ok"] is False and "token" in answer["error"]
            assert target.received == [] and target.queue.empty()

    run(scenario)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'"text"', 400, "JSON object"),
        (b'{"reason": "' + b"x" * (70 * 1024) + b'"}', 413, "64 KiB"),
    ],
)
def test_bad_body_is_a_json_client_error(
    tmp_path: Path, data: bytes, status: int, words: str
) -> None:
    """A body that is not JSON, not an object, or over 64 KiB is a 4xx JSON error."""

    async def scenario() -> None:
        async with serving(tmp_path) as (target, server, client):
            headers = {**auth(server), "Content-Type": "application/json"}
            async with client.post("/api/checkpoint", data=data, headers=headers) as resp:
                assert resp.status == status
                answer = await resp.json()
            assert answer["ok"] is False and words in answer["error"]
            assert target.received == []

    run(scenario)


def test_unknown_route_is_404_json_listing_endpoints(tmp_path: Path) -> None:
    """An unknown path answers 404 JSON naming the request and listing the endpoints."""

    async def scenario() -> None:
        async with serving(tmp_path) as (_, server, client):
            async with client.get("/x") as resp:
                assert resp.status == 404
                answer = await resp.json()
            assert answer["ok"] is False
            assert answer["error"] == "no such endpoint: GET /x"
            assert "POST /api/checkpoint" in answer["endpoints"]
            async with client.post("/api/nope", headers=auth(server)) as resp:
                assert resp.status == 404

    run(scenario)


def test_wrong_method_is_405_json(tmp_path: Path) -> None:
    """GET on a POST route (and POST on a GET route) answers 405 JSON with Allow."""

    async def scenario() -> None:
        async with serving(tmp_path) as (target, server, client):
            async with client.get("/api/checkpoint") as resp:
                assert resp.status == 405
                assert resp.headers["Allow"] == "POST"
                answer = await resp.json()
            assert answer["ok"] is False and answer["allowed"] == ["POST"]
            async with client.post("/api/status", headers=auth(server)) as resp:
                assert resp.status == 405
                assert "GET" in (await resp.json())["allowed"]
            assert target.received == []

    run(scenario)


def test_session_that_never_answers_gives_504_in_time(tmp_path: Path) -> None:
    """A command the session does not answer within the reply timeout is 504 JSON."""

    async def scenario() -> None:
        timeouts = {CommandKind.CHECKPOINT: 0.3}
        async with serving(tmp_path, answering=False, reply_timeouts=timeouts) as (
            target,
            server,
            client,
        ):
            started = monotonic()
            async with client.post("/api/checkpoint", headers=auth(server)) as resp:
                assert resp.status == 504
                answer = await resp.json()
            elapsed = monotonic() - started
            assert answer == {"ok": False, "error": "session did not answer within 0.3 s"}
            assert 0.25 <= elapsed < 2.0
            queued = target.queue.get_nowait()
            assert queued.reply is not None and queued.reply.done()
            queued.answer({"ok": True})  # a late answer is dropped quietly

    run(scenario)


def test_handler_exception_is_500_json_and_server_lives_on(tmp_path: Path) -> None:
    """A snapshot that raises gives a short 500 JSON (no traceback); the server keeps serving."""

    async def scenario() -> None:
        async with serving(tmp_path) as (target, _server, client):
            target.fail_status = True
            async with client.get("/api/status") as resp:
                assert resp.status == 500
                text = await resp.text()
            assert "Traceback" not in text and "status is broken" in text
            assert resp.content_type == "application/json"
            target.fail_status = False
            async with client.get("/api/status") as resp:
                assert resp.status == 200

    run(scenario)


def test_burst_of_200_mixed_requests_all_answered(tmp_path: Path) -> None:
    """200 concurrent GETs and POSTs all get a proper answer; the server stays healthy."""

    async def scenario() -> None:
        async with serving(tmp_path) as (target, server, client):
            plan = [
                ("GET", "/api/status"),
                ("GET", "/metrics"),
                ("POST", "/api/checkpoint"),
                ("POST", "/api/pause"),
                ("POST", "/api/resume"),
            ] * 40

            async def one(method: str, path: str) -> int:
                async with client.request(method, path, headers=auth(server)) as resp:
                    await resp.read()
                    return resp.status

            started = monotonic()
            statuses = await asyncio.gather(*(one(m, p) for m, p in plan))
            elapsed = monotonic() - started
            assert len(statuses) == 200
            for (_method, path), status in zip(plan, statuses, strict=True):
                assert status == 200 or (path == "/api/pause" and status == 409), (path, status)
            assert len(target.received) == 120
            assert elapsed < 4.0
            async with client.get("/api/status") as resp:
                assert resp.status == 200

    run(scenario, limit=8.0)
