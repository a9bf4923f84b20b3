"""Starting and stopping the control API: ports, control.json, and the CLI's client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor.control import http_client
from supervisor.control.commands import Command, CommandKind
from supervisor.control.http import (
    COMMAND_ROUTES,
    DEFAULT_REPLY_TIMEOUT,
    DEFAULT_REPLY_TIMEOUTS,
    HttpServer,
    call,
    call_sync,
    read_control,
    start_http_server,
)
from supervisor.errors import ControlError


class AnsweringSession:
    """A ControlTarget that answers every command at once, from inside submit."""

    session_id = "s-life"

    def __init__(self) -> None:
        self.received: list[Command] = []

    def status_snapshot(self) -> dict[str, Any]:
        return {"schema_version": 1, "session_id": self.session_id, "status": "running"}

    def metrics_snapshot(self) -> dict[str, Any]:
        return {"schema_version": 1, "total_tokens": 5}

    def submit(self, command: Command) -> None:
        self.received.append(command)
        command.answer({"ok": True, "kind": str(command.kind)})


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 5.0))


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by another listening socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_port_in_use_without_fallback_is_a_control_error(tmp_path: Path, busy_port: int) -> None:
    """A busy port with port_fallback off raises ControlError naming port and settings."""

    async def scenario() -> None:
        await start_http_server(AnsweringSession(), tmp_path, busy_port, False)

    with pytest.raises(ControlError) as err:
        run(scenario())
    assert str(err.value) == (
        f"port {busy_port} on 127.0.0.1 is in use "
        "(set [control] http_port, or port_fallback = true)"
    )
    assert not (tmp_path / "control.json").exists()


def test_port_in_use_with_fallback_takes_another_port(tmp_path: Path, busy_port: int) -> None:
    """A busy port with port_fallback on serves on another port, recorded in control.json."""

    async def scenario() -> tuple[int, int, int]:
        server = await start_http_server(AnsweringSession(), tmp_path, busy_port, True)
        try:
            status, body = await call(tmp_path, "GET", "/api/status")
            recorded = json.loads((tmp_path / "control.json").read_text())["port"]
            return server.port, recorded, status
        finally:
            await server.close()

    port, recorded, status = run(scenario())
    assert port != busy_port and port > 0
    assert recorded == port and status == 200


def test_requested_free_port_is_used(tmp_path: Path) -> None:
    """A free port given explicitly is the port the server listens on."""
    wanted = free_port()

    async def scenario() -> int:
        server = await start_http_server(AnsweringSession(), tmp_path, wanted, False)
        await server.close()
        return server.port

    assert run(scenario()) == wanted


def test_control_json_is_private_and_removed_on_close(tmp_path: Path) -> None:
    """control.json (schema 1, pid, 127.0.0.1, port, token, url) is 0600 and goes on close."""
    path = tmp_path / "control.json"

    async def scenario() -> tuple[HttpServer, dict[str, Any], int]:
        server = await start_http_server(AnsweringSession(), tmp_path, 0, False)
        data = json.loads(path.read_text())
        mode = stat.S_IMODE(path.stat().st_mode)
        await server.close()
        await server.close()  # idempotent
        return server, data, mode

    server, data, mode = run(scenario())
    assert mode == 0o600
    assert data == {
        "schema_version": 1,
        "pid": os.getpid(),
        "host": "127.0.0.1",
        "port": server.port,
        "token": server.token,
        "url": f"http://127.0.0.1:{server.port}",
    }
    assert len(server.token) >= 40
    assert not path.exists()


def test_control_json_temp_file_is_never_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file behind control.json is 0600 from creation to the rename."""
    modes: list[int] = []
    real_mkstemp, real_replace = tempfile.mkstemp, os.replace

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)
        modes.append(stat.S_IMODE(os.stat(name).st_mode))
        return fd, name

    def replace(src: Any, dst: Any) -> None:
        modes.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "replace", replace)
    old_umask = os.umask(0)  # the most permissive umask must not matter
    try:

        async def scenario() -> None:
            server = await start_http_server(AnsweringSession(), tmp_path, 0, False)
            await server.close()

        run(scenario())
    finally:
        os.umask(old_umask)
    assert modes == [0o600, 0o600]


