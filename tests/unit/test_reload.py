"""SIGHUP reload: the pure diff of two configs, the merge, and reading an edited file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from supervisor.config import config_to_toml, load_config
from supervisor.config.schema import Config, EmailSpec, ErrorRuleSpec, NotificationsSpec
from supervisor.control.reload import (
    RELOADABLE,
    Change,
    diff_configs,
    merge_reloadable,
    plan_reload,
)
from supervisor.errors import ConfigError


@pytest.fixture(scope="module")
def base() -> Config:
    return load_config(None, env={})


def session_file(tmp_path: Path, cfg: Config) -> Path:
    """A session's config.toml, as the supervisor writes it at start."""
    path = tmp_path / "config.toml"
    path.write_text(config_to_toml(cfg), encoding="utf-8")
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_same_config_has_no_changes(base: Config) -> None:
    """Two equal configs differ in nothing, even when loaded from different files."""
    other = dataclasses.replace(base, source="/somewhere/else.toml")
    assert diff_configs(base, other).empty


@pytest.mark.parametrize(
    ("change", "path", "reloadable"),
    [
        (lambda c: dataclasses.replace(c, limits=dataclasses.replace(
            c.limits, total_token_budget=7)), "limits.total_token_budget", True),
        (lambda c: dataclasses.replace(c, error_handling=dataclasses.replace(
            c.error_handling, max_consecutive_errors=9)),
         "error_handling.max_consecutive_errors", True),
        (lambda c: dataclasses.replace(c, notifications=NotificationsSpec(
            enabled=True, webhook_url="http://h/x")), "notifications.enabled", True),
        (lambda c: dataclasses.replace(c, session=dataclasses.replace(
            c.session, agent_count=2)), "session.agent_count", False),
        (lambda c: dataclasses.replace(c, checkpoint=dataclasses.replace(
            c.checkpoint, keep_last=3)), "checkpoint.keep_last", False),
        (lambda c: dataclasses.replace(c, control=dataclasses.replace(
            c.control, http_port=9)), "control.http_port", False),
    ],
)
def test_each_change_is_sorted_by_section(base: Config, change: object, path: str,
                                          reloadable: bool) -> None:
    """A changed value is listed under its key path, applied only in a reloadable section."""
    new = change(base)  # type: ignore[operator]
    diff = diff_configs(base, new)
    paths = [c.path for c in (diff.applied if reloadable else diff.needs_restart)]
    assert path in paths
    other = diff.needs_restart if reloadable else diff.applied
    assert path not in [c.path for c in other]


def test_recovery_rule_change_names_the_failure_and_key(base: Config) -> None:
    """A change inside one recovery rule is reported down to the failure type and key."""
    rules = tuple(dataclasses.replace(r, max_attempts=r.max_attempts + 4)
                  if r.failure == "rate_limit" else r for r in base.recovery.rules)
    new = dataclasses.replace(base, recovery=dataclasses.replace(base.recovery, rules=rules))
    diff = diff_configs(base, new)
    assert [c.path for c in diff.applied] == ["recovery.rate_limit.max_attempts"]
    old_attempts = base.recovery.rule("rate_limit").max_attempts  # type: ignore[union-attr]
    assert (diff.applied[0].old, diff.applied[0].new) == (old_attempts, old_attempts + 4)
    assert not diff.needs_restart


def test_error_rules_compare_as_one_list(base: Config) -> None:
    """Adding an [[error_handling.rules]] entry is one change of the whole list."""
    rule = ErrorRuleSpec(pattern="quota", severity="recoverable", action="throttle_retry")
    new = dataclasses.replace(base, error_handling=dataclasses.replace(
        base.error_handling, rules=(*base.error_handling.rules, rule)))
    diff = diff_configs(base, new)
    assert [c.path for c in diff.applied] == ["error_handling.rules"]
    assert isinstance(diff.applied[0].new, list) and diff.applied[0].new[-1]["pattern"] == "quota"


