"""The checkpoint file format: round trips, and every kind of bad file refused clearly."""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.checkpoint import format as fmt
from supervisor.checkpoint.manifest import Entry, validate_manifest
from supervisor.checkpoint.store import (
    FORMAT_NAME,
    SCHEMA_VERSION,
    decode_manifest,
    encode_manifest,
    read_checkpoint,
    write_checkpoint,
)
from supervisor.errors import CheckpointCorrupt, CheckpointError, CheckpointVersionError

DIGEST = hashlib.sha256(b"x").hexdigest()
MANIFEST = [
    Entry("README.md", "file", 0o644, 1, DIGEST),
    Entry("bin", "dir", 0o755),
    Entry("bin/run", "file", 0o755, 1, DIGEST),
    Entry("bin/latest", "symlink", 0o777, target="run"),
    Entry("empty", "dir", 0o700),
]
BODY: dict[str, Any] = {
    "number": 3,
    "created_wall": 1_800_000_000.25,
    "phase": "development",
    "trigger": "tool_calls",
    "session_id": "s-1",
    "duration_ms": 12.5,
    "manifest": encode_manifest(MANIFEST),
    "agents": {"coder-1": {"state": {"step": 7, "blob": b"\x00\xff"}, "tokens": 2**40}},
    "memory": [["key", "välue"], ["n", None]],
    "nested": {"float": -0.5, "true": True, "empty": {}},
}


def frame(header: dict[str, Any], body: bytes) -> bytes:
    return fmt.build_frame(header, body)


def good_header(body: bytes, **over: Any) -> dict[str, Any]:
    header = {
        "format": FORMAT_NAME,
        "schema": SCHEMA_VERSION,
        "body_len": len(body),
        "body_sha256": hashlib.sha256(body).digest(),
        "created_wall": 1.0,
    }
    header.update(over)
    return header


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "checkpoint_003.msgpack"
    write_checkpoint(path, BODY)
    return path, path.read_bytes()


def test_round_trip_keeps_every_value(written: tuple[Path, bytes]) -> None:
    """What is written reads back equal: opaque keys, bytes, big ints, unicode, nesting."""
    path, data = written
    assert read_checkpoint(path) == BODY
    assert data.startswith(fmt.MAGIC)
    assert decode_manifest(read_checkpoint(path)["manifest"], str(path)) == MANIFEST