def test_close_keeps_a_successors_control_json(tmp_path: Path) -> None:
    """close() does not delete a control.json that another server has since written."""

    async def scenario() -> None:
        first = await start_http_server(AnsweringSession(), tmp_path, 0, False)
        second = await start_http_server(AnsweringSession(), tmp_path, 0, False)
        await first.close()
        info = read_control(tmp_path)
        assert info is not None and info.token == second.token
        await second.close()

    run(scenario())
    assert read_control(tmp_path) is None


def test_call_sync_round_trip_from_another_thread(tmp_path: Path) -> None:
    """call_sync (the CLI's helper) reads control.json, sends the token, returns the JSON."""
    target = AnsweringSession()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    holder: dict[str, HttpServer] = {}

    def serve() -> None:
        async def main() -> None:
            holder["server"] = await start_http_server(target, tmp_path, 0, False)
            ready.set()

        loop.run_until_complete(main())
        loop.run_forever()
        loop.run_until_complete(holder["server"].close())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert ready.wait(5.0)
        assert call_sync(tmp_path, "POST", "/api/pause", {"why": "test"}) == (
            200,
            {"ok": True, "kind": "pause"},
        )
        status, body = call_sync(tmp_path, "get", "/api/status")
        assert status == 200 and body["session_id"] == "s-life"
        status, text = call_sync(tmp_path, "GET", "/metrics")
        assert status == 200 and "megatest_tokens_total 5.0" in text
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
    assert [(c.kind, c.args) for c in target.received] == [(CommandKind.PAUSE, {"why": "test"})]
    assert not (tmp_path / "control.json").exists()


def test_call_to_a_session_not_listening_is_a_clear_error(tmp_path: Path) -> None:
    """A control.json naming a closed port: ControlError saying the session is not answering."""
    port = free_port()
    info = http_client.ControlInfo(pid=os.getpid(), host="127.0.0.1", port=port, token="t")
    (tmp_path / "control.json").write_text(json.dumps(info.to_json()))
    with pytest.raises(ControlError) as err:
        call_sync(tmp_path, "GET", "/api/status", timeout=2.0)
    assert str(err.value) == (
        f"session {tmp_path.name} is not answering on 127.0.0.1:{port} (is it running?)"
    )


def test_call_without_control_json_is_a_clear_error(tmp_path: Path) -> None:
    """No control.json: read_control is None and call raises naming the session."""
    assert read_control(tmp_path) is None
    with pytest.raises(ControlError, match=f"session {tmp_path.name} has no control.json"):
        call_sync(tmp_path, "GET", "/api/status")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{broken", "cannot read"),
        ('{"schema_version": 9}', "unknown schema_version 9"),
        ('{"schema_version": 1, "pid": 1}', "missing or bad field"),
        ('{"schema_version": 1, "pid": 1, "host": "h", "port": "x", "token": "t"}', "bad field"),
    ],
)
def test_bad_control_json_is_a_control_error_naming_the_file(
    tmp_path: Path, content: str, words: str
) -> None:
    """A corrupt or foreign control.json raises ControlError naming the file and the problem."""
    (tmp_path / "control.json").write_text(content)
    with pytest.raises(ControlError) as err:
        read_control(tmp_path)
    assert str(tmp_path / "control.json") in str(err.value) and words in str(err.value)


def test_client_waits_longer_than_the_server_does() -> None:
    """The client's default timeout for each call exceeds the server's wait for the session."""
    for path, kind in COMMAND_ROUTES.items():
        server_wait = DEFAULT_REPLY_TIMEOUTS.get(kind, DEFAULT_REPLY_TIMEOUT)
        client_wait = http_client.CLIENT_TIMEOUTS.get(path, http_client.CLIENT_TIMEOUT)
        assert client_wait > server_wait, path
