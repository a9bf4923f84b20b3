"""``schedules.toml`` -> frozen specs, and the APScheduler trigger of each schedule. Pure.

Every problem is collected into one ``ConfigError`` naming file, line and key path, like
the session config loader. A schedule has exactly one of ``cron`` (five crontab fields,
day of week as in crontab: 0 or 7 is Sunday) or ``interval`` (``"90m"``, ``"7d"``, or a
number of seconds), names a session config (or the default), and may override the
session's project, hours, agents, time scale, seed and checkpoint interval, and any
other session-config key through its ``settings`` table.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from supervisor.config.checks import suggest
from supervisor.config.schema import PROJECT_TYPES
from supervisor.config.toml_lines import join_key, line_of, parse_toml, read_toml
from supervisor.errors import ConfigError, Problem

SCHEMA_VERSION = 1
POLICIES = ("queue", "skip")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_INTERVAL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class RunOverrides:
    """What a schedule changes on the command line of the session it starts."""

    project: str | None = None
    hours: float | None = None
    agents: int | None = None
    time_scale: float | None = None
    seed: int | None = None
    checkpoint_interval: float | None = None  # minutes


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    cron: str = ""  # as written; day of week in crontab numbering
    interval_seconds: float = 0.0
    enabled: bool = True
    config: str = ""  # session config file (absolute); "": the default config
    overrides: RunOverrides = field(default_factory=RunOverrides)
    settings: dict[str, Any] = field(default_factory=dict, hash=False)  # session-config keys
    misfire_grace_seconds: float = 6 * 3600.0
    line: int | None = None
    # lines of the keys under schedules.NAME.settings, for problems found in them later
    settings_lines: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    @property
    def trigger_text(self) -> str:
        return f"cron '{self.cron}'" if self.cron else f"every {fmt_interval(self.interval_seconds)}"


@dataclass(frozen=True)
class CapacitySpec:
    max_sessions: int = 1
    max_agents: int = 8
    policy: str = "queue"  # queue | skip


@dataclass(frozen=True)
class CrashWatchSpec:
    enabled: bool = True
    max_recovery_attempts: int = 3
    max_age_hours: float = 168.0  # 0: any age


@dataclass(frozen=True)
class AlertSpec:
    webhook_url: str = ""
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class DaemonSpec:
    schedules: tuple[ScheduleSpec, ...] = ()
    timezone: str = "UTC"
    check_interval_seconds: float = 30.0
    misfire_grace_seconds: float = 6 * 3600.0
    config: str = ""  # default session config of every schedule
    capacity: CapacitySpec = field(default_factory=CapacitySpec)
    crash_watch: CrashWatchSpec = field(default_factory=CrashWatchSpec)
    alerts: AlertSpec = field(default_factory=AlertSpec)
    source: str = "<defaults>"

    def schedule(self, name: str) -> ScheduleSpec | None:
        return next((s for s in self.schedules if s.name == name), None)

    @property
    def tz(self) -> tzinfo:
        return zoneinfo.ZoneInfo(self.timezone)


def fmt_interval(seconds: float) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def parse_interval(value: Any) -> float:
    """Seconds of ``"90m"``, ``"7d"``, ``"2s"``, ``2``; ValueError with the reason."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a duration like \"2s\", \"90m\", \"7d\", got {value!r}")
    if isinstance(value, str):
        m = _INTERVAL_RE.match(value.lower())
        if not m or m.group(2) not in _UNITS:
            raise ValueError(f"must be a duration like \"2s\", \"90m\", \"12h\", \"7d\", \"1w\", "
                             f"got {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        seconds = float(value)
    if seconds < 1:
        raise ValueError(f"must be at least 1 second, got {value!r}")
    return seconds


def _dow_number(text: str) -> int:
    if text in _DAYS:
        return _DAYS.index(text)
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7
    raise ValueError(f"bad day of week {text!r} (0-7 or sun-sat; 0 and 7 are Sunday)")


def crontab_day_of_week(text: str) -> str:
    """A crontab day-of-week field (0/7 = Sunday) as APScheduler 3 day names.

    APScheduler 3's ``from_crontab`` counts 0 as Monday; writing names avoids that trap."""
    days: set[int] = set()
    for term in text.lower().split(","):
        base, _, step_text = term.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in day of week {term!r}")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            lo, hi = _dow_number(a), 7 if b == "7" else _dow_number(b)
            if hi < lo:
                raise ValueError(f"bad range in day of week {term!r}")
        else:
            lo = hi = _dow_number(base)
        days.update(d % 7 for d in range(lo, hi + 1, step or 1))
    return ",".join(_DAYS[d] for d in sorted(days))


def cron_trigger(expr: str, tz: tzinfo | str) -> CronTrigger:
    """The trigger of a five-field crontab expression; ValueError with the reason."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"needs 5 fields (minute hour day month day-of-week), got {len(fields)}")
    minute, hour, day, month, dow = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=crontab_day_of_week(dow), timezone=tz)


def make_trigger(spec: ScheduleSpec, tz: tzinfo | str, now: datetime) -> BaseTrigger:
    """The APScheduler trigger of a schedule; an interval counts from ``now`` (whole seconds)."""
    if spec.cron:
        return cron_trigger(spec.cron, tz)
    start = now.replace(microsecond=0) + timedelta(seconds=spec.interval_seconds)
    return IntervalTrigger(seconds=spec.interval_seconds, start_date=start, timezone=tz)


def default_schedules_path(repo: Path | None = None) -> Path:
    return (repo or Path(__file__).resolve().parents[2]) / "configs" / "schedules.toml"


def load_schedules(path: Path) -> DaemonSpec:
    """Read and check ``schedules.toml``; every problem in one ConfigError."""
    path = Path(path)
    data, lines = read_toml(path, path.name)
    return build_spec(data, lines, path.name, path.resolve().parent)


def parse_schedules(text: str, source: str, base_dir: Path) -> DaemonSpec:
    data, lines = parse_toml(text, source)
    return build_spec(data, lines, source, base_dir)


def build_spec(data: dict[str, Any], lines: dict[str, int], source: str,
               base_dir: Path) -> DaemonSpec:
    r = _Reader(source, lines, base_dir)
    r.known(data, "", ("schema_version", "daemon", "capacity", "crash_watch", "alerts",
                       "schedules"))
    version = r.get(data, "", "schema_version", int, SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        r.problem("schema_version", f"unsupported schema version {version} "
                  f"(this supervisor reads {SCHEMA_VERSION})")
    d = r.table(data, "", "daemon", ("timezone", "check_interval_seconds",
                                      "misfire_grace_minutes", "config"))
    tz_name = r.get(d, "daemon", "timezone", str, "UTC")
    try:
        zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        r.problem("daemon.timezone", f"unknown time zone {tz_name!r} (e.g. \"UTC\", "
                  "\"Europe/Berlin\")")
        tz_name = "UTC"
    check = r.get(d, "daemon", "check_interval_seconds", float, 30.0, positive=True)
    grace = r.get(d, "daemon", "misfire_grace_minutes", float, 360.0, positive=True) * 60
    config = r.path(d, "daemon", "config")
    c = r.table(data, "", "capacity", ("max_sessions", "max_agents", "policy"))
    capacity = CapacitySpec(
        r.get(c, "capacity", "max_sessions", int, 1, minimum=1),
        r.get(c, "capacity", "max_agents", int, 8, minimum=1),
        r.choice(c, "capacity", "policy", POLICIES, "queue"))
    w = r.table(data, "", "crash_watch", ("enabled", "max_recovery_attempts", "max_age_hours"))
    crash = CrashWatchSpec(
        r.get(w, "crash_watch", "enabled", bool, True),
        r.get(w, "crash_watch", "max_recovery_attempts", int, 3, minimum=0),
        r.get(w, "crash_watch", "max_age_hours", float, 168.0, minimum=0))
    a = r.table(data, "", "alerts", ("webhook_url", "timeout_seconds"))
    url = r.get(a, "alerts", "webhook_url", str, "")
    if url and not url.startswith(("http://", "https://")):
        r.problem("alerts.webhook_url", f"must be an http:// or https:// URL, got {url!r}")
    alerts = AlertSpec(url, r.get(a, "alerts", "timeout_seconds", float, 10.0, positive=True))
    table = r.table(data, "", "schedules", None)
    schedules = [r.schedule(name, raw, grace, capacity, tz_name) for name, raw in table.items()]
    if not table:
        r.problem("schedules", "no schedules: add at least one [schedules.NAME] table")
    if r.problems:
        r.problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise ConfigError(r.problems)
    return DaemonSpec(tuple(s for s in schedules if s is not None), tz_name, check, grace,
                      config, capacity, crash, alerts, source)


_SCHEDULE_KEYS = ("cron", "interval", "enabled", "config", "project", "hours", "agents",
                  "time_scale", "seed", "checkpoint_interval", "misfire_grace_minutes",
                  "settings")


class _Reader:
    def __init__(self, source: str, lines: dict[str, int], base_dir: Path) -> None:
        self.source, self.lines, self.base_dir = source, lines, base_dir
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.source, key, message, line_of(self.lines, key)))

    def known(self, table: dict[str, Any], prefix: str, keys: tuple[str, ...]) -> None:
        for k in table:
            if k not in keys:
                self.problem(join_key(prefix, k), f"unknown key{suggest(k, keys)}")

    def table(self, data: dict[str, Any], prefix: str, key: str,
              keys: tuple[str, ...] | None) -> dict[str, Any]:
        value = data.get(key, {})
        path = join_key(prefix, key)
        if not isinstance(value, dict):
            self.problem(path, f"must be a table, got {type(value).__name__}")
            return {}
        if keys is not None:
            self.known(value, path, keys)
        return value

    def get(self, table: dict[str, Any], prefix: str, key: str, kind: type, default: Any,
            minimum: float | None = None, positive: bool = False) -> Any:
        if key not in table:
            return default
        value, path = table[key], join_key(prefix, key)
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.problem(path, f"must be a {_KIND_NAMES[kind]}, got {value!r}")
            return default
        if positive and value <= 0:
            self.problem(path, f"must be > 0, got {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(path, f"must be >= {minimum:g}, got {value!r}")
            return default
        return value

    def choice(self, table: dict[str, Any], prefix: str, key: str, choices: tuple[str, ...],
               default: str) -> str:
        value = self.get(table, prefix, key, str, default)
        if value not in choices:
            self.problem(join_key(prefix, key), f"must be one of {', '.join(choices)}, "
                         f"got {value!r}{suggest(value, choices)}")
            return default
        return str(value)

    def path(self, table: dict[str, Any], prefix: str, key: str) -> str:
        value = self.get(table, prefix, key, str, "")
        return str((self.base_dir / value).resolve()) if value else ""

    def schedule(self, name: str, raw: Any, grace: float, capacity: CapacitySpec,
                 tz: str) -> ScheduleSpec | None:
        path = f"schedules.{name}"
        if not NAME_RE.match(name):
            self.problem(path, "schedule names are 1-64 letters, digits, '-' or '_' "
                         "(they start the session ids)")
        if not isinstance(raw, dict):
            self.problem(path, f"must be a table, got {type(raw).__name__}")
            return None
        self.known(raw, path, _SCHEDULE_KEYS)
        cron, interval = raw.get("cron"), raw.get("interval")
        spec_cron, seconds = "", 0.0
        if (cron is None) == (interval is None):
            self.problem(path, "needs exactly one of cron = \"M H DOM MON DOW\" or "
                         "interval = \"7d\"")
        elif cron is not None:
            spec_cron = self.get(raw, path, "cron", str, "")
            try:
                cron_trigger(spec_cron, tz)
            except ValueError as e:
                self.problem(f"{path}.cron", f"bad cron expression {spec_cron!r}: {e}")
        else:
            try:
                seconds = parse_interval(interval)
            except ValueError as e:
                self.problem(f"{path}.interval", str(e))
        project = raw.get("project")
        if project is not None and project not in PROJECT_TYPES:
            self.problem(f"{path}.project", f"must be one of {', '.join(PROJECT_TYPES)}, "
                         f"got {project!r}{suggest(str(project), PROJECT_TYPES)}")
            project = None
        agents = self.get(raw, path, "agents", int, None, minimum=1)
        if agents is not None and agents > capacity.max_agents:
            self.problem(f"{path}.agents", f"{agents} agents can never start: "
                         f"capacity.max_agents is {capacity.max_agents}")
        over = RunOverrides(
            project, self.get(raw, path, "hours", float, None, positive=True), agents,
            self.get(raw, path, "time_scale", float, None, positive=True),
            self.get(raw, path, "seed", int, None),
            self.get(raw, path, "checkpoint_interval", float, None, positive=True))
        settings = self.table(raw, path, "settings", None)
        return ScheduleSpec(
            name, spec_cron, seconds, self.get(raw, path, "enabled", bool, True),
            self.path(raw, path, "config"), over, dict(settings),
            self.get(raw, path, "misfire_grace_minutes", float, grace / 60, positive=True) * 60,
            line_of(self.lines, path),
            {k: v for k, v in self.lines.items() if k.startswith(f"{path}.settings.")})


_KIND_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean (true/false)"}


def first_fire_time(trigger: BaseTrigger, last_fire: datetime | None, same_trigger: bool,
                    now: datetime) -> datetime | None:
    """When a (re)started daemon first fires a schedule.

    With the trigger that ``last_fire`` was handled under: the first fire time after it,
    maybe in the past (the runs missed while the daemon was down, which APScheduler then
    coalesces into one). A new or changed trigger starts from ``now`` (no catch-up). Never
    at or before ``last_fire``: a run is never handled twice."""
    nxt: datetime | None
    if last_fire is not None and same_trigger:
        nxt = trigger.get_next_fire_time(last_fire, max(now, last_fire))
        return nxt
    nxt = trigger.get_next_fire_time(None, now)
    if nxt is not None and last_fire is not None and nxt <= last_fire:
        nxt = trigger.get_next_fire_time(last_fire, last_fire)
    return nxt
