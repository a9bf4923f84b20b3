"""schedules.toml parsing, errors with file/line/key, and fire times from fixed datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supervisor.daemon.schedules import (
    cron_trigger,
    crontab_day_of_week,
    first_fire_time,
    fmt_interval,
    load_schedules,
    make_trigger,
    parse_interval,
    parse_schedules,
)
from supervisor.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def parse(text: str, tmp_path: Path | None = None):
    return parse_schedules(text, "schedules.toml", tmp_path or Path("/etc/megatest"))


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse(text)
    return [str(p) for p in e.value.problems]


def test_shipped_schedules_are_the_seed_plan() -> None:
    """configs/schedules.toml loads: weekly 1 h, monthly 4 h, quarterly 8 h, release 12 h."""
    spec = load_schedules(REPO / "configs" / "schedules.toml")
    by = {s.name: s for s in spec.schedules}
    assert by["weekly-mini"].overrides.hours == 1
    assert by["monthly-standard"].overrides.hours == 4
    assert by["quarterly-mega"].overrides.hours == 8
    assert by["release"].overrides.hours == 12 and not by["release"].enabled
    assert by["release"].settings["simulation"]["faults"]["rates"]["agent_crash"] > 0
    assert spec.capacity.policy == "queue"
    assert spec.config.endswith("configs/mega_test_config.toml")
    # the weekly one is on Saturdays, monthly on the 1st, quarterly in Jan/Apr/Jul/Oct
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
    fires = {n: make_trigger(s, "UTC", now).get_next_fire_time(None, now) for n, s in by.items()}
    assert fires["weekly-mini"] == datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    assert fires["monthly-standard"] == datetime(2026, 4, 1, 3, 0, tzinfo=UTC)
    assert fires["quarterly-mega"] == datetime(2026, 4, 15, 1, 0, tzinfo=UTC)


def test_cron_and_interval_schedules_with_overrides(tmp_path: Path) -> None:
    """Both trigger kinds parse; overrides and the config path (relative to the file) are kept."""
    spec = parse("""
[daemon]
timezone = "Europe/Berlin"
[capacity]
max_sessions = 2
max_agents = 10
policy = "skip"
[schedules.nightly]
cron = "30 2 * * 1-5"
config = "other.toml"
project = "database"
hours = 2.5
agents = 4
time_scale = 60
seed = 7
checkpoint_interval = 5
[schedules.fast]
interval = "90m"
misfire_grace_minutes = 1
""", tmp_path)
    night, fast = spec.schedules
    assert night.cron == "30 2 * * 1-5" and night.config == str(tmp_path / "other.toml")
    o = night.overrides
    assert (o.project, o.hours, o.agents, o.time_scale, o.seed, o.checkpoint_interval) == (
        "database", 2.5, 4, 60.0, 7, 5.0)
    assert fast.interval_seconds == 5400 and fast.misfire_grace_seconds == 60
    assert night.misfire_grace_seconds == 360 * 60
    assert spec.capacity.policy == "skip" and spec.timezone == "Europe/Berlin"
    assert fast.trigger_text == "every 90m" and night.trigger_text == "cron '30 2 * * 1-5'"


@pytest.mark.parametrize("field,days", [
    ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("5-7", "sun,fri,sat"),
    ("*/2", "sun,tue,thu,sat"), ("sat,sun", "sun,sat"), ("*", "sun,mon,tue,wed,thu,fri,sat"),
])
def test_day_of_week_follows_crontab(field: str, days: str) -> None:
    """Day numbers mean what they mean in crontab (0 and 7 are Sunday), not APScheduler's."""
    assert crontab_day_of_week(field) == days


def test_sunday_cron_fires_on_sunday() -> None:
    """'0 0 * * 0' fires on a Sunday (APScheduler 3's from_crontab would say Monday)."""
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday
    fire = cron_trigger("0 0 * * 0", UTC).get_next_fire_time(None, now)
    assert fire == datetime(2026, 3, 8, 0, 0, tzinfo=UTC) and fire.weekday() == 6


@pytest.mark.parametrize("text,seconds", [("2s", 2), ("90m", 5400), ("12h", 43200),
                                          ("7d", 604800), ("1w", 604800), (30, 30), ("1.5h", 5400)])
def test_interval_units(text: str | int, seconds: float) -> None:
    """Intervals take s/m/h/d/w or plain seconds, and print back compactly."""
    assert parse_interval(text) == seconds
    assert parse_interval(fmt_interval(seconds)) == seconds


