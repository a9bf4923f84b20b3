"""SIGHUP: re-read a running session's config and apply what can change in flight.

The file read is the session's own ``config.toml`` (the resolved config it runs with,
written at start; edit it and send SIGHUP or ``POST /api/reload``). Reloadable in flight:
``[limits]``, ``[recovery]``, ``[error_handling]`` and ``[notifications]``. Any other
difference is reported as needing a restart and is not applied. A file that does not
load (bad TOML, a bad value) changes nothing: the ``ConfigError`` names every problem.

``diff_configs`` and ``merge_reloadable`` are pure; ``plan_reload`` reads the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisor import logs
from supervisor.config import (
    Overrides,
    config_from_dict,
    config_hash,
    config_to_dict,
    load_config,
)
from supervisor.config.loader import INTERVAL_ENV
from supervisor.config.schema import Config
from supervisor.errors import SupervisorError
from supervisor.session.files import write_json_atomic

if TYPE_CHECKING:
    from supervisor.runner import SessionRunner

log = logs.get("reload")

RELOADABLE = ("limits", "recovery", "error_handling", "notifications")
IGNORED = ("source", "schema_version")  # where the config came from, not what it says
SECRET_WORDS = ("password", "token", "secret", "api_key")  # values never written to logs


def is_secret(path: str) -> bool:
    """A key whose value must not be logged: ``password``, ``smtp_password``, ``token``..."""
    last = path.rsplit(".", 1)[-1].lower()
    return any(last == w or last.endswith("_" + w) for w in SECRET_WORDS)


@dataclass(frozen=True)
class Change:
    """One value that differs: its key path (``limits.total_token_budget``), old and new."""

    path: str
    old: Any
    new: Any

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]

    def describe(self) -> str:
        if is_secret(self.path):
            return f"{self.path}: (changed)"
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"

    def to_json(self) -> dict[str, Any]:
        if is_secret(self.path):
            return {"path": self.path, "old": "***", "new": "***"}
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ConfigDiff:
    applied: tuple[Change, ...]  # reloadable: taken over in flight
    needs_restart: tuple[Change, ...]  # anything else: logged, not applied

    @property
    def empty(self) -> bool:
        return not self.applied and not self.needs_restart

    def to_json(self) -> dict[str, Any]:
        return {"applied": [c.to_json() for c in self.applied],
                "needs_restart": [c.to_json() for c in self.needs_restart]}


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 80 else text[:77] + "..."


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, path + ".")
        else:
            yield path, value


_MISSING = object()


def diff_configs(old: Config, new: Config) -> ConfigDiff:
    """Every value that differs between ``old`` and ``new``, split by what reload applies.

    Tables are compared key by key (``recovery.rate_limit.max_attempts``); lists as a
    whole (``error_handling.rules``). Where a config came from (``source``) is ignored.
    """
    a = dict(_flatten({k: v for k, v in config_to_dict(old).items() if k not in IGNORED}))
    b = dict(_flatten({k: v for k, v in config_to_dict(new).items() if k not in IGNORED}))
    applied: list[Change] = []
    restart: list[Change] = []
    for path in sorted(a.keys() | b.keys()):
        va, vb = a.get(path, _MISSING), b.get(path, _MISSING)
        if va == vb:
            continue
        change = Change(path, None if va is _MISSING else va, None if vb is _MISSING else vb)
        (applied if change.section in RELOADABLE else restart).append(change)
    return ConfigDiff(tuple(applied), tuple(restart))


def merge_reloadable(old: Config, new: Config) -> Config:
    """``old`` with the reloadable sections of ``new``; everything else stays as it runs."""
    return dataclasses.replace(old, **{name: getattr(new, name) for name in RELOADABLE})


@dataclass(frozen=True)
class ReloadPlan:
    path: Path
    config: Config  # what the session runs with after the reload
    diff: ConfigDiff


def reload_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a reload reads the file with: ``CHECKPOINT_INTERVAL`` was applied at
    start (it is in config.toml already) and would otherwise look like a change."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k != INTERVAL_ENV}


def plan_reload(current: Config, path: Path, env: Mapping[str, str] | None = None) -> ReloadPlan:
    """Load ``path`` and work out the config to run with. Raises ``ConfigError`` (every
    problem, with file and line) when the file, or the merged config, is not valid."""
    new = load_config(path, Overrides(), reload_env(env))
    diff = diff_configs(current, new)
    merged = merge_reloadable(current, new)
    if diff.applied:
        # the sections are each valid; check the rules that span sections on the result
        data = config_to_dict(merged)
        data.pop("source", None)
        config_from_dict(data, source=str(path))
    return ReloadPlan(Path(path), merged, diff)


async def apply_reload(runner: SessionRunner) -> dict[str, Any]:
    """Reload ``runner``'s session config in flight (the runner's SIGHUP command).

    Logs one ``config_changed`` line per applied value and one ``config_needs_restart``
    line per value that cannot change in flight; journals a ``config_reload`` record; on
    a change, calls ``runner.on_config_reloaded(old, new)`` (the recovery manager takes
    the new specs) and rewrites ``config.json`` (the config as run, so a resume keeps
    it). A file that does not load, or specs a part refuses, change nothing.
    """
    path = runner.layout.config_toml
    old = runner.cfg
    t = runner.timer.elapsed()
    try:
        plan = await asyncio.to_thread(plan_reload, old, path)
    except SupervisorError as e:
        log.error("config_reload_failed", path=str(path), error=str(e))
        runner.ledger.record("config_reload", t, ok=False, path=str(path), error=str(e)[:2000])
        return {"ok": False, "error": str(e), "path": str(path)}
    diff = plan.diff
    for c in diff.applied:
        log.info("config_changed", key=c.path, change=c.describe())
    for c in diff.needs_restart:
        log.warning("config_needs_restart", key=c.path, change=c.describe(),
                    message=f"{c.path} cannot change in flight; restart the session to apply it")
    if diff.applied:
        new = plan.config
        runner.cfg = new
        try:
            runner.on_config_reloaded(old, new)
        except Exception as e:  # a part refused the new specs: keep running with the old
            runner.cfg = old
            log.exception("config_reload_failed", path=str(path), error=str(e))
            runner.ledger.record("config_reload", t, ok=False, path=str(path),
                                 error=f"applying failed: {e}"[:2000])
            return {"ok": False, "error": f"applying the new config failed: {e}",
                    "path": str(path)}
        runner.config_hash = config_hash(new)
        await asyncio.to_thread(write_json_atomic, runner.layout.config_json, config_to_dict(new))
    runner.ledger.record("config_reload", t, ok=True, path=str(path), **diff.to_json())
    log.info("config_reloaded", path=str(path), applied=len(diff.applied),
             needs_restart=len(diff.needs_restart))
    runner.publisher.event(f"config reloaded: {len(diff.applied)} change(s) applied"
                           + (f", {len(diff.needs_restart)} need a restart"
                              if diff.needs_restart else ""))
    runner.write_status()
    return {"ok": True, "path": str(path), **diff.to_json()}
