"""Per-type field checks of agent protocol v1 (DESIGN.md section 4). Pure, hot path.

``CHECKS[type](obj)`` returns None when the object's fields are fine, else a short
``"field: what is wrong"``. Checks only read, except ``test_result.coverage``, which is
normalised in place to 0..1. Counts must be ints in 0..MAX_COUNT (bool is not an int here),
numbers finite and in 0..MAX_COUNT; an optional field given as ``null`` counts as absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_COUNT = 2**53  # largest int that survives every JSON reader and msgpack
TASK_STATUSES = frozenset({"started", "completed", "failed"})


def _bad_count(value: Any) -> bool:
    return value.__class__ is not int or not 0 <= value <= MAX_COUNT


def _bad_number(value: Any) -> bool:
    cls = value.__class__
    return not (cls is int or cls is float) or not 0 <= value <= MAX_COUNT


def _bad_opt_str(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key)
    return value is not None and value.__class__ is not str


def _check_hello(o: dict[str, Any]) -> str | None:
    if o.get("agent").__class__ is not str:
        return "agent: expected string"
    if o.get("version").__class__ is not str:
        return "version: expected string"
    caps = o.get("capabilities")
    if caps.__class__ is not list or any(c.__class__ is not str for c in caps):
        return "capabilities: expected list of strings"
    return None


def _check_tool_call(o: dict[str, Any]) -> str | None:
    if o.get("name").__class__ is not str:
        return "name: expected string"
    if o.get("ok").__class__ is not bool:
        return "ok: expected boolean"
    if _bad_number(o.get("duration_ms")):
        return "duration_ms: expected number >= 0"
    if _bad_opt_str(o, "path"):
        return "path: expected string"
    return None


def _check_tokens(o: dict[str, Any]) -> str | None:
    if _bad_count(o.get("prompt")):
        return "prompt: expected integer >= 0"
    if _bad_count(o.get("completion")):
        return "completion: expected integer >= 0"
    if o.get("model").__class__ is not str:
        return "model: expected string"
    context = o.get("context")
    if context is not None and _bad_count(context):
        return "context: expected integer >= 0"
    return None


def _check_task(o: dict[str, Any]) -> str | None:
    if o.get("id").__class__ is not str:
        return "id: expected string"
    status = o.get("status")
    if status.__class__ is not str or status not in TASK_STATUSES:
        return "status: expected started, completed or failed"
    if _bad_opt_str(o, "title"):
        return "title: expected string"
    return None


def _check_test_result(o: dict[str, Any]) -> str | None:
    if _bad_count(o.get("passed")):
        return "passed: expected integer >= 0"
    if _bad_count(o.get("failed")):
        return "failed: expected integer >= 0"
    cov = o.get("coverage")
    if cov is not None:
        if _bad_number(cov) or cov > 100:
            return "coverage: expected number in 0..1 or 0..100"
        o["coverage"] = float(cov) if cov <= 1 else cov / 100.0
    return None


def _check_error(o: dict[str, Any]) -> str | None:
    if o.get("kind").__class__ is not str:
        return "kind: expected string"
    if o.get("message").__class__ is not str:
        return "message: expected string"
    fatal = o.get("fatal")
    if fatal is not None and fatal.__class__ is not bool:
        return "fatal: expected boolean"
    return None


def _has_huge_int(value: Any) -> bool:
    """True if an int beyond 64 bits is anywhere inside (msgpack cannot store it)."""
    stack = [value]
    while stack:
        item = stack.pop()
        cls = item.__class__
        if cls is int:
            if not -(2**63) <= item < 2**64:
                return True
        elif cls is dict:
            stack.extend(item.values())
        elif cls is list:
            stack.extend(item)
    return False


def _check_state(o: dict[str, Any]) -> str | None:
    data = o.get("data")
    if data.__class__ is not dict:
        return "data: expected object"
    return "data: integer out of range" if _has_huge_int(data) else None


def _check_memory(o: dict[str, Any]) -> str | None:
    if o.get("key").__class__ is not str:
        return "key: expected string"
    if "value" not in o:
        return "value: missing"
    return "value: integer out of range" if _has_huge_int(o["value"]) else None


def _check_vote(o: dict[str, Any]) -> str | None:
    if o.get("topic").__class__ is not str:
        return "topic: expected string"
    choice = o.get("choice")
    if choice.__class__ not in (str, int, float, bool):
        return "choice: expected string, number or boolean"
    return "choice: integer out of range" if _has_huge_int(choice) else None


def _check_nothing(o: dict[str, Any]) -> str | None:
    return None


CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "hello": _check_hello,
    "tool_call": _check_tool_call,
    "tokens": _check_tokens,
    "task": _check_task,
    "test_result": _check_test_result,
    "error": _check_error,
    "state": _check_state,
    "memory": _check_memory,
    "vote": _check_vote,
    "quiesced": _check_nothing,
    "heartbeat": _check_nothing,
}
