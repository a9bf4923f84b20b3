"""A Config as plain data: a dict (``config.json``), TOML (``config.toml``) and a hash.

The dict has the shape of a config file (``[recovery.<failure>]`` tables, ``[agent.env]``
as a table, absent keys for ``None``), so ``config_from_dict`` is the file loader run on
it and ``config_to_toml`` is that dict through tomli-w. It carries ``schema_version``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any

import tomli_w

from supervisor.config.fields import hints
from supervisor.config.presets import recovery_to_dict
from supervisor.config.schema import SCHEMA_VERSION, Config

# Knobs that change how a session runs, not what it is: left out of config_hash.
RUNTIME_ONLY_SESSION_KEYS = ("id", "time_scale", "test_runs_dir")


def _plain(value: Any, tp: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        types = hints(type(value))
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is not None:
                out[f.name] = _plain(item, types[f.name])
        return out
    if isinstance(value, tuple):
        args = typing.get_args(tp)
        if args and typing.get_origin(args[0]) is tuple:  # a table of values
            return {k: v for k, v in value}
        item_tp = args[0] if args else Any
        return [_plain(v, item_tp) for v in value]
    return value


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Everything in ``cfg`` as JSON-able data in the shape of a config file, plus source."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    out.update(_plain(cfg, Config))
    out["recovery"] = recovery_to_dict(cfg.recovery)
    return out


def config_to_toml(cfg: Config) -> str:
    """``cfg`` as TOML; loading it gives an equal Config (but ``source``: the file loaded)."""
    data = config_to_dict(cfg)
    source = data.pop("source")
    header = (
        "# The resolved session config, as run (written by the supervisor).\n"
        f"# Loaded from: {source}\n"
    )
    return header + tomli_w.dumps(data)


RELOADABLE_SECTIONS = ("limits", "recovery", "error_handling", "notifications")


def config_hash(cfg: Config) -> str:
    """sha256 hex of the canonical JSON of ``cfg`` without its runtime-only knobs.

    Session id, time scale, test-runs directory and source are left out, so a session
    restored at another time scale (or moved) still matches its checkpoints; so are the
    sections a running session may reload (SIGHUP: limits, recovery, error handling,
    notifications), so checkpoints taken before a reload still match after it.
    """
    data = config_to_dict(cfg)
    data.pop("source", None)
    for section in RELOADABLE_SECTIONS:
        data.pop(section, None)
    for key in RUNTIME_ONLY_SESSION_KEYS:
        data["session"].pop(key, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
