"""LineSplitter (incremental line splitting with an oversize cut) and parse_line fuzzing."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.agents.protocol import (
    MAX_LINE_BYTES,
    Event,
    Garbage,
    LineSplitter,
    Oversize,
    parse_line,
)


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> list[bytes | Oversize]:
    out: list[bytes | Oversize] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def test_lines_split_across_chunks_are_joined() -> None:
    """A line cut between chunks comes out whole, once its newline arrives."""
    s = LineSplitter()
    assert s.feed(b'{"type":"hea') == []
    assert s.feed(b"rtbe") == []
    assert s.feed(b'at"}\nnext') == [b'{"type":"heartbeat"}']
    assert s.feed(b"\n\n") == [b"next", b""]
    assert s.finish() is None


def test_finish_returns_the_trailing_partial_line() -> None:
    """At EOF the unterminated last line is returned once, then the splitter is empty."""
    s = LineSplitter()
    assert s.feed(b"a\nb") == [b"a"]
    assert s.feed(b"c") == []
    assert s.finish() == b"bc"
    assert s.finish() is None


def test_crlf_lines_keep_their_cr_for_the_parser() -> None:
    """The splitter splits on LF only; parse_line copes with the CR."""
    s = LineSplitter()
    lines = s.feed(b'{"type":"heartbeat"}\r\n')
    assert lines == [b'{"type":"heartbeat"}\r']
    assert isinstance(parse_line(lines[0]), Event)


def test_oversize_complete_line_is_replaced_by_a_marker() -> None:
    """A line over the limit inside one chunk becomes one Oversize marker; neighbours survive."""
    s = LineSplitter(max_line=10)
    out = s.feed(b"short\n" + b"x" * 11 + b"\nok\n")
    assert out[0] == b"short" and out[2] == b"ok"
    marker = out[1]
    assert isinstance(marker, Oversize) and marker.length == 11
    assert s.oversize_lines == 1
    g = parse_line(marker)
    assert isinstance(g, Garbage) and g.reason == "oversize" and g.length == 11


def test_oversize_streamed_line_is_reported_once_and_not_buffered() -> None:
    """A huge line spread over many chunks gives one marker; the rest is discarded."""
    s = LineSplitter()
    piece = b"y" * 50_000
    out = feed_all(s, [b"first\n" + piece, piece, piece, piece])
    assert out[0] == b"first"
    assert len(out) == 2 and isinstance(out[1], Oversize)
    assert out[1].length == 100_000
    assert out[1].preview.startswith(b"y")
    assert s._pending_len == 0  # noqa: SLF001 - nothing of an oversize line may stay buffered; nothing of the oversize line is kept
    assert s.feed(piece + b'\n{"type":"heartbeat"}\n') == [b'{"type":"heartbeat"}']
    assert s.oversize_lines == 1
    assert s.finish() is None


def test_line_of_exactly_the_limit_is_kept() -> None:
    """A line of exactly MAX_LINE_BYTES bytes is a normal line."""
    s = LineSplitter()
    data = b"z" * MAX_LINE_BYTES
    assert s.feed(data[:100]) == []
    assert s.feed(data[100:] + b"\n") == [data]


def test_pending_line_crossing_the_limit_with_newline_in_same_chunk() -> None:
    """A buffered partial plus the next chunk's first line over the limit is cut."""
    s = LineSplitter(max_line=10)
    assert s.feed(b"123456") == []
    out = s.feed(b"7890AB\nok\n")
    assert isinstance(out[0], Oversize) and out[0].length == 12
    assert out[1] == b"ok"


def test_byte_by_byte_feeding_gives_the_same_lines() -> None:
    """Feeding one byte at a time yields exactly the lines of a single feed."""
    data = b'{"type":"heartbeat"}\nabc\n\n{"type":"quiesced"}\ntail'
    s = LineSplitter()
    out = feed_all(s, [data[i : i + 1] for i in range(len(data))])
    assert out == data.split(b"\n")[:-1]
    assert s.finish() == b"tail"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20), st.integers(min_value=1, max_value=30))
def test_splitter_matches_split_for_any_chunking(pieces: list[bytes], size: int) -> None:
    """Any chunking of a stream gives the same lines as splitting it whole (under the limit)."""
    data = b"".join(pieces)
    s = LineSplitter()
    out = feed_all(s, [data[i : i + size] for i in range(0, len(data), size)])
    rest = s.finish()
    expected = data.split(b"\n")
    assert out == expected[:-1]
    assert rest == (expected[-1] or None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_line_never_raises_on_random_bytes(data: bytes) -> None:
    """Arbitrary bytes give an Event, a Garbage or None, never an exception."""
    result = parse_line(data)
    assert result is None or isinstance(result, Event | Garbage)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(["hello", "tool_call", "tokens", "task", "test_result", "state", "vote"]),
    st.dictionaries(
        st.sampled_from(
            ["agent", "name", "ok", "duration_ms", "prompt", "completion", "model", "id",
             "status", "passed", "failed", "coverage", "data", "topic", "choice", "path"]
        ),
        json_values,
    ),
)  # fmt: skip
def test_parse_line_never_raises_on_random_objects(kind: str, fields: dict[str, object]) -> None:
    """Random field values for known types never raise; accepted raw is valid UTF-8 JSON."""
    data = json.dumps({"type": kind, **fields}, allow_nan=True).encode()
    result = parse_line(data)
    if isinstance(result, Event):
        assert json.loads(result.raw.decode("utf-8"))["type"] == kind
        assert b"\n" not in result.raw
    else:
        assert isinstance(result, Garbage)
