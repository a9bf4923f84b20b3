"""The session's loopback HTTP control API (the client side is in ``http_client``).

Endpoints (all answers are JSON except ``/metrics``):

- ``GET /api/status``   the live status (the same dict as ``status.json``)
- ``GET /api/metrics``  the current metrics (the same dict as ``metrics_current.json``)
- ``GET /metrics``      the metrics in Prometheus text format
- ``POST /api/checkpoint|pause|resume|stop|reload``  one ``Command`` on the session queue;
  the answer is the session's reply (200 if ``ok``, else 409 or the reply's ``status``)

``start_http_server`` writes ``<session>/control.json`` (schema 1: pid, host, port, token,
url); ``HttpServer.close`` removes it. ``read_control``/``call``/``call_sync`` are
re-exported from ``http_client`` for the CLI.

Security. The server binds 127.0.0.1 only, never a public address. Mutating calls need
``Authorization: Bearer <token>``; the token is random per server start and is stored in
``<session>/control.json`` with mode 0600, so only the user running the session (and
root) can act on it. GETs need no token, on purpose: they are read-only, and asking
monitoring tools (Prometheus, ``curl``) for a token would buy little, since status and
metrics hold no secrets. The price is that other local users of the machine can read a
session's status and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from supervisor.control.commands import Command, CommandKind, CommandSource
from supervisor.control.http_client import (
    CONTROL_FILE,
    HOST,
    ControlInfo,
    call,
    call_sync,
    read_control,
)
from supervisor.control.prom import CONTENT_TYPE_LATEST, build_registry, render_metrics
from supervisor.errors import ControlError
from supervisor.session.files import write_json_atomic
from supervisor.session.publisher import UpdateSource

__all__ = [
    "ControlInfo",
    "ControlTarget",
    "HttpServer",
    "UPDATES",
    "build_app",
    "call",
    "call_sync",
    "read_control",
    "start_http_server",
]

log = structlog.get_logger()

MAX_BODY_BYTES = 64 * 1024
DEFAULT_REPLY_TIMEOUT = 10.0
DEFAULT_REPLY_TIMEOUTS: Mapping[CommandKind, float] = {CommandKind.CHECKPOINT: 30.0}

# path -> command kind of the mutating endpoints
COMMAND_ROUTES: Mapping[str, CommandKind] = {
    "/api/checkpoint": CommandKind.CHECKPOINT,
    "/api/pause": CommandKind.PAUSE,
    "/api/resume": CommandKind.RESUME,
    "/api/stop": CommandKind.STOP,
    "/api/reload": CommandKind.RELOAD,
}
ENDPOINTS: tuple[str, ...] = (
    "GET /api/status",
    "GET /api/metrics",
    "GET /metrics",
    *(f"POST {path}" for path in COMMAND_ROUTES),
)


class ControlTarget(Protocol):
    """What the HTTP API needs from a session (the runner implements it)."""

    session_id: str

    def status_snapshot(self) -> dict[str, Any]: ...

    def metrics_snapshot(self) -> dict[str, Any]: ...

    def submit(self, command: Command) -> None:
        """Put ``command`` on the session queue without blocking."""
        ...


# the session's publisher, for routes that push live updates (SSE, the dashboard):
# ``request.app[UPDATES]`` (None when the server was started without one)
UPDATES: web.AppKey[UpdateSource | None] = web.AppKey("updates")


class ApiError(Exception):
    """An answer other than 200, turned into a JSON body by the error middleware."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"ok": False, "error": message, **extra}
    return web.json_response(body, status=status, dumps=_dumps)


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    where = f"{request.method} {request.path}"
    if isinstance(exc, web.HTTPNotFound):
        return _error(404, f"no such endpoint: {where}", endpoints=list(ENDPOINTS))
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(exc.allowed_methods)
        answer = _error(
            405,
            f"method {request.method} not allowed on {request.path} (use {', '.join(allowed)})",
            allowed=allowed,
        )
        answer.headers["Allow"] = ", ".join(allowed)
        return answer
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return _error(413, f"request body is larger than {MAX_BODY_BYTES // 1024} KiB")
    return _error(exc.status, f"{where}: {exc.reason}")


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON answer; never an HTML page or a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        answer = _error(exc.status, exc.message)
        answer.headers.update(exc.headers)
        return answer
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(request, exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("http_handler_failed", method=request.method, path=request.path)
        return _error(500, f"internal error in {request.method} {request.path}: {exc!r}"[:300])


def _auth_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        routed = request.match_info.http_exception is None
        if routed and request.method not in ("GET", "HEAD", "OPTIONS"):
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                raise ApiError(
                    401,
                    "this call needs 'Authorization: Bearer <token>' (token in control.json)",
                    {"WWW-Authenticate": 'Bearer realm="megatest"'},
                )
            if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
                raise ApiError(
                    401,
                    "wrong bearer token (read it from the session's control.json)",
                    {"WWW-Authenticate": 'Bearer realm="megatest", error="invalid_token"'},
                )
        return await handler(request)

    return middleware


async def _read_args(request: web.Request) -> dict[str, Any]:
    """The optional JSON object body of a command call; empty body: no arguments."""
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
    if not raw.strip():
        return {}
    try:
        args = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(args, dict):
        raise ApiError(400, f"request body must be a JSON object, not {type(args).__name__}")
    return args


class _Api:
    """Route handlers bound to one session."""

    def __init__(self, target: ControlTarget, reply_timeouts: Mapping[CommandKind, float]):
        self.target = target
        self.reply_timeouts = reply_timeouts
        self.registry = build_registry(target.metrics_snapshot)

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self.target.status_snapshot(), dumps=_dumps)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response(self.target.metrics_snapshot(), dumps=_dumps)

    async def prometheus(self, request: web.Request) -> web.Response:
        body = render_metrics(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def command(self, request: web.Request) -> web.Response:
        kind = COMMAND_ROUTES[request.path]
        args = await _read_args(request)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        try:
            self.target.submit(Command(kind, CommandSource.HTTP, args, reply=reply))
        except asyncio.QueueFull:
            raise ApiError(503, "the session's command queue is full; try again") from None
        timeout = self.reply_timeouts.get(kind, DEFAULT_REPLY_TIMEOUT)
        log.info("http_command", kind=str(kind), args=args)
        try:
            result = await asyncio.wait_for(reply, timeout)
        except TimeoutError:
            raise ApiError(504, f"session did not answer within {timeout:g} s") from None
        if not isinstance(result, dict):
            raise ApiError(500, f"session answered {kind} with a {type(result).__name__}")
        status = result.get("status")
        if not (isinstance(status, int) and not isinstance(status, bool) and 200 <= status < 600):
            status = 200 if result.get("ok") else 409
        return web.json_response(result, status=status, dumps=_dumps)


def build_app(
    target: ControlTarget, token: str, reply_timeouts: Mapping[CommandKind, float] | None = None,
    updates: UpdateSource | None = None,
) -> web.Application:
    """The aiohttp application: routes, error and auth middlewares, 64 KiB body limit;
    ``updates`` (the session's publisher) is ``app[UPDATES]`` for live routes."""
    api = _Api(target, {**DEFAULT_REPLY_TIMEOUTS, **(reply_timeouts or {})})
    app = web.Application(
        middlewares=[_errors_middleware, _auth_middleware(token)], client_max_size=MAX_BODY_BYTES
    )
    app[UPDATES] = updates
    app.router.add_get("/api/status", api.status)
    app.router.add_get("/api/metrics", api.metrics)
    app.router.add_get("/metrics", api.prometheus)
    for path in COMMAND_ROUTES:
        app.router.add_post(path, api.command)
    return app


class HttpServer:
    """A running control API; ``close()`` stops it and removes ``control.json``."""

    def __init__(self, runner: web.AppRunner, info: ControlInfo, control_path: Path):
        self._runner = runner
        self.info = info
        self.control_path = control_path
        self.port = info.port
        self.token = info.token
        self.url = info.url
        self._closed = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, ValueError, ControlError):
            current = read_control(self.control_path.parent)
            if current is not None and current.token == self.token:  # not a successor's
                self.control_path.unlink()
        await self._runner.cleanup()


