"""ServiceMesh families: trace-context propagation formats and span exporters."""

from __future__ import annotations

from .builder import code_unit
from .units import Unit

# A trace context is a dict: trace_id (32 hex), span_id (16 hex), sampled (bool).
PROPAGATION: dict[str, tuple[str, str]] = {
    "w3c_traceparent": ("the W3C traceparent header", '''
"""W3C Trace Context: ``traceparent: 00-<trace id>-<span id>-<flags>``."""

from __future__ import annotations

import re

_HEADER = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def inject(ctx: dict) -> dict[str, str]:
    flags = "01" if ctx["sampled"] else "00"
    return {"traceparent": f"00-{ctx['trace_id']}-{ctx['span_id']}-{flags}"}


def extract(headers: dict[str, str]) -> dict | None:
    """The context in ``headers``, or None if absent or malformed (all-zero ids too)."""
    match = _HEADER.fullmatch(headers.get("traceparent", "").strip())
    if not match or set(match[1]) == {"0"} or set(match[2]) == {"0"}:
        return None
    return {"trace_id": match[1], "span_id": match[2], "sampled": int(match[3], 16) & 1 == 1}
'''),
    "b3_single": ("the Zipkin B3 single header", '''
"""Zipkin B3, single header: ``b3: <trace id>-<span id>-<sampled>``."""

from __future__ import annotations


def inject(ctx: dict) -> dict[str, str]:
    return {"b3": f"{ctx['trace_id']}-{ctx['span_id']}-{1 if ctx['sampled'] else 0}"}


def extract(headers: dict[str, str]) -> dict | None:
    parts = headers.get("b3", "").split("-")
    if len(parts) < 2 or len(parts[0]) not in (16, 32) or len(parts[1]) != 16:
        return None
    try:
        int(parts[0], 16), int(parts[1], 16)
    except ValueError:
        return None
    sampled = len(parts) > 2 and parts[2] in ("1", "d")
    return {"trace_id": parts[0].rjust(32, "0"), "span_id": parts[1], "sampled": sampled}
'''),
    "b3_multi": ("the Zipkin B3 multi-header form", '''
"""Zipkin B3, multiple headers: X-B3-TraceId, X-B3-SpanId, X-B3-Sampled."""

from __future__ import annotations


def inject(ctx: dict) -> dict[str, str]:
    return {
        "X-B3-TraceId": ctx["trace_id"],
        "X-B3-SpanId": ctx["span_id"],
        "X-B3-Sampled": "1" if ctx["sampled"] else "0",
    }


def extract(headers: dict[str, str]) -> dict | None:
    """Header names are matched case-insensitively."""
    lower = {k.lower(): v for k, v in headers.items()}
    trace, span = lower.get("x-b3-traceid", ""), lower.get("x-b3-spanid", "")
    if len(trace) not in (16, 32) or len(span) != 16:
        return None
    try:
        int(trace, 16), int(span, 16)
    except ValueError:
        return None
    return {"trace_id": trace.rjust(32, "0"), "span_id": span,
            "sampled": lower.get("x-b3-sampled") == "1"}
'''),
    "uber_trace_id": ("the Jaeger uber-trace-id header", '''
"""Jaeger: ``uber-trace-id: <trace id>:<span id>:<parent id>:<flags>``."""

from __future__ import annotations


def inject(ctx: dict) -> dict[str, str]:
    return {"uber-trace-id": f"{ctx['trace_id']}:{ctx['span_id']}:0:{1 if ctx['sampled'] else 0}"}


def extract(headers: dict[str, str]) -> dict | None:
    parts = headers.get("uber-trace-id", "").split(":")
    if len(parts) != 4:
        return None
    try:
        flags = int(parts[3], 16)
        int(parts[0], 16), int(parts[1], 16)
    except ValueError:
        return None
    return {"trace_id": parts[0].rjust(32, "0"), "span_id": parts[1].rjust(16, "0"),
            "sampled": flags & 1 == 1}
'''),
    "baggage": ("the W3C baggage header (key=value list)", '''
"""W3C Baggage: ``baggage: key1=value1,key2=value2`` with percent-encoded values."""

from __future__ import annotations

from urllib.parse import quote, unquote


def inject(items: dict[str, str]) -> dict[str, str]:
    return {"baggage": ",".join(f"{k}={quote(str(v), safe='')}" for k, v in items.items())}


def extract(headers: dict[str, str]) -> dict[str, str]:
    """Items of the baggage header; members without '=' are skipped, properties dropped."""
    items = {}
    for member in headers.get("baggage", "").split(","):
        key, sep, value = member.partition("=")
        if sep and key.strip():
            items[key.strip()] = unquote(value.split(";")[0].strip())
    return items
'''),
}

PROPAGATION_TEST = '''
from __PKG__.propagation.__NAME__ import extract, inject

CTX = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "sampled": True,
}


def test_round_trip():
    assert extract(inject(CTX)) == CTX
    unsampled = dict(CTX, sampled=False)
    assert extract(inject(unsampled)) == unsampled


def test_missing_or_garbled_headers():
    assert extract({}) is None
    assert extract({k: "zz-not-a-context" for k in inject(CTX)}) is None
'''

