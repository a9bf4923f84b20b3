"""Shared family: input hardening, the Security role's code (any project type)."""

from __future__ import annotations

from .builder import code_unit
from .units import Unit

HARDENING: dict[str, tuple[str, str, str]] = {
    "safe_path": ("joins user paths under a base directory, refusing traversal", '''
"""Paths from user input, confined to a base directory."""

from __future__ import annotations

import posixpath


def safe_join(base: str, *parts: str) -> str:
    """``base/parts...`` normalised; ValueError if the result leaves ``base``."""
    for part in parts:
        if part.startswith("/") or "\\x00" in part:
            raise ValueError(f"unsafe path component {part!r}")
    base = posixpath.normpath(base)
    joined = posixpath.normpath(posixpath.join(base, *parts))
    if joined != base and not joined.startswith(base.rstrip("/") + "/"):
        raise ValueError(f"path escapes {base}: {'/'.join(parts)}")
    return joined
''', '''
import pytest

from __PKG__.hardening.safe_path import safe_join


def test_joins_inside_base():
    assert safe_join("/srv/data", "a", "b.txt") == "/srv/data/a/b.txt"


def test_dot_dot_inside_base_is_fine():
    assert safe_join("/srv/data", "a/../b") == "/srv/data/b"


@pytest.mark.parametrize("part", ["../etc/passwd", "/etc/passwd", "a/../../x", "a\\x00b"])
def test_traversal_is_refused(part):
    with pytest.raises(ValueError):
        safe_join("/srv/data", part)
'''),
    "secrets_compare": ("compares secrets in constant time and mints tokens", '''
"""Secret tokens: minted from the OS random source, compared in constant time."""

from __future__ import annotations

import hmac
import secrets


def make_token(nbytes: int = 32) -> str:
    """A URL-safe random token carrying ``nbytes`` bytes of entropy."""
    if nbytes < 16:
        raise ValueError("tokens need at least 16 bytes of entropy")
    return secrets.token_urlsafe(nbytes)


def tokens_equal(given: str, expected: str) -> bool:
    """Compare without leaking, through timing, how much of ``given`` matched."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
''', '''
import pytest

from __PKG__.hardening.secrets_compare import make_token, tokens_equal


def test_tokens_are_unique_and_long():
    tokens = {make_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 40 for t in tokens)


def test_compare():
    token = make_token()
    assert tokens_equal(token, token)
    assert not tokens_equal(token[:-1] + "x", token)
    assert not tokens_equal("", token)


def test_short_tokens_are_refused():
    with pytest.raises(ValueError):
        make_token(8)
'''),
    "redact": ("masks secrets before text reaches a log", '''
"""Redaction of secrets in text bound for logs."""

from __future__ import annotations

import re

MASK = "***"
_PATTERNS = (
    re.compile(r"(?i)\\b(password|passwd|secret|token|api_key)(\\s*[=:]\\s*)(\\S+)"),
    re.compile(r"(?i)\\b(authorization:\\s*bearer)(\\s+)(\\S+)"),
)


def redact(text: str) -> str:
    """``password=hunter2`` -> ``password=***``; bearer tokens likewise."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text
''', '''
from __PKG__.hardening.redact import redact


def test_masks_key_value_secrets():
    assert redact("user=bob password=hunter2 ok") == "user=bob password=*** ok"
    assert redact("API_KEY: abc123") == "API_KEY: ***"


def test_masks_bearer_tokens():
    assert redact("Authorization: Bearer eyJabc.def") == "Authorization: Bearer ***"


def test_leaves_plain_text_alone():
    assert redact("nothing secret here") == "nothing secret here"
'''),
    "size_limits": ("bounds the size of untrusted input before parsing", '''
"""Size limits for untrusted input, checked before anything is parsed."""

from __future__ import annotations

import io


class InputTooLarge(ValueError):
    """Raised when input exceeds its limit."""


def check_size(data: bytes, limit: int) -> bytes:
    """Return ``data`` if it is at most ``limit`` bytes, else raise InputTooLarge."""
    if len(data) > limit:
        raise InputTooLarge(f"input of {len(data)} bytes exceeds the limit of {limit}")
    return data


def read_limited(stream: io.BufferedIOBase, limit: int, chunk: int = 4096) -> bytes:
    """Read a whole stream, stopping with InputTooLarge as soon as it passes ``limit``."""
    parts: list[bytes] = []
    total = 0
    while True:
        block = stream.read(chunk)
        if not block:
            return b"".join(parts)
        total += len(block)
        if total > limit:
            raise InputTooLarge(f"input exceeds the limit of {limit} bytes")
        parts.append(block)
''', '''
import io

import pytest

from __PKG__.hardening.size_limits import InputTooLarge, check_size, read_limited


def test_small_input_passes():
    assert check_size(b"abc", 3) == b"abc"


def test_large_input_is_refused():
    with pytest.raises(InputTooLarge):
        check_size(b"abcd", 3)


def test_stream_read_stops_past_the_limit():
    assert read_limited(io.BytesIO(b"x" * 100), limit=100, chunk=7) == b"x" * 100
    with pytest.raises(InputTooLarge):
        read_limited(io.BytesIO(b"x" * 101), limit=100, chunk=7)
'''),
    "identifiers": ("validates names used as keys and identifiers", '''
"""Validation of names that become keys, identifiers or file names."""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
RESERVED = frozenset({"select", "insert", "delete", "drop", "admin", "root", "null"})


def validate_identifier(name: str) -> str:
    """Return ``name`` if it is a safe identifier, else raise ValueError saying why."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an identifier (letters, digits, _; max 64)")
    if name.lower() in RESERVED:
        raise ValueError(f"{name!r} is reserved")
    return name
''', '''
import pytest

from __PKG__.hardening.identifiers import validate_identifier


@pytest.mark.parametrize("name", ["queue_1", "_private", "A" * 64])
def test_accepts_identifiers(name):
    assert validate_identifier(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "A" * 65, "DROP", "x;y"])
def test_rejects_bad_names(name):
    with pytest.raises(ValueError):
        validate_identifier(name)
'''),
}


def units(pkg: str) -> list[Unit]:
    return [
        code_unit(pkg, f"hardening.{name}", f"hardening.{name}", source, test, stage=2,
                  owner="Security", package_doc="Input hardening: limits, redaction, paths.",
                  summary=f"hardening.{name} {what}", title=f"harden: {what}")
        for name, (what, source, test) in HARDENING.items()
    ]
