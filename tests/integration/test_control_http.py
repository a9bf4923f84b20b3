"""The loopback HTTP API of a real running session: reads without a token, changes only
with it, JSON errors for bad requests, pause/resume/reload/stop, and a port in use."""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import assert_no_session_processes
from tests.integration.test_control_support import (
    HTTP_ANY_PORT,
    LiveSession,
    log_has_no_crash,
    verify_all,
    wait_for,
)


def request(url: str, method: str = "GET", body: bytes | None = None,
            token: str | None = None) -> tuple[int, str, Any]:
    """(status, content type, parsed JSON or text) of one HTTP request."""
    req = urllib.request.Request(url, data=body, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=40) as resp:
            status, ctype, raw = resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as e:
        status, ctype, raw = e.code, e.headers.get_content_type(), e.read()
    text = raw.decode()
    return status, ctype, json.loads(text) if ctype == "application/json" else text


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSession]:
    """A long session (6 h at scale 240) that the API tests below share and stop."""
    runs = tmp_path_factory.mktemp("http") / "runs"
    runs.mkdir()
    s = LiveSession(runs, "api", ["task_queue", "6", "2", "--time-scale", "240"])
    try:
        yield s.wait_running()
    finally:
        s.kill()


def forced(session: LiveSession) -> list[dict[str, Any]]:
    return [r for r in session.log_events("checkpoint") if r.get("trigger") == "forced"]


def test_reads_need_no_token(session: LiveSession) -> None:
    """GET /api/status, /api/metrics (JSON) and /metrics (Prometheus text) answer anyone."""
    status, ctype, snap = request(session.url() + "/api/status")
    assert (status, ctype) == (200, "application/json")
    assert snap["session_id"] == "api" and snap["status"] == "running" and snap["phase"]
    status, _, metrics = request(session.url() + "/api/metrics")
    assert status == 200 and metrics["schema_version"] == 1 and "total_tokens" in metrics
    status, ctype, text = request(session.url() + "/metrics")
    assert status == 200 and ctype == "text/plain"
    names = {f.name for f in text_string_to_metric_families(text)}
    assert any("token" in n for n in names) and any("tool_call" in n for n in names)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_changes_without_the_token_are_refused(session: LiveSession, token: str | None) -> None:
    """POST without the token, or with a wrong one: 401 JSON, and nothing happens."""
    before = len(forced(session))
    status, ctype, answer = request(session.url() + "/api/checkpoint", "POST", b"{}", token)
    assert (status, ctype) == (401, "application/json")
    assert answer["ok"] is False and "token" in answer["error"]
    status, _, _ = request(session.url() + "/api/stop", "POST", None, token)
    assert status == 401
    assert len(forced(session)) == before and session.proc.poll() is None


def test_checkpoint_with_the_token_gives_a_valid_file(session: LiveSession) -> None:
    """POST /api/checkpoint with the token answers with the checkpoint, which verifies."""
    status, _, answer = request(session.url() + "/api/checkpoint", "POST",
                                b'{"reason": "curl"}', session.token())
    assert status == 200 and answer["ok"] is True
    ck = answer["checkpoint"]
    assert ck["trigger"] == "forced" and ck["reason"] == "curl"
    assert Path(ck["path"]).is_file()
    verify_all(session.root)


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "needle"),
    [
        ("POST", "/api/checkpoint", b"{not json", 400, "not valid JSON"),
        ("POST", "/api/pause", b"[1, 2]", 400, "JSON object"),
        ("GET", "/api/nope", None, 404, "no such endpoint"),
        ("POST", "/api/self-destruct", b"{}", 404, "no such endpoint"),
        ("GET", "/api/checkpoint", None, 405, "not allowed"),
    ],
)
def test_bad_requests_get_json_errors(session: LiveSession, method: str, path: str,
                                      body: bytes | None, code: int, needle: str) -> None:
    """Bad JSON, a non-object body, unknown routes, a wrong method: a JSON error, no
    traceback, and the session runs on."""
    status, ctype, answer = request(session.url() + path, method, body, session.token())
    assert (status, ctype) == (code, "application/json")
    assert answer["ok"] is False and needle in answer["error"]
    assert "Traceback" not in json.dumps(answer)
    assert request(session.url() + "/api/status")[0] == 200


def test_pause_resume_and_reload_over_http(session: LiveSession) -> None:
    """POST pause holds the session (a second pause is a 409), resume lets it go, reload
    re-reads config.toml and reports no change."""
    url, token = session.url(), session.token()
    status, _, answer = request(url + "/api/pause", "POST", None, token)
    assert status == 200 and answer["paused"] is True and answer["agents"]
    assert set(answer["agents"].values()) <= {"paused", "frozen"}
    assert request(url + "/api/status")[2]["status"] == "paused"
    status, _, again = request(url + "/api/pause", "POST", None, token)
    assert status == 409 and "already paused" in again["error"]
    status, _, answer = request(url + "/api/resume", "POST", None, token)
    assert status == 200 and answer["paused"] is False
    assert request(url + "/api/status")[2]["status"] == "running"
    status, _, answer = request(url + "/api/reload", "POST", None, token)
    assert status == 200 and answer["applied"] == [] and answer["needs_restart"] == []


def test_stop_over_http_ends_the_session(session: LiveSession) -> None:
    """POST /api/stop: the session winds down, exits 130, and control.json is gone."""
    status, _, answer = request(session.url() + "/api/stop", "POST", None, session.token())
    assert status == 200 and answer["stopping"] is True
    assert session.wait(60) == 130, session.output()
    assert session.status_word() == "interrupted"
    assert not (session.root / "control.json").exists()
    log_has_no_crash(session)
    assert_no_session_processes(session.root)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def port_config(port: int, fallback: bool) -> str:
    return HTTP_ANY_PORT.replace("http_port = 0",
                                 f"http_port = {port}\nport_fallback = {str(fallback).lower()}")


def test_port_in_use_falls_back_to_a_free_one(tmp_path: Path, busy_port: int) -> None:
    """With port_fallback, a busy port is logged and the API serves on another port."""
    runs = tmp_path / "runs"
    runs.mkdir()
    s = LiveSession(runs, "fb", ["task_queue", "6", "2", "--time-scale", "240"],
                    config_text=port_config(busy_port, True))
    try:
        s.wait_running()
        ctl = json.loads((s.root / "control.json").read_text())
        assert ctl["port"] != busy_port
        warn = wait_for(lambda: s.log_events("http_port_in_use"), 5, "fallback warning")
        assert warn[0]["port"] == busy_port and warn[0]["fallback_port"] == ctl["port"]
        assert request(s.url() + "/api/status")[2]["session_id"] == "fb"
        s.signal(signal.SIGINT)
        assert s.wait(60) == 130
    finally:
        s.kill()


def test_port_in_use_without_fallback_is_a_clear_error(tmp_path: Path, busy_port: int) -> None:
    """Without port_fallback, a busy port is refused before the session is made: exit 2,
    the port and the setting named, no traceback, nothing created, no agent started."""
    runs = tmp_path / "runs"
    runs.mkdir()
    s = LiveSession(runs, "nofb", ["task_queue", "6", "2", "--time-scale", "240"],
                    config_text=port_config(busy_port, False))
    try:
        code = s.wait(60)
    finally:
        s.kill()
    out = s.output()
    assert code == 2, out
    assert f"port {busy_port}" in out and "in use" in out and "port_fallback" in out
    assert "Traceback" not in out
    assert not s.root.exists()
    assert_no_session_processes(s.root)
