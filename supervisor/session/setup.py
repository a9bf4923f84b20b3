"""Create a new session directory and the files that describe it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import tomli_w

from supervisor.config import config_to_dict, config_to_toml
from supervisor.config.schema import Config
from supervisor.errors import SessionError
from supervisor.session.files import write_json_atomic, write_text_atomic
from supervisor.session.layout import SessionLayout, new_session_id, valid_session_id


def resolve_session_id(cfg: Config) -> Config:
    """A concrete session id (``auto`` becomes ``mega-YYYYMMDD-HHMMSS-xxxxxxxx``)."""
    sid = cfg.session.id
    if sid in ("", "auto"):
        sid = new_session_id()
    if not valid_session_id(sid):
        raise SessionError(f"invalid session id {sid!r}: use letters, digits, '.', '_' and '-'")
    return dataclasses.replace(cfg, session=dataclasses.replace(cfg.session, id=sid))


def create_session(cfg: Config) -> SessionLayout:
    """Make ``<test_runs>/<id>/`` and its files. An existing session is never overwritten."""
    layout = SessionLayout.of(Path(cfg.session.test_runs_dir), cfg.session.id)
    try:
        layout.root.parent.mkdir(parents=True, exist_ok=True)
        layout.root.mkdir()
    except FileExistsError:
        raise SessionError(
            f"session {cfg.session.id} already exists in {layout.root.parent} "
            "(pick another --session-id, or `supervisor resume` it)") from None
    except OSError as e:
        raise SessionError(f"cannot create {layout.root}: {e.strerror}") from None
    for d in (layout.agents_dir, layout.checkpoints_dir, layout.snapshots_dir,
              layout.metrics_dir, layout.project_dir):
        d.mkdir(exist_ok=True)
    write_text_atomic(layout.config_toml, config_to_toml(cfg))
    write_json_atomic(layout.config_json, config_to_dict(cfg))
    write_text_atomic(layout.agent_toml, tomli_w.dumps(agent_settings(cfg)))
    write_text_atomic(layout.prompt, project_prompt(cfg))
    return layout


def agent_settings(cfg: Config) -> dict[str, Any]:
    """What agents are handed (agent.toml): the session, their limits, the simulation."""
    sim = cfg.simulation
    faults: dict[str, Any] = {"rates": {k: v for k, v in sim.faults.rates}}
    if sim.faults.scheduled:
        faults["scheduled"] = [dataclasses.asdict(s) for s in sim.faults.scheduled]
    return {
        "schema_version": 1,
        "session": {"id": cfg.session.id, "project_type": cfg.session.project_type,
                    "time_scale": cfg.session.time_scale, "seed": cfg.session.seed},
        "project": {"name": cfg.project.name,
                    "target_lines_of_code": cfg.project.target.lines_of_code},
        "agent": {"models": list(cfg.agent.models), "max_iterations": cfg.agent.max_iterations,
                  "step_timeout_secs": cfg.agent.step_timeout_secs},
        "limits": {"max_context_size": cfg.limits.max_context_size,
                   "tokens_per_agent_per_hour": cfg.limits.tokens_per_agent_per_hour,
                   "tool_calls_per_agent_per_hour": cfg.limits.tool_calls_per_agent_per_hour},
        "simulation": {"tokens_per_agent_hour": sim.tokens_per_agent_hour,
                       "tool_calls_per_agent_hour": sim.tool_calls_per_agent_hour,
                       "faults": faults},
    }


def project_prompt(cfg: Config) -> str:
    p = cfg.project
    lines = [f"Project: {p.name} ({cfg.session.project_type})"]
    if p.description:
        lines.append(p.description)
    if p.prompt:
        lines += ["", p.prompt.strip()]
    t = p.target
    lines += ["", "Targets:", f"- about {t.lines_of_code:,} lines of code",
              f"- test coverage of at least {t.test_coverage:.0%}",
              f"- documentation coverage of at least {t.documentation_coverage:.0%}", "",
              "Phases:"]
    for ph in cfg.phases:
        lines.append(f"- {ph.name} ({ph.duration_minutes:g} min): " + "; ".join(ph.objectives))
    return "\n".join(lines) + "\n"