def test_write_returns_the_size_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """write_checkpoint reports the bytes written; the directory holds only the file."""
    path = tmp_path / "checkpoint_001.msgpack"
    size = write_checkpoint(path, BODY)
    assert size == path.stat().st_size
    assert os.listdir(tmp_path) == [path.name]


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the final rename fails, the previous file is untouched and no temp file remains."""
    path = tmp_path / "checkpoint_001.msgpack"
    write_checkpoint(path, BODY)
    before = path.read_bytes()

    def fail(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("supervisor.session.files.os.replace", fail)
    with pytest.raises(CheckpointError, match="No space left"):
        write_checkpoint(path, {**BODY, "number": 4})
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("body", [{1: "int key"}, {"x": object()}, {"x": {1, 2}}, ["list"]])
def test_unencodable_bodies_are_refused(tmp_path: Path, body: Any) -> None:
    """A body that is not a str-keyed msgpack-able map raises CheckpointError, writes nothing."""
    path = tmp_path / "c.msgpack"
    with pytest.raises(CheckpointError, match=str(path)):
        write_checkpoint(path, body)
    assert not path.exists()


@pytest.mark.parametrize(
    "cut,expected",
    [
        (0, "empty file"),
        (5, "truncated: 5 bytes"),
        (8, "truncated"),
        (15, "truncated"),
        (16, "truncated inside the header"),
        (30, "truncated inside the header"),
    ],
)
def test_truncated_preamble_and_header(
    written: tuple[Path, bytes], cut: int, expected: str
) -> None:
    """A file cut short in the preamble or header says so."""
    path, data = written
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointCorrupt, match=expected) as err:
        read_checkpoint(path)
    assert str(path) in str(err.value)


def test_truncated_body_at_several_offsets(written: tuple[Path, bytes]) -> None:
    """Cutting the body anywhere says how much of it is missing."""
    path, data = written
    head_len = struct.unpack(">I", data[8:12])[0]
    body_start = 16 + head_len
    for cut in (body_start, body_start + 1, (body_start + len(data)) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointCorrupt, match="truncated: the body should be"):
            read_checkpoint(path)


@pytest.mark.parametrize(
    "where,expected",
    [
        ("magic", "bad magic"),
        ("header_len", "header"),
        ("crc", "header checksum"),
        ("header", "header checksum"),
        ("body_start", "body checksum"),
        ("body_middle", "body checksum"),
        ("body_end", "body checksum"),
    ],
)
def test_bit_flips_are_detected(written: tuple[Path, bytes], where: str, expected: str) -> None:
    """One flipped bit anywhere in the file is reported as damage, with the part named."""
    path, data = written
    head_len = struct.unpack(">I", data[8:12])[0]
    offset = {
        "magic": 2,
        "header_len": 11,
        "crc": 13,
        "header": 16 + head_len // 2,
        "body_start": 16 + head_len,
        "body_middle": (16 + head_len + len(data)) // 2,
        "body_end": len(data) - 1,
    }[where]
    flipped = bytearray(data)
    flipped[offset] ^= 0x04
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointCorrupt, match=expected):
        read_checkpoint(path)


def test_trailing_bytes_are_refused(written: tuple[Path, bytes]) -> None:
    """Bytes after the body mean the file is not what was written."""
    path, data = written
    path.write_bytes(data + b"junk")
    with pytest.raises(CheckpointCorrupt, match="4 unexpected bytes after the body"):
        read_checkpoint(path)


def test_wrong_magic_is_refused(tmp_path: Path) -> None:
    """A JSON file (the old format) is not taken for a checkpoint."""
    path = tmp_path / "checkpoint_001.json"
    path.write_text('{"session": "x", "checkpoint": 1, "files": []}')
    with pytest.raises(CheckpointCorrupt, match="not a checkpoint file"):
        read_checkpoint(path)


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    """schema 99 raises CheckpointVersionError saying which versions are readable."""
    body = msgpack.packb({"manifest": []})
    path = tmp_path / "c.msgpack"
    path.write_bytes(frame(good_header(body, schema=99), body))
    with pytest.raises(CheckpointVersionError, match="schema version 99 is not supported"):
        read_checkpoint(path)


def test_foreign_format_name_is_refused(tmp_path: Path) -> None:
    """A frame naming another format raises CheckpointVersionError."""
    body = msgpack.packb({"manifest": []})
    path = tmp_path / "c.msgpack"
    path.write_bytes(frame(good_header(body, format="other-tool"), body))
    with pytest.raises(CheckpointVersionError, match="format is 'other-tool'"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "over,expected",
    [
        ({"body_len": 2**40}, "body length 1099511627776 is absurd"),
        ({"body_len": -1}, "absurd"),
        ({"body_len": "12"}, "absurd"),
        ({"schema": "1"}, "schema version must be an int"),
        ({"body_sha256": "not bytes"}, "body_sha256"),
    ],
)
def test_bad_header_values_are_refused(tmp_path: Path, over: dict[str, Any], expected: str) -> None:
    """Absurd lengths and wrongly typed header fields are named."""
    body = msgpack.packb({"manifest": []})
    path = tmp_path / "c.msgpack"
    path.write_bytes(frame(good_header(body, **over), body))
    with pytest.raises(CheckpointCorrupt, match=expected):
        read_checkpoint(path)


def test_absurd_header_length_prefix_is_refused(tmp_path: Path) -> None:
    """A preamble claiming a 4 GiB header is refused before anything is allocated."""
    path = tmp_path / "c.msgpack"
    path.write_bytes(struct.pack(">8sII", fmt.MAGIC, 0xFFFFFFFF, 0) + b"\x80")
    with pytest.raises(CheckpointCorrupt, match="header length 4294967295 is out of range"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "body,expected",
    [
        (b"\xdb\xff\xff\xff\xf0abc", "not valid msgpack"),  # str32 claiming ~4 GiB
        (b"\xdd\xff\xff\xff\xff", "not valid msgpack"),  # array32 claiming 4G items
        (msgpack.packb(["a list"]), "not a map"),
        (msgpack.packb({1: "x"}), "not a map with string keys"),
        (msgpack.packb({"a": 1}) + b"\x01", "not valid msgpack"),
    ],
)
def test_checksummed_but_malformed_bodies_are_refused(
    tmp_path: Path, body: bytes, expected: str
) -> None:
    """A body with a correct checksum but absurd length prefixes or wrong shape is refused."""
    path = tmp_path / "c.msgpack"
    path.write_bytes(frame(good_header(body), body))
    with pytest.raises(CheckpointCorrupt, match=expected):
        read_checkpoint(path)


def test_header_that_is_not_a_map_is_refused(tmp_path: Path) -> None:
    """A checksummed header that is a list is named as such."""
    head = msgpack.packb([1, 2])
    import zlib

    path = tmp_path / "c.msgpack"
    path.write_bytes(struct.pack(">8sII", fmt.MAGIC, len(head), zlib.crc32(head)) + head)
    with pytest.raises(CheckpointCorrupt, match="header is a list"):
        read_checkpoint(path)


def test_missing_file_and_directory_are_clear_errors(tmp_path: Path) -> None:
    """Reading a missing path or a directory raises CheckpointError, not OSError."""
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "nope.msgpack")
    with pytest.raises(CheckpointError, match="is a directory"):
        read_checkpoint(tmp_path)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_truncation_or_bit_flip_is_a_checkpoint_error(data: st.DataObject) -> None:
    """No cut or flipped bit anywhere makes the reader fail with anything but CheckpointCorrupt."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.msgpack"
        write_checkpoint(path, BODY, durable=False)
        raw = bytearray(path.read_bytes())
        if data.draw(st.booleans()):
            raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
        else:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        path.write_bytes(bytes(raw))
        with pytest.raises(CheckpointCorrupt):
            read_checkpoint(path)


