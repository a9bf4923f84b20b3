"""The checkpoint file format.

A checkpoint file is, byte for byte::

    MAGIC (8 bytes)  b"MTCKPT\\n\\x00"
    header_len       uint32 big-endian, 1 .. MAX_HEADER_LEN
    header_crc32     uint32 big-endian, zlib.crc32 of the header bytes
    header           msgpack map {format, schema, body_len, body_sha256, created_wall}
    body             msgpack map with str keys, exactly body_len bytes, sha256 = body_sha256

The header has its own CRC so that a flipped bit there reads as damage, not as an
unknown format; the body has a sha256. Every way a file can be wrong (truncated,
damaged, foreign, from a newer schema, absurd lengths, wrong types) is refused with a
``CheckpointCorrupt`` or ``CheckpointVersionError`` naming the file and the problem.
The file is written atomically: it exists whole or not at all.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgpack

from supervisor.checkpoint.manifest import (  # noqa: F401  (re-exported)
    EncodedManifest,
    Entry,
    decode_manifest,
    encode_manifest,
    link_escapes,
    validate_manifest,
)
from supervisor.errors import CheckpointCorrupt, CheckpointError, CheckpointVersionError
from supervisor.session.files import atomic_writer

FORMAT_NAME = "megatest-checkpoint"
SCHEMA_VERSION = 1
MAGIC = b"MTCKPT\n\x00"
MAX_HEADER_LEN = 64 * 1024
MAX_BODY_LEN = 1 << 30  # 1 GiB: far beyond any real checkpoint, far below an absurd prefix
_PREAMBLE = struct.Struct(">8sII")


def _pack_body(body: Mapping[str, Any]) -> bytes:
    """msgpack of ``body``; an EncodedManifest brings its rows already packed."""
    packer = msgpack.Packer(use_bin_type=True)
    parts = [packer.pack_map_header(len(body))]
    for key, value in body.items():
        parts.append(packer.pack(key))
        if isinstance(value, EncodedManifest):
            parts.append(value.packed)
        else:
            parts.append(packer.pack(value))
    return b"".join(parts)


# ---------------------------------------------------------------- the file frame


def _unpack(data: bytes) -> Any:
    # unpackb bounds every str/bin/array/map length by len(data), so an absurd length
    # prefix is refused instead of allocated.
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)


def build_frame(header: Mapping[str, Any], body: bytes) -> bytes:
    """Assemble the bytes of a checkpoint file (exposed for tests that forge headers)."""
    head: bytes = msgpack.packb(dict(header), use_bin_type=True)
    return _PREAMBLE.pack(MAGIC, len(head), zlib.crc32(head)) + head + body


def write_checkpoint(path: Path, body: Mapping[str, Any], durable: bool = True) -> int:
    """Write ``body`` as a checkpoint file, atomically; return the bytes written."""
    where = str(path)
    if not isinstance(body, Mapping) or not all(isinstance(k, str) for k in body):
        raise CheckpointError(where, "the body must be a map with string keys")
    try:
        data = _pack_body(body)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(where, f"the body cannot be encoded as msgpack: {exc}") from exc
    if len(data) > MAX_BODY_LEN:
        raise CheckpointError(where, f"the body is {len(data)} bytes, over {MAX_BODY_LEN}")
    wall = body.get("created_wall")
    header = {
        "format": FORMAT_NAME,
        "schema": SCHEMA_VERSION,
        "body_len": len(data),
        "body_sha256": hashlib.sha256(data).digest(),
        "created_wall": float(wall) if isinstance(wall, int | float) else None,
    }
    frame = build_frame(header, data)
    try:
        with atomic_writer(Path(path), durable=durable) as fh:
            fh.write(frame)
    except OSError as exc:
        raise CheckpointError(where, f"cannot write: {exc.strerror or exc}") from exc
    return len(frame)


def _read_header(where: str, fh: Any, size: int) -> tuple[dict[str, Any], int]:
    pre = fh.read(_PREAMBLE.size)
    if len(pre) < _PREAMBLE.size:
        if not pre:
            raise CheckpointCorrupt(where, "empty file (0 bytes)")
        if not MAGIC.startswith(pre[: len(MAGIC)]):
            raise CheckpointCorrupt(where, "not a checkpoint file (bad magic bytes)")
        raise CheckpointCorrupt(where, f"truncated: {size} bytes, shorter than the preamble")
    magic, head_len, crc = _PREAMBLE.unpack(pre)
    if magic != MAGIC:
        raise CheckpointCorrupt(where, "not a checkpoint file (bad magic bytes)")
    if not 0 < head_len <= MAX_HEADER_LEN:
        raise CheckpointCorrupt(where, f"header length {head_len} is out of range")
    head = fh.read(head_len)
    if len(head) < head_len:
        raise CheckpointCorrupt(where, f"truncated inside the header ({size} bytes in all)")
    if zlib.crc32(head) != crc:
        raise CheckpointCorrupt(where, "header checksum mismatch: the header is damaged")
    try:
        header = _unpack(head)
    except Exception as exc:  # msgpack raises several unrelated types
        raise CheckpointCorrupt(where, f"header is not valid msgpack: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointCorrupt(where, f"header is a {type(header).__name__}, not a map")
    return header, _PREAMBLE.size + head_len


def _check_header(where: str, header: dict[str, Any]) -> tuple[int, bytes]:
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise CheckpointVersionError(where, f"format is {fmt!r}, expected {FORMAT_NAME!r}")
    schema = header.get("schema")
    if type(schema) is not int:
        raise CheckpointCorrupt(where, f"schema version must be an int, got {schema!r}")
    if schema != SCHEMA_VERSION:
        raise CheckpointVersionError(
            where, f"schema version {schema} is not supported (this build reads {SCHEMA_VERSION})"
        )
    body_len, digest = header.get("body_len"), header.get("body_sha256")
    if type(body_len) is not int or not 0 <= body_len <= MAX_BODY_LEN:
        raise CheckpointCorrupt(where, f"body length {body_len!r} is absurd")
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise CheckpointCorrupt(where, "header has no valid body_sha256")
    return body_len, digest


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read, check and decode a checkpoint file; return its body."""
    where = str(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header, offset = _read_header(where, fh, size)
            body_len, digest = _check_header(where, header)
            present = size - offset
            if present < body_len:
                raise CheckpointCorrupt(
                    where, f"truncated: the body should be {body_len} bytes, {present} present"
                )
            if present > body_len:
                raise CheckpointCorrupt(
                    where, f"{present - body_len} unexpected bytes after the body"
                )
            data = fh.read(body_len)
    except FileNotFoundError as exc:
        raise CheckpointError(where, "no such file") from exc
    except IsADirectoryError as exc:
        raise CheckpointError(where, "is a directory, not a checkpoint file") from exc
    except OSError as exc:
        raise CheckpointError(where, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) != body_len:
        raise CheckpointCorrupt(where, "the file shrank while being read")
    if hashlib.sha256(data).digest() != digest:
        raise CheckpointCorrupt(where, "body checksum mismatch: the file is damaged")
    try:
        body = _unpack(data)
    except Exception as exc:
        raise CheckpointCorrupt(where, f"body is not valid msgpack: {exc}") from exc
    if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
        raise CheckpointCorrupt(where, "body is not a map with string keys")
    return body
