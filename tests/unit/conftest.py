"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.checkpoint.snapshot import SnapshotStore
from tests.snapshot_support import FAR_FUTURE


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapshotStore:
    """A snapshot store in tmp_path whose filesystem clock is past every file."""
    s = SnapshotStore(tmp_path / "session" / "snapshots", durable=False)
    monkeypatch.setattr(s, "fs_now_ns", lambda: FAR_FUTURE)
    return s
