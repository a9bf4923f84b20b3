"""Agent protocol v1: per-type field validation, garbage handling, command encoding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from supervisor.agents.protocol import (
    COMMANDS,
    EVENT_TYPES,
    GARBAGE_REASONS,
    MAX_COUNT,
    Event,
    Garbage,
    encode_command,
    event_from_object,
    parse_line,
)


def line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


VALID: list[dict[str, Any]] = [
    {"type": "hello", "agent": "selfware", "version": "1.2", "capabilities": ["quiesce"]},
    {"type": "hello", "agent": "a", "version": "0", "capabilities": []},
    {"type": "tool_call", "name": "edit", "ok": True, "duration_ms": 12.5},
    {"type": "tool_call", "name": "edit", "ok": False, "duration_ms": 0, "path": "a/b.py"},
    {"type": "tool_call", "name": "edit", "ok": True, "duration_ms": 3, "path": None},
    {"type": "tokens", "prompt": 100, "completion": 20, "model": "m"},
    {"type": "tokens", "prompt": 0, "completion": 0, "model": "m", "context": 4096},
    {"type": "tokens", "prompt": MAX_COUNT, "completion": 1, "model": "m"},
    {"type": "task", "id": "T1", "status": "started"},
    {"type": "task", "id": "T1", "status": "completed", "title": "do it"},
    {"type": "task", "id": "T1", "status": "failed"},
    {"type": "test_result", "passed": 10, "failed": 0},
    {"type": "test_result", "passed": 1, "failed": 2, "coverage": 0.5},
    {"type": "error", "kind": "rate_limit", "message": "429"},
    {"type": "error", "kind": "crash", "message": "boom", "fatal": True},
    {"type": "state", "data": {}},
    {"type": "state", "data": {"step": 3, "files": ["a", "b"], "nested": {"x": None}}},
    {"type": "memory", "key": "plan", "value": None},
    {"type": "memory", "key": "plan", "value": [1, {"a": "b"}]},
    {"type": "vote", "topic": "design", "choice": "B"},
    {"type": "vote", "topic": "design", "choice": 2},
    {"type": "vote", "topic": "design", "choice": 0.5},
    {"type": "vote", "topic": "design", "choice": False},
    {"type": "quiesced"},
    {"type": "heartbeat"},
    {"type": "heartbeat", "extra": {"kept": [1, 2]}, "n": 7},
]

BAD_FIELD: list[dict[str, Any]] = [
    {"type": "hello", "version": "1", "capabilities": []},
    {"type": "hello", "agent": 1, "version": "1", "capabilities": []},
    {"type": "hello", "agent": "a", "version": 1.2, "capabilities": []},
    {"type": "hello", "agent": "a", "version": "1", "capabilities": "quiesce"},
    {"type": "hello", "agent": "a", "version": "1", "capabilities": ["q", 3]},
    {"type": "tool_call", "ok": True, "duration_ms": 1},
    {"type": "tool_call", "name": "e", "ok": 1, "duration_ms": 1},
    {"type": "tool_call", "name": "e", "ok": "true", "duration_ms": 1},
    {"type": "tool_call", "name": "e", "ok": True, "duration_ms": -1},
    {"type": "tool_call", "name": "e", "ok": True, "duration_ms": "5"},
    {"type": "tool_call", "name": "e", "ok": True, "duration_ms": True},
    {"type": "tool_call", "name": "e", "ok": True},
    {"type": "tool_call", "name": "e", "ok": True, "duration_ms": 1, "path": 5},
    {"type": "tokens", "prompt": -1, "completion": 0, "model": "m"},
    {"type": "tokens", "prompt": 1.5, "completion": 0, "model": "m"},
    {"type": "tokens", "prompt": True, "completion": 0, "model": "m"},
    {"type": "tokens", "prompt": 1, "model": "m"},
    {"type": "tokens", "prompt": 1, "completion": 1},
    {"type": "tokens", "prompt": 1, "completion": 1, "model": "m", "context": -5},
    {"type": "tokens", "prompt": MAX_COUNT + 1, "completion": 1, "model": "m"},
    {"type": "tokens", "prompt": 10**40, "completion": 1, "model": "m"},
    {"type": "task", "status": "started"},
    {"type": "task", "id": 7, "status": "started"},
    {"type": "task", "id": "T", "status": "done"},
    {"type": "task", "id": "T", "status": ["started"]},
    {"type": "task", "id": "T", "status": "started", "title": {}},
    {"type": "test_result", "passed": 1},
    {"type": "test_result", "passed": 1, "failed": -2},
    {"type": "test_result", "passed": 1, "failed": 0, "coverage": 101},
    {"type": "test_result", "passed": 1, "failed": 0, "coverage": -0.1},
    {"type": "test_result", "passed": 1, "failed": 0, "coverage": "80%"},
    {"type": "error", "message": "x"},
    {"type": "error", "kind": "k", "message": 3},
    {"type": "error", "kind": "k", "message": "m", "fatal": "yes"},
    {"type": "state"},
    {"type": "state", "data": [1, 2]},
    {"type": "state", "data": {"big": [1, 2**70]}},
    {"type": "memory", "value": 1},
    {"type": "memory", "key": "k"},
    {"type": "memory", "key": ["k"], "value": 1},
    {"type": "memory", "key": "k", "value": {"n": -(2**64)}},
    {"type": "vote", "choice": "a"},
    {"type": "vote", "topic": "t"},
    {"type": "vote", "topic": "t", "choice": None},
    {"type": "vote", "topic": "t", "choice": ["a"]},
    {"type": "vote", "topic": "t", "choice": 2**65},
]


@pytest.mark.parametrize("obj", VALID, ids=lambda o: o["type"])
def test_valid_event_is_accepted_with_raw_and_fields(obj: dict[str, Any]) -> None:
    """Every valid event becomes an Event whose raw is the line and fields the object."""
    data = line(obj)
    ev = parse_line(data)
    assert isinstance(ev, Event)
    assert ev.type == obj["type"]
    assert ev.raw == data
    assert ev.fields == obj


@pytest.mark.parametrize("obj", BAD_FIELD, ids=lambda o: o["type"])
def test_bad_field_is_garbage_naming_the_field(obj: dict[str, Any]) -> None:
    """A known type with a missing or mistyped field is Garbage('bad_field') naming it."""
    data = line(obj)
    g = parse_line(data)
    assert isinstance(g, Garbage)
    assert g.reason == "bad_field"
    assert g.detail.startswith(obj["type"] + ".")
    assert g.preview == data.decode()[:200]


def test_every_type_is_covered_by_the_tables() -> None:
    """The valid and invalid tables exercise every event type of protocol v1."""
    assert {o["type"] for o in VALID} == EVENT_TYPES
    assert {o["type"] for o in BAD_FIELD} == EVENT_TYPES - {"quiesced", "heartbeat"}


@pytest.mark.parametrize(
    ("cov", "expected"), [(0, 0.0), (0.42, 0.42), (1, 1.0), (42, 0.42), (100, 1.0), (87.5, 0.875)]
)
def test_coverage_is_normalised_to_a_fraction(cov: float, expected: float) -> None:
    """Coverage given as 0..1 or as a percentage ends up in 0..1; raw keeps the original."""
    data = line({"type": "test_result", "passed": 1, "failed": 0, "coverage": cov})
    ev = parse_line(data)
    assert isinstance(ev, Event)
    assert ev.fields["coverage"] == pytest.approx(expected)
    assert isinstance(ev.fields["coverage"], float)
    assert ev.raw == data


GARBAGE: list[tuple[bytes, str]] = [
    (b"hello world", "invalid_json"),
    (b'{"type": "heartbeat"', "invalid_json"),
    (b'{"type":"heartbeat"} trailing', "invalid_json"),
    (b'{"type":"heartbeat"}{"type":"heartbeat"}', "invalid_json"),
    (b"{'type': 'heartbeat'}", "invalid_json"),
    (b'{"type":"heartbeat","s":"tab\there"}', "invalid_json"),
    (b"\xff\xfe\x00garbage", "not_utf8"),
    (b'{"type":"heartbeat","x":"\xed\xa0\x80"}', "not_utf8"),
    (b'{"type":"heartbeat","x":"\\ud800"}', "not_utf8"),
    (b'{"type":"heartbeat","\\udc00":1}', "not_utf8"),
    (b"[1,2,3]", "not_object"),
    (b'"heartbeat"', "not_object"),
    (b"42", "not_object"),
    (b"null", "not_object"),
    (b"true", "not_object"),
    (b"{}", "no_type"),
    (b'{"name":"x"}', "no_type"),
    (b'{"type":null}', "no_type"),
    (b'{"type":["heartbeat"]}', "no_type"),
    (b'{"type":{"a":1}}', "no_type"),
    (b'{"type":"progress"}', "unknown_type"),
    (b'{"type":"HEARTBEAT"}', "unknown_type"),
    (b'{"type":"heartbeat","x":NaN}', "nonfinite_number"),
    (b'{"type":"heartbeat","x":Infinity}', "nonfinite_number"),
    (b'{"type":"heartbeat","x":-Infinity}', "nonfinite_number"),
    (b'{"type":"heartbeat","x":1e400}', "nonfinite_number"),
    (b'{"type":"heartbeat","x":-1e999}', "nonfinite_number"),
    (b'{"type":"heartbeat","x":' + b"9" * 5000 + b"}", "invalid_json"),
    (b'{"type":"heartbeat","x":' + b"[" * 30_000 + b"]" * 30_000 + b"}", "invalid_json"),
    (b"[" * 60_000, "invalid_json"),
    (b'{"type":\n"heartbeat"}', "invalid_json"),
    (b'{"type":"heartbeat"}' + b" " * (64 * 1024), "oversize"),
    (b"\x0c{}", "invalid_json"),
]


@pytest.mark.parametrize(("data", "reason"), GARBAGE, ids=[r for _, r in GARBAGE])
def test_garbage_lines_are_reported_not_raised(data: bytes, reason: str) -> None:
    """Lines that are not protocol events give Garbage with the right reason."""
    g = parse_line(data)
    assert isinstance(g, Garbage)
    assert g.reason == reason
    assert g.reason in GARBAGE_REASONS
    assert len(g.preview) <= 200
    assert g.length == len(data)


@pytest.mark.parametrize("data", [b"", b" ", b"\r", b"\t \r", b"\n"])
def test_blank_lines_are_ignored(data: bytes) -> None:
    """Empty and whitespace-only lines give None: neither event nor garbage."""
    assert parse_line(data) is None


@pytest.mark.parametrize(
    "data", [b'{"type":"heartbeat"}\r', b'  {"type":"heartbeat"} ', b'\t{"type":"heartbeat"}\r\n']
)
def test_crlf_and_surrounding_whitespace_are_stripped_from_raw(data: bytes) -> None:
    """A CRLF line or one padded with JSON whitespace is accepted; raw has no padding."""
    ev = parse_line(data)
    assert isinstance(ev, Event)
    assert ev.raw == b'{"type":"heartbeat"}'


def test_unicode_and_escapes_round_trip_through_raw() -> None:
    """Non-ASCII text, escaped surrogate pairs and escapes decode; raw stays byte-exact."""
    data = '{"type":"task","id":"T-é","status":"started","title":"日本 \\ud83d\\ude00 \\"q\\""}'
    ev = parse_line(data.encode())
    assert isinstance(ev, Event)
    assert ev.fields["title"] == '日本 😀 "q"'
    assert ev.fields["id"] == "T-é"
    assert ev.raw == data.encode()


def test_unknown_extra_fields_are_kept() -> None:
    """Fields that protocol v1 does not define are kept in fields (and raw)."""
    ev = parse_line(b'{"type":"tokens","prompt":1,"completion":2,"model":"m","cost_usd":0.01}')
    assert isinstance(ev, Event)
    assert ev.fields["cost_usd"] == 0.01


def test_garbage_preview_is_bounded_and_decoded_with_replacement() -> None:
    """The preview is at most 200 characters, with undecodable bytes replaced."""
    g = parse_line(b"\xff" + b"x" * 1000)
    assert isinstance(g, Garbage)
    assert g.preview == "\ufffd" + "x" * 199


def test_event_from_object_validates_like_parse_line() -> None:
    """Replayed objects are validated and normalised like freshly parsed lines."""
    ev = event_from_object({"type": "test_result", "passed": 1, "failed": 0, "coverage": 50})
    assert isinstance(ev, Event)
    assert ev.fields["coverage"] == 0.5
    bad = event_from_object({"type": "tokens", "prompt": "many"})
    assert isinstance(bad, Garbage) and bad.reason == "bad_field"
    assert isinstance(event_from_object([1]), Garbage)
    unknown = event_from_object({"type": "nope"})
    assert isinstance(unknown, Garbage) and unknown.reason == "unknown_type"


# --- commands --------------------------------------------------------------------------


def test_encode_simple_commands() -> None:
    """Commands without fields encode to one compact JSON line."""
    assert encode_command("quiesce") == b'{"cmd":"quiesce"}\n'
    for cmd in ("resume", "compress_context", "stop"):
        assert json.loads(encode_command(cmd)) == {"cmd": cmd}


def test_encode_commands_with_fields() -> None:
    """switch_model and throttle carry their fields."""
    assert (
        encode_command("switch_model", model="qwen3") == b'{"cmd":"switch_model","model":"qwen3"}\n'
    )
    assert json.loads(encode_command("throttle", seconds=2.5)) == {
        "cmd": "throttle",
        "seconds": 2.5,
    }
    out = encode_command("switch_model", model="m\u00e9\n")
    assert out.count(b"\n") == 1 and out.isascii()
    assert set(COMMANDS) == {
        "quiesce",
        "resume",
        "switch_model",
        "compress_context",
        "throttle",
        "stop",
    }


@pytest.mark.parametrize(
    ("cmd", "fields"),
    [
        ("explode", {}),
        ("switch_model", {}),
        ("switch_model", {"model": ""}),
        ("throttle", {}),
        ("throttle", {"seconds": -1}),
        ("throttle", {"seconds": float("inf")}),
        ("throttle", {"seconds": True}),
        ("quiesce", {"cmd": "stop"}),
        ("quiesce", {"when": object()}),
        ("quiesce", {"x": float("nan")}),
    ],
)
def test_encode_command_rejects_bad_commands(cmd: str, fields: dict[str, Any]) -> None:
    """Unknown commands and missing or bad fields raise ValueError naming the command."""
    with pytest.raises(ValueError):
        encode_command(cmd, **fields)