async def _start_site(runner: web.AppRunner, port: int) -> int:
    site = web.TCPSite(runner, HOST, port)
    try:
        await site.start()
    except BaseException:
        await site.stop()
        raise
    return int(runner.addresses[-1][1])


async def _bind(runner: web.AppRunner, port: int, fallback: bool) -> int:
    try:
        return await _start_site(runner, port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port == 0:
            raise ControlError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from exc
        if not fallback:
            raise ControlError(
                f"port {port} on {HOST} is in use "
                "(set [control] http_port, or port_fallback = true)"
            ) from exc
    try:
        actual = await _start_site(runner, 0)
    except OSError as exc:
        raise ControlError(f"cannot listen on {HOST}: {exc.strerror or exc}") from exc
    log.warning(
        "http_port_in_use",
        port=port,
        fallback_port=actual,
        message=f"port {port} on {HOST} is in use; control API listens on port {actual} instead",
    )
    return actual


async def start_http_server(
    target: ControlTarget,
    session_dir: Path,
    port: int,
    fallback: bool,
    *,
    reply_timeouts: Mapping[CommandKind, float] | None = None,
    shutdown_timeout: float = 2.0,
    updates: UpdateSource | None = None,
) -> HttpServer:
    """Serve the control API on 127.0.0.1:``port`` (0: any free port), write control.json.

    ``reply_timeouts`` overrides how long a command call waits for the session's answer
    (default 30 s for checkpoint, 10 s for the others).
    """
    token = secrets.token_urlsafe(32)
    app = build_app(target, token, reply_timeouts, updates)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        bound = await _bind(runner, port, fallback)
        info = ControlInfo(pid=os.getpid(), host=HOST, port=bound, token=token)
        path = Path(session_dir) / CONTROL_FILE
        # mkstemp creates the temp file 0600; it is chmod-ed to 0600 again before the rename
        await asyncio.to_thread(write_json_atomic, path, info.to_json(), mode=0o600)
    except BaseException:
        await runner.cleanup()
        raise
    log.info("http_listening", session_id=target.session_id, url=info.url)
    return HttpServer(runner, info, path)


def check_port(port: int, fallback: bool) -> None:
    """Before a session is created: refuse a fixed port that is taken when there is no
    fallback, so the user gets the error and no half-made session directory."""
    if port == 0 or fallback:
        return
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ControlError(f"port {port} on {HOST} is in use "
                                   "(set [control] http_port, or port_fallback = true)") from None
            raise ControlError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