BAGGAGE_TEST = '''
from __PKG__.propagation.baggage import extract, inject


def test_round_trip_with_escaping():
    items = {"user": "ann", "note": "a,b=c d"}
    assert extract(inject(items)) == items


def test_tolerates_spaces_properties_and_junk():
    headers = {"baggage": " a = 1 ;prop=x, junk ,b=2"}
    assert extract(headers) == {"a": "1", "b": "2"}
    assert extract({}) == {}
'''

EXPORTERS: dict[str, tuple[str, str, str]] = {
    "jsonl": ("writes spans as JSON lines and reads them back", '''
"""Span export as JSON lines (one span dict per line)."""

from __future__ import annotations

import json

FIELDS = ("trace_id", "span_id", "parent_id", "name", "start", "end")


def export(spans: list[dict]) -> str:
    for span in spans:
        missing = [f for f in FIELDS if f not in span]
        if missing:
            raise ValueError(f"span {span.get('name')!r} lacks {', '.join(missing)}")
    return "".join(json.dumps(span, sort_keys=True) + "\\n" for span in spans)


def load(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
''', '''
import pytest

from __PKG__.exporters.jsonl import export, load

SPANS = [
    {"trace_id": "t", "span_id": "a", "parent_id": None, "name": "root", "start": 0, "end": 2},
    {"trace_id": "t", "span_id": "b", "parent_id": "a", "name": "db", "start": 1, "end": 1.5},
]


def test_round_trip():
    text = export(SPANS)
    assert len(text.splitlines()) == 2 and load(text) == SPANS


def test_incomplete_spans_are_refused():
    with pytest.raises(ValueError):
        export([{"name": "x"}])
'''),
    "text_tree": ("renders spans as an indented tree", '''
"""Span trees as indented text, children ordered by start time."""

from __future__ import annotations


def render(spans: list[dict]) -> str:
    by_parent: dict[str | None, list[dict]] = {}
    ids = {s["span_id"] for s in spans}
    for span in sorted(spans, key=lambda s: s["start"]):
        parent = span["parent_id"] if span["parent_id"] in ids else None
        by_parent.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in by_parent.get(parent, []):
            took = (span["end"] - span["start"]) * 1000
            lines.append(f"{'  ' * depth}- {span['name']} {took:.0f}ms")
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return "\\n".join(lines)
''', '''
from __PKG__.exporters.text_tree import render


def test_tree_with_orphans_at_the_root():
    spans = [
        {"span_id": "b", "parent_id": "a", "name": "db", "start": 0.1, "end": 0.3},
        {"span_id": "a", "parent_id": None, "name": "GET /", "start": 0.0, "end": 0.5},
        {"span_id": "c", "parent_id": "a", "name": "cache", "start": 0.05, "end": 0.06},
        {"span_id": "d", "parent_id": "zz", "name": "orphan", "start": 0.2, "end": 0.2},
    ]
    expected = ["- GET / 500ms", "  - cache 10ms", "  - db 200ms", "- orphan 0ms"]
    assert render(spans).splitlines() == expected
'''),
    "zipkin": ("converts spans to Zipkin v2 JSON", '''
"""Spans in the Zipkin v2 JSON shape (timestamps and durations in microseconds)."""

from __future__ import annotations


def to_zipkin(span: dict, service: str) -> dict:
    out = {
        "traceId": span["trace_id"],
        "id": span["span_id"],
        "name": span["name"],
        "timestamp": int(round(span["start"] * 1_000_000)),
        "duration": int(round((span["end"] - span["start"]) * 1_000_000)),
        "localEndpoint": {"serviceName": service},
        "tags": {k: str(v) for k, v in span.get("tags", {}).items()},
    }
    if span.get("parent_id"):
        out["parentId"] = span["parent_id"]
    return out


def export(spans: list[dict], service: str) -> list[dict]:
    return [to_zipkin(span, service) for span in spans]
''', '''
from __PKG__.exporters.zipkin import export


def test_zipkin_shape():
    span = {"trace_id": "t1", "span_id": "s1", "parent_id": None, "name": "get",
            "start": 1.5, "end": 1.75, "tags": {"http.status": 200}}
    (out,) = export([span], service="api")
    assert out["timestamp"] == 1_500_000 and out["duration"] == 250_000
    assert out["tags"] == {"http.status": "200"} and "parentId" not in out
    assert out["localEndpoint"] == {"serviceName": "api"}
'''),
}


def units(pkg: str) -> list[Unit]:
    out = []
    for name, (what, source) in PROPAGATION.items():
        test = BAGGAGE_TEST if name == "baggage" else PROPAGATION_TEST.replace("__NAME__", name)
        out.append(code_unit(pkg, f"propagation.{name}", f"propagation.{name}", source, test,
                             stage=2, package_doc="Trace-context propagation: inject/extract.",
                             summary=f"propagation.{name}: {what}",
                             title=f"propagate trace context with {what}"))
    for name, (what, source, test) in EXPORTERS.items():
        out.append(code_unit(pkg, f"exporters.{name}", f"exporters.{name}", source, test,
                             stage=2, package_doc="Span exporters.",
                             summary=f"exporters.{name} {what}", title=f"export spans: {what}"))
    return out
