"""RedQueue wire and data modules: RESP codec and the expiring keyspace."""

from __future__ import annotations

RESP = ('''
"""RESP2, the Redis serialization protocol: encoding replies, parsing requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CRLF = b"\\r\\n"


@dataclass(frozen=True)
class Error:
    """An error reply (``-ERR message``)."""

    message: str


class ProtocolError(ValueError):
    """The bytes are not valid RESP."""


class Incomplete(Exception):
    """More bytes are needed to finish the value."""


def encode(value: Any) -> bytes:
    """Encode None, bool, int, str, bytes, Error or a (nested) list as RESP."""
    if value is None:
        return b"$-1\\r\\n"
    if isinstance(value, Error):
        return b"-" + value.message.encode() + CRLF
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b":" + str(value).encode() + CRLF
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"$" + str(len(value)).encode() + CRLF + value + CRLF
    if isinstance(value, list | tuple):
        return b"*" + str(len(value)).encode() + CRLF + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__} as RESP")


def encode_simple(text: str) -> bytes:
    """A simple string reply such as ``+OK``."""
    if "\\r" in text or "\\n" in text:
        raise ValueError("simple strings cannot contain CR or LF")
    return b"+" + text.encode() + CRLF


def _int(line: bytes) -> int:
    try:
        return int(line)
    except ValueError:
        raise ProtocolError(f"bad integer {line!r}") from None


def parse(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Parse one value at ``pos``: (value, next position); Incomplete if cut short."""
    end = data.find(CRLF, pos)
    if end == -1:
        raise Incomplete
    kind, line, nxt = data[pos : pos + 1], data[pos + 1 : end], end + 2
    if kind == b"+":
        return line.decode(), nxt
    if kind == b"-":
        return Error(line.decode()), nxt
    if kind == b":":
        return _int(line), nxt
    if kind == b"$":
        size = _int(line)
        if size == -1:
            return None, nxt
        if size < 0:
            raise ProtocolError(f"negative bulk length {size}")
        if len(data) < nxt + size + 2:
            raise Incomplete
        if data[nxt + size : nxt + size + 2] != CRLF:
            raise ProtocolError("bulk string not terminated by CRLF")
        return data[nxt : nxt + size], nxt + size + 2
    if kind == b"*":
        count = _int(line)
        if count == -1:
            return None, nxt
        items = []
        for _ in range(count):
            item, nxt = parse(data, nxt)
            items.append(item)
        return items, nxt
    raise ProtocolError(f"unknown RESP type byte {kind!r}")


class Parser:
    """Incremental parser: feed bytes as they arrive, take complete values out."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        values = []
        pos = 0
        while pos < len(self._buffer):
            try:
                value, pos = parse(self._buffer, pos)
            except Incomplete:
                break
            values.append(value)
        self._buffer = self._buffer[pos:]
        return values

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete value."""
        return len(self._buffer)
''', '''
import pytest

from __PKG__.resp import Error, Parser, ProtocolError, encode, encode_simple, parse


@pytest.mark.parametrize("value, wire", [
    (None, b"$-1\\r\\n"),
    (42, b":42\\r\\n"),
    (True, b":1\\r\\n"),
    (b"hi", b"$2\\r\\nhi\\r\\n"),
    ("", b"$0\\r\\n\\r\\n"),
    ([b"a", 1], b"*2\\r\\n$1\\r\\na\\r\\n:1\\r\\n"),
    (Error("ERR bad"), b"-ERR bad\\r\\n"),
])
def test_encode(value, wire):
    assert encode(value) == wire


def test_simple_strings():
    assert encode_simple("OK") == b"+OK\\r\\n"
    assert parse(b"+OK\\r\\n") == ("OK", 5)
    with pytest.raises(ValueError):
        encode_simple("a\\r\\nb")


def test_parse_nested_array():
    value = [b"SET", [b"x", 3], None]
    assert parse(encode(value))[0] == value


def test_parser_accepts_bytes_one_at_a_time():
    wire = encode([b"GET", b"key"]) + encode(7)
    parser = Parser()
    values = []
    for i in range(len(wire)):
        values += parser.feed(wire[i : i + 1])
    assert values == [[b"GET", b"key"], 7]
    assert parser.pending == 0


@pytest.mark.parametrize("bad", [b"?x\\r\\n", b":12a\\r\\n", b"$2\\r\\nabcd\\r\\n"])
def test_protocol_errors(bad):
    with pytest.raises(ProtocolError):
        parse(bad)
''')


KEYSPACE = ('''
"""An in-memory keyspace with per-key expiry; time is passed in (``now``)."""

from __future__ import annotations

from typing import Any


class Keyspace:
    def __init__(self) -> None:
        self._data: dict[bytes, Any] = {}
        self._expires: dict[bytes, float] = {}

    def __len__(self) -> int:
        return len(self._data)

    def _alive(self, key: bytes, now: float) -> bool:
        deadline = self._expires.get(key)
        if deadline is not None and deadline <= now:
            self.delete(key)
        return key in self._data

    def set(self, key: bytes, value: Any, now: float, ttl: float | None = None) -> None:
        """Store ``value``; with ``ttl`` it expires ``ttl`` seconds after ``now``."""
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        self._data[key] = value
        if ttl is None:
            self._expires.pop(key, None)
        else:
            self._expires[key] = now + ttl

    def get(self, key: bytes, now: float) -> Any:
        return self._data[key] if self._alive(key, now) else None

    def delete(self, key: bytes) -> bool:
        self._expires.pop(key, None)
        return self._data.pop(key, None) is not None

    def expire(self, key: bytes, seconds: float, now: float) -> bool:
        """Set a deadline on an existing key; False if there is no such key."""
        if not self._alive(key, now):
            return False
        self._expires[key] = now + seconds
        return True

    def ttl(self, key: bytes, now: float) -> float:
        """Seconds left; -1 for a key without expiry, -2 for a missing key (as Redis)."""
        if not self._alive(key, now):
            return -2
        deadline = self._expires.get(key)
        return -1 if deadline is None else deadline - now

    def purge(self, now: float) -> int:
        """Drop every expired key; how many were dropped."""
        expired = [k for k, deadline in self._expires.items() if deadline <= now]
        for key in expired:
            self.delete(key)
        return len(expired)
''', '''
import pytest

from __PKG__.keyspace import Keyspace


def test_set_and_get():
    ks = Keyspace()
    ks.set(b"k", b"v", now=0)
    assert ks.get(b"k", now=100) == b"v"
    assert ks.ttl(b"k", now=0) == -1


def test_expiry():
    ks = Keyspace()
    ks.set(b"k", b"v", now=0, ttl=10)
    assert ks.ttl(b"k", now=4) == 6
    assert ks.get(b"k", now=10) is None
    assert ks.ttl(b"k", now=10) == -2


def test_set_without_ttl_clears_expiry():
    ks = Keyspace()
    ks.set(b"k", b"v", now=0, ttl=1)
    ks.set(b"k", b"w", now=0)
    assert ks.get(b"k", now=5) == b"w"


def test_expire_and_purge():
    ks = Keyspace()
    ks.set(b"a", 1, now=0)
    ks.set(b"b", 2, now=0)
    assert ks.expire(b"a", 5, now=0) and not ks.expire(b"zz", 5, now=0)
    assert ks.purge(now=5) == 1 and len(ks) == 1


def test_rejects_non_positive_ttl():
    with pytest.raises(ValueError):
        Keyspace().set(b"k", 1, now=0, ttl=0)
''')
