"""Mixes valid events with invalid JSON, binary bytes and a 100 KiB line on stdout, and
a 200 KiB line between short ones on stderr, then exits 0.

``expected_stdout()`` is the exact byte stream, for tests to compare with."""

import sys


def expected_stdout() -> bytes:
    return b"".join([
        b'{"type": "hello", "agent": "garbage", "version": "1", "capabilities": []}\n',
        b"{not json at all\n",
        bytes(range(256)) + b"\n",
        b'{"type": "heartbeat"}\n',
        b"x" * (100 * 1024) + b"\n",
        b'[1, 2, 3]\n',
        b'{"type": "tool_call", "name": "edit", "ok": true, "duration_ms": 5}\n',
        b"no newline at the end",
    ])


def expected_stderr() -> bytes:
    return b"warning: first\n" + b"e" * (200 * 1024) + b"\nwarning: last\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(expected_stdout())
    sys.stdout.flush()
    sys.stderr.buffer.write(expected_stderr())
    sys.stderr.flush()
