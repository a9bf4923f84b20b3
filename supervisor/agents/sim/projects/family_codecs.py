"""Shared family: byte codecs (framing and text-safe encodings) for any project type."""

from __future__ import annotations

from .builder import code_unit
from .units import Unit

CODECS: dict[str, tuple[str, str, str]] = {
    "netstring": ("frames a payload as <length>:<payload>,", '''
"""Netstrings: ``b"5:hello,"``: a decimal length, a colon, the payload, a comma."""

from __future__ import annotations


def encode(payload: bytes) -> bytes:
    """Frame ``payload`` as a netstring."""
    return str(len(payload)).encode("ascii") + b":" + payload + b","


def decode(data: bytes) -> tuple[bytes, bytes]:
    """Split the first netstring off ``data``: returns (payload, rest)."""
    head, sep, _ = data.partition(b":")
    if not sep or not head.isdigit():
        raise ValueError("netstring must start with a decimal length and a colon")
    start = len(head) + 1
    end = start + int(head)
    if len(data) < end + 1:
        raise ValueError("truncated netstring")
    if data[end : end + 1] != b",":
        raise ValueError("netstring must end with a comma")
    return data[start:end], data[end + 1 :]
''', '''
import pytest

from __PKG__.codecs.netstring import decode, encode


def test_encodes_length_and_comma():
    assert encode(b"hello") == b"5:hello,"


def test_decode_returns_payload_and_rest():
    assert decode(encode(b"abc") + encode(b"")) == (b"abc", b"0:,")


def test_empty_payload_round_trips():
    assert decode(encode(b""))[0] == b""


@pytest.mark.parametrize("bad", [b"5:hel", b"x:abc,", b"3:abc;", b"abc"])
def test_malformed_input_is_rejected(bad):
    with pytest.raises(ValueError):
        decode(bad)
'''),
    "length_prefix": ("frames payloads with a 4-byte big-endian length", '''
"""Length-prefixed frames: a 4-byte big-endian length, then the payload."""

from __future__ import annotations

import struct

HEADER = struct.Struct(">I")
MAX_FRAME = 16 << 20


def encode(payload: bytes) -> bytes:
    """Frame ``payload``; refuses frames over ``MAX_FRAME`` bytes."""
    if len(payload) > MAX_FRAME:
        raise ValueError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(payload)) + payload


def decode(data: bytes) -> tuple[bytes | None, bytes]:
    """(frame, rest); frame is None while ``data`` holds no complete frame yet."""
    if len(data) < HEADER.size:
        return None, data
    (size,) = HEADER.unpack_from(data)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    end = HEADER.size + size
    if len(data) < end:
        return None, data
    return data[HEADER.size : end], data[end:]
''', '''
import pytest

from __PKG__.codecs.length_prefix import MAX_FRAME, decode, encode


def test_header_is_big_endian_length():
    assert encode(b"ab") == b"\\x00\\x00\\x00\\x02ab"


def test_incomplete_frame_waits_for_more():
    data = encode(b"hello")
    assert decode(data[:6]) == (None, data[:6])


def test_two_frames_in_one_buffer():
    frame, rest = decode(encode(b"one") + encode(b"two"))
    assert frame == b"one"
    assert decode(rest) == (b"two", b"")


def test_oversized_header_is_rejected():
    with pytest.raises(ValueError):
        decode((MAX_FRAME + 1).to_bytes(4, "big"))
'''),
    "hex": ("encodes bytes as lowercase hexadecimal text", '''
"""Hexadecimal text encoding of bytes."""

from __future__ import annotations


def encode(payload: bytes) -> bytes:
    """Lowercase hex digits, two per byte."""
    return payload.hex().encode("ascii")


def decode(data: bytes) -> bytes:
    """The bytes of hex text; ValueError on an odd length or a non-hex digit."""
    try:
        return bytes.fromhex(data.decode("ascii"))
    except UnicodeDecodeError as exc:
        raise ValueError("hex text must be ASCII") from exc
''', '''
import pytest

from __PKG__.codecs.hex import decode, encode


def test_encodes_two_digits_per_byte():
    assert encode(b"\\x00\\xffA") == b"00ff41"


def test_round_trips_every_byte():
    data = bytes(range(256))
    assert decode(encode(data)) == data


@pytest.mark.parametrize("bad", [b"abc", b"zz", "é".encode()])
def test_rejects_bad_hex(bad):
    with pytest.raises(ValueError):
        decode(bad)
'''),
    "base64url": ("URL-safe base64 without padding", '''
"""URL-safe base64 without ``=`` padding (as used in tokens)."""

from __future__ import annotations

import base64
import binascii


def encode(payload: bytes) -> bytes:
    """URL-safe base64 of ``payload``, padding stripped."""
    return base64.urlsafe_b64encode(payload).rstrip(b"=")


def decode(data: bytes) -> bytes:
    """Bytes of unpadded URL-safe base64; ValueError if it is not valid."""
    if len(data) % 4 == 1:
        raise ValueError("invalid base64 length")
    try:
        return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc
''', '''
import pytest

from __PKG__.codecs.base64url import decode, encode


def test_no_padding_and_url_safe_alphabet():
    encoded = encode(bytes(range(250, 256)))
    assert b"=" not in encoded and b"+" not in encoded and b"/" not in encoded


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 31])
def test_round_trips_every_length(size):
    data = bytes(range(size))
    assert decode(encode(data)) == data


def test_rejects_impossible_length():
    with pytest.raises(ValueError):
        decode(b"abcde")
'''),
    "run_length": ("run-length encodes repeated bytes", '''
"""Run-length encoding: pairs of (run length 1..255, byte value)."""

from __future__ import annotations


def encode(payload: bytes) -> bytes:
    """Each run of equal bytes becomes two bytes: its length and the value."""
    out = bytearray()
    i = 0
    while i < len(payload):
        run = 1
        while i + run < len(payload) and payload[i + run] == payload[i] and run < 255:
            run += 1
        out += bytes((run, payload[i]))
        i += run
    return bytes(out)


def decode(data: bytes) -> bytes:
    """Expand (length, value) pairs; ValueError on an odd length or a zero run."""
    if len(data) % 2:
        raise ValueError("run-length data must have an even length")
    out = bytearray()
    for i in range(0, len(data), 2):
        run, value = data[i], data[i + 1]
        if run == 0:
            raise ValueError("zero-length run")
        out += bytes((value,)) * run
    return bytes(out)
''', '''
import pytest

from __PKG__.codecs.run_length import decode, encode


def test_encodes_runs():
    assert encode(b"aaab") == b"\\x03a\\x01b"


def test_long_runs_split_at_255():
    data = b"x" * 600
    assert encode(data) == b"\\xffx\\xffx\\x5ax"
    assert decode(encode(data)) == data


def test_rejects_odd_length_and_zero_runs():
    with pytest.raises(ValueError):
        decode(b"\\x01")
    with pytest.raises(ValueError):
        decode(b"\\x00a")
'''),
    "percent": ("percent-encodes bytes for URLs", '''
"""Percent-encoding (RFC 3986) of arbitrary bytes."""

from __future__ import annotations

import re
from urllib.parse import quote_from_bytes, unquote_to_bytes

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def encode(payload: bytes) -> bytes:
    """Every byte but the unreserved characters becomes %XX."""
    return quote_from_bytes(payload, safe="-._~").encode("ascii")


def decode(data: bytes) -> bytes:
    """Bytes of percent-encoded text; ValueError on a broken escape."""
    text = data.decode("ascii")
    if _BAD_ESCAPE.search(text):
        raise ValueError(f"broken percent escape in {text!r}")
    return unquote_to_bytes(text)
''', '''
import pytest

from __PKG__.codecs.percent import decode, encode


def test_reserved_characters_are_escaped():
    assert encode(b"a b/c?") == b"a%20b%2Fc%3F"


def test_round_trips_every_byte():
    data = bytes(range(256))
    assert decode(encode(data)) == data


def test_rejects_broken_escape():
    with pytest.raises(ValueError):
        decode(b"100%")
'''),
}


def units(pkg: str) -> list[Unit]:
    return [
        code_unit(pkg, f"codecs.{name}", f"codecs.{name}", source, test, stage=1,
                  package_doc="Byte codecs: framing and text-safe encodings.",
                  summary=f"codecs.{name} {what}", title=f"add the {name} codec")
        for name, (what, source, test) in CODECS.items()
    ]
