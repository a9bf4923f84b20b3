"""Client side of the session's HTTP control API, for the ``supervisor`` CLI verbs.

A running session writes ``<session>/control.json`` (mode 0600): where it listens and the
bearer token its mutating calls need. ``read_control`` reads it; ``call`` / ``call_sync``
make one request with the token and return ``(HTTP status, parsed JSON)``. A session
that is not there or not answering is a ``ControlError`` with a message for the user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from supervisor.errors import ControlError
from supervisor.session.files import read_json

HOST = "127.0.0.1"
CONTROL_FILE = "control.json"
CONTROL_SCHEMA_VERSION = 1

# How long a client waits by default: the server's own wait for the session's reply to
# that call (http.DEFAULT_REPLY_TIMEOUT(S)) plus a margin, so its 504 reaches the caller.
CLIENT_MARGIN = 5.0
CLIENT_TIMEOUTS: Mapping[str, float] = {"/api/checkpoint": 30.0 + CLIENT_MARGIN}
CLIENT_TIMEOUT = 10.0 + CLIENT_MARGIN


@dataclass(frozen=True)
class ControlInfo:
    """How to reach a running session: the contents of ``control.json``."""

    pid: int
    host: str
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": CONTROL_SCHEMA_VERSION,
            "pid": self.pid,
            "host": self.host,
            "port": self.port,
            "token": self.token,
            "url": self.url,
        }


def read_control(session_dir: Path) -> ControlInfo | None:
    """The session's ``control.json``; None when there is none (session not serving)."""
    path = Path(session_dir) / CONTROL_FILE
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ControlError(f"{path}: cannot read: {exc}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != CONTROL_SCHEMA_VERSION:
        raise ControlError(
            f"{path}: unknown schema_version {version!r} (expected {CONTROL_SCHEMA_VERSION})"
        )
    try:
        return ControlInfo(
            pid=int(data["pid"]),
            host=str(data["host"]),
            port=int(data["port"]),
            token=str(data["token"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ControlError(f"{path}: missing or bad field: {exc!r}") from None


async def call(
    session_dir: Path,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> tuple[int, Any]:
    """One API call: ``(HTTP status, parsed JSON)`` (the text for a non-JSON answer).

    ``timeout`` (seconds) defaults to the server's own wait for that call plus 5 s.
    """
    session_dir = Path(session_dir)
    name = f"session {session_dir.name}"
    info = read_control(session_dir)
    if info is None:
        raise ControlError(f"{name} has no {CONTROL_FILE} (is it running, with HTTP enabled?)")
    seconds = timeout if timeout is not None else CLIENT_TIMEOUTS.get(path, CLIENT_TIMEOUT)
    headers = {"Authorization": f"Bearer {info.token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as client,
            client.request(method.upper(), info.url + path, json=body, headers=headers) as resp,
        ):
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()
    except TimeoutError as exc:  # before ClientConnectionError: ServerTimeoutError is both
        raise ControlError(f"{name} did not answer {method} {path} within {seconds:g} s") from exc
    except aiohttp.ClientConnectionError as exc:
        stale = "" if psutil.pid_exists(info.pid) else f"; its pid {info.pid} is gone"
        raise ControlError(
            f"{name} is not answering on {info.host}:{info.port} (is it running?{stale})"
        ) from exc


def call_sync(
    session_dir: Path,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> tuple[int, Any]:
    """``call`` for synchronous code (the CLI); runs its own event loop."""
    return asyncio.run(call(session_dir, method, path, body, timeout))