# ---------------------------------------------------------------- manifests


def rows(*extra: list[Any]) -> list[list[Any]]:
    return [*encode_manifest(MANIFEST), *extra]


@pytest.mark.parametrize(
    "extra,expected",
    [
        (["../x", 0, 0o644, 1, bytes(32)], "'..' is not allowed"),
        (["bin/../../x", 0, 0o644, 1, bytes(32)], "'..' is not allowed"),
        (["/etc/passwd", 0, 0o644, 1, bytes(32)], "absolute path"),
        (["a//b", 1, 0o755], "'' is not allowed"),
        (["./a", 1, 0o755], "'.' is not allowed"),
        (["", 1, 0o755], "empty path"),
        (["nul\x00byte", 1, 0o755], "NUL"),
        (["out", 2, "../../outside"], "climbs out of the project"),
        (["bin/out", 2, "../.."], "climbs out of the project"),
        (["abs", 2, "/etc/passwd"], "is absolute"),
        (["README.md", 1, 0o755], "duplicate path"),
        (["README.md/inner", 1, 0o755], "parent 'README.md' is a file"),
        (["bin/latest/x", 0, 0o644, 1, bytes(32)], "is a symlink"),
        (["ghost/file", 0, 0o644, 1, bytes(32)], "parent 'ghost' is missing"),
        (["m", 0, "0644", 1, bytes(32)], "mode must be an int"),
        (["m", 0, 0o644, -1, bytes(32)], "size must be a non-negative int"),
        (["m", 0, 0o644, 1, b"short"], "32 bytes"),
        (["m", 0, 0o177777, 1, bytes(32)], "mode must be an int in 0..0o7777"),
        (["m", 7, 0o644], "malformed row"),
        (["m", 0, 0o644], "malformed row"),
        ([5, 1, 0o755], "path must be a string"),
        (["l", 2, 42], "target must be a string"),
        (["l", 2, ""], "link target must be a non-empty string"),
    ],
)
def test_bad_manifest_rows_are_refused(extra: list[Any], expected: str) -> None:
    """Each unsafe or malformed manifest row is named with its index and path."""
    with pytest.raises(CheckpointCorrupt, match=expected) as err:
        decode_manifest(rows(extra), "ckpt.msgpack")
    assert "ckpt.msgpack" in str(err.value) and "entry 5" in str(err.value)