def test_merge_takes_only_the_reloadable_sections(base: Config) -> None:
    """The merged config has the new limits but keeps the running session's other values."""
    new = dataclasses.replace(
        base,
        limits=dataclasses.replace(base.limits, total_token_budget=11),
        session=dataclasses.replace(base.session, agent_count=1),
    )
    merged = merge_reloadable(base, new)
    assert merged.limits.total_token_budget == 11
    assert merged.session.agent_count == base.session.agent_count
    assert {name: getattr(merged, name) for name in RELOADABLE} == \
        {name: getattr(new, name) for name in RELOADABLE}


def test_secrets_are_not_shown(base: Config) -> None:
    """A changed SMTP password is reported as changed, never with its value."""
    new = dataclasses.replace(base, notifications=NotificationsSpec(
        email=EmailSpec(password="hunter2")))
    diff = diff_configs(base, new)
    pw = [c for c in diff.applied if c.path.endswith("password")]
    assert pw and "hunter2" not in pw[0].describe() and "hunter2" not in str(pw[0].to_json())
    assert "hunter2" not in str(diff.to_json())


def test_change_describes_old_and_new() -> None:
    """A change reads as ``path: old -> new``, long values shortened."""
    assert Change("limits.x", 1, 2).describe() == "limits.x: 1 -> 2"
    long = Change("recovery.rules", "a" * 200, "b").describe()
    assert long.startswith('recovery.rules: "aaa') and "..." in long and len(long) < 120


def test_plan_reload_reads_an_edited_session_file(tmp_path: Path, base: Config) -> None:
    """Editing config.toml: the budget change is applied, the agent count needs a restart."""
    path = session_file(tmp_path, base)
    edit(path, "total_token_budget = 5000000", "total_token_budget = 4000000")
    edit(path, "agent_count = 6", "agent_count = 4")
    plan = plan_reload(base, path, env={})
    assert plan.config.limits.total_token_budget == 4_000_000
    assert plan.config.session.agent_count == base.session.agent_count
    assert [c.path for c in plan.diff.applied] == ["limits.total_token_budget"]
    assert "session.agent_count" in [c.path for c in plan.diff.needs_restart]


def test_unchanged_session_file_reloads_to_no_change(tmp_path: Path, base: Config) -> None:
    """The file as the supervisor wrote it reloads with nothing to apply or restart."""
    plan = plan_reload(base, session_file(tmp_path, base), env={"CHECKPOINT_INTERVAL": "1"})
    assert plan.diff.empty and plan.config == base


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("total_token_budget = 5000000", "total_token_budget = -5", "total_token_budget"),
        ("[limits]", "[limits", "TOML syntax error"),
    ],
)
def test_invalid_file_changes_nothing(tmp_path: Path, base: Config, old: str, new: str,
                                      needle: str) -> None:
    """A file that does not load raises ConfigError naming the file and the problem."""
    path = session_file(tmp_path, base)
    edit(path, old, new)
    with pytest.raises(ConfigError) as err:
        plan_reload(base, path, env={})
    assert "config.toml" in str(err.value) and needle in str(err.value)


def test_merged_config_is_checked_across_sections(tmp_path: Path, base: Config) -> None:
    """New limits that the running agent count breaks are refused, even if the file's own
    (not applied) agent count would fit them."""
    path = session_file(tmp_path, base)
    edit(path, "max_parallel_agents = 8", "max_parallel_agents = 2")
    edit(path, "agent_count = 6", "agent_count = 2")
    edit(path, "concurrent_agents = 6", "concurrent_agents = 2")
    with pytest.raises(ConfigError) as err:
        plan_reload(base, path, env={})
    assert "max_parallel_agents" in str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path, base: Config) -> None:
    """A session whose config.toml is gone gets a clear error, nothing applied."""
    with pytest.raises(ConfigError) as err:
        plan_reload(base, tmp_path / "config.toml", env={})
    assert "config.toml" in str(err.value)


@pytest.mark.parametrize(
    ("path", "secret"),
    [("notifications.email.password", True), ("x.smtp_password", True), ("a.token", True),
     ("a.api_key", True), ("limits.total_token_budget", False),
     ("limits.tokens_per_agent_per_hour", False), ("notifications.webhook_url", False)],
)
def test_secret_keys_are_recognised_by_name(path: str, secret: bool) -> None:
    """Only keys named like a secret are hidden; a token budget is not a secret."""
    assert (Change(path, 1, 2).describe() == f"{path}: (changed)") is secret