def test_bad_expressions_name_file_line_and_key() -> None:
    """Bad cron, interval, names and values: each problem has the file, its line and key."""
    found = problems("""[capacity]
policy = "queu"
[schedules.a]
cron = "61 * * * *"
[schedules.b]
interval = "5 parsecs"
[schedules.c]
cron = "0 0 * *"
[schedules.d]
cron = "0 0 * * 0"
interval = "1d"
[schedules.e]
interval = "1d"
hours = -1
agents = 99
project = "tasq_queue"
colour = "red"
[schedules."bad name"]
interval = 0.5
""")
    text = "\n".join(found)
    assert "schedules.toml:2: capacity.policy: must be one of queue, skip, got 'queu' " \
           "(did you mean 'queue'?)" in found
    assert any(f.startswith("schedules.toml:4: schedules.a.cron: bad cron expression")
               for f in found), text
    assert any(f.startswith("schedules.toml:6: schedules.b.interval: must be a duration")
               for f in found), text
    assert "schedules.toml:8: schedules.c.cron: bad cron expression '0 0 * *': needs 5 fields " \
           "(minute hour day month day-of-week), got 4" in found
    assert any(f.startswith("schedules.toml:9: schedules.d: needs exactly one of") for f in found)
    assert "schedules.toml:14: schedules.e.hours: must be > 0, got -1.0" in found
    assert any(f.startswith("schedules.toml:15: schedules.e.agents: 99 agents can never start")
               for f in found), text
    assert any(f.startswith("schedules.toml:16: schedules.e.project: must be one of")
               and "did you mean 'task_queue'" in f for f in found), text
    assert "schedules.toml:17: schedules.e.colour: unknown key" in found
    assert any(f.startswith("schedules.toml:18: schedules.bad name: schedule names")
               for f in found), text
    assert "schedules.toml:19: schedules.bad name.interval: must be at least 1 second, got 0.5" \
        in found
    lines = [int(f.split(":")[1]) for f in found]
    assert lines == sorted(lines)


def test_wrong_types_syntax_and_empty_are_reported() -> None:
    """Type mistakes, a TOML syntax error and a file without schedules are clear errors."""
    assert "schedules.toml:2: daemon.check_interval_seconds: must be a number, got 'often'" \
        in problems('[daemon]\ncheck_interval_seconds = "often"\n[schedules.x]\ninterval = 5\n')
    assert "schedules.toml: schedules: no schedules: add at least one [schedules.NAME] table" \
        in problems("[daemon]\ntimezone = 'UTC'\n")
    assert any("schedules.toml:2: daemon.timezone: unknown time zone 'Mars/Olympus'" in p
               for p in problems("[daemon]\ntimezone = 'Mars/Olympus'\n[schedules.x]\n"
                                 "interval = 5\n"))
    assert any(p.startswith("schedules.toml:1: TOML syntax error")
               for p in problems("[schedules.x\ninterval = 5\n"))
    assert any("schema_version: unsupported schema version 9" in p
               for p in problems("schema_version = 9\n[schedules.x]\ninterval = 5\n"))
    assert any("enabled: must be a boolean" in p
               for p in problems("[schedules.x]\ninterval = 5\nenabled = 1\n"))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A schedules file that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="no such file"):
        load_schedules(tmp_path / "nope.toml")


def test_next_fire_times_without_sleeping() -> None:
    """Cron and interval triggers give the expected next fire times for fixed datetimes."""
    now = datetime(2026, 1, 31, 23, 59, 59, 500000, tzinfo=UTC)
    monthly = cron_trigger("0 3 1 * *", UTC)
    first = monthly.get_next_fire_time(None, now)
    assert first == datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
    assert monthly.get_next_fire_time(first, first) == datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    spec = parse("[schedules.x]\ninterval = '2s'\n").schedules[0]
    trig = make_trigger(spec, UTC, now)
    nxt = trig.get_next_fire_time(None, now)
    assert nxt == datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)  # whole seconds from now
    assert trig.get_next_fire_time(nxt, nxt) == nxt + timedelta(seconds=2)
    berlin = cron_trigger("0 2 * * *", "Europe/Berlin").get_next_fire_time(None, now)
    assert berlin == datetime(2026, 2, 1, 1, 0, tzinfo=UTC)  # 02:00 CET = 01:00 UTC


def test_restart_catches_up_from_last_fire_and_never_repeats_it() -> None:
    """Same trigger: the first fire after the last handled one (maybe past: coalesced later);
    a new trigger starts from now; never at or before the last handled fire time."""
    weekly = cron_trigger("0 1 * * 6", UTC)
    last = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    now = datetime(2026, 3, 25, 12, 0, tzinfo=UTC)  # two runs missed since
    assert first_fire_time(weekly, last, True, now) == datetime(2026, 3, 14, 1, 0, tzinfo=UTC)
    assert first_fire_time(weekly, last, False, now) == datetime(2026, 3, 28, 1, 0, tzinfo=UTC)
    assert first_fire_time(weekly, None, True, now) == datetime(2026, 3, 28, 1, 0, tzinfo=UTC)
    # a last fire in the "future" of now (clock stepped back): still strictly after it
    early = datetime(2026, 3, 1, tzinfo=UTC)
    again = first_fire_time(weekly, last, False, early)
    assert again is not None and again > last