@pytest.mark.parametrize("obj", [None, "manifest", {"a": 1}, [["x", 1, 0o755], "row"]])
def test_manifest_of_the_wrong_type_is_refused(obj: Any) -> None:
    """A manifest that is not a list of rows raises CheckpointCorrupt."""
    with pytest.raises(CheckpointCorrupt, match="manifest"):
        decode_manifest(obj, "ckpt.msgpack")


def test_link_escaping_through_another_link_is_refused() -> None:
    """'..' after a link resolves from the link's target, as the kernel would."""
    manifest = [
        Entry("a", "dir", 0o755),
        Entry("a/b", "dir", 0o755),
        Entry("a/b/s", "symlink", 0o777, target="../../x"),  # -> x at the root: fine
        Entry("t", "symlink", 0o777, target="a/b/s/../.."),  # via s: climbs out
    ]
    with pytest.raises(CheckpointCorrupt, match="entry 3 \\('t'\\).*climbs out"):
        validate_manifest(manifest, "m")
    validate_manifest(manifest[:3], "m")  # without t it is fine


def test_link_loops_and_dangling_links_are_accepted() -> None:
    """A link loop or a dangling link cannot reach outside, so they are allowed."""
    validate_manifest(
        [
            Entry("l1", "symlink", 0o777, target="l2"),
            Entry("l2", "symlink", 0o777, target="l1"),
            Entry("d", "symlink", 0o777, target="no/such/file"),
        ],
        "m",
    )


def test_entries_of_the_wrong_type_are_refused() -> None:
    """validate_manifest wants Entry objects with well-typed fields."""
    with pytest.raises(CheckpointCorrupt, match="expected an Entry"):
        validate_manifest([("a", "file")], "m")  # type: ignore[list-item]
    with pytest.raises(CheckpointCorrupt, match="unknown kind"):
        validate_manifest([Entry("a", "pipe", 0o644)], "m")  # type: ignore[arg-type]
    with pytest.raises(CheckpointCorrupt, match="digest must be 64"):
        validate_manifest([Entry("a", "file", 0o644, 1, "XYZ")], "m")


def test_non_utf8_names_round_trip() -> None:
    """File names that are not UTF-8 travel as bytes and come back identical."""
    name = os.fsdecode(b"caf\xe9.txt")
    entries = [Entry(name, "file", 0o644, 1, DIGEST), Entry("l", "symlink", 0o777, target=name)]
    packed = msgpack.packb(encode_manifest(entries), use_bin_type=True)
    back = decode_manifest(msgpack.unpackb(packed, raw=False), "m")
    assert back == entries


def test_encoding_is_memoized_but_correct_after_changes() -> None:
    """Re-encoding after a change reflects the change (the memo never serves stale rows)."""
    first = encode_manifest(MANIFEST)
    assert encode_manifest(list(MANIFEST)) is first
    changed = [*MANIFEST[:2], Entry("bin/run", "file", 0o700, 1, DIGEST), *MANIFEST[3:]]
    second = encode_manifest(changed)
    assert decode_manifest(second, "m") == changed
    assert decode_manifest(first, "m") == MANIFEST


def test_memoized_encoding_packs_like_msgpack_through_inserts_and_deletes() -> None:
    """However entries are added, removed or reordered, the packed rows equal a fresh pack."""
    a = [Entry(f"f{i:03d}", "file", 0o644, i, DIGEST) for i in range(50)]
    seqs = [a, a[:10] + [Entry("new", "dir", 0o755)] + a[10:40], a[::-1], [], a[5:6], a]
    for entries in seqs:
        enc = encode_manifest(entries)
        assert enc.packed == msgpack.packb(list(enc), use_bin_type=True)  # type: ignore[attr-defined]
        assert decode_manifest(list(enc), "m") == entries
