"""The simulated agent stepped with a fake session time: rates, mix, determinism, commands."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from supervisor.agents.sim.agent import PHASE_FACTORS, SimAgent
from supervisor.agents.sim.settings import SimSettings
from supervisor.agents.sim.tasks import TOOLS
from supervisor.agents.sim.workspace import Workspace

HOUR = 3600.0


def make_agent(root: Path, resume: dict[str, Any] | None = None, **overrides: Any) -> SimAgent:
    values: dict[str, Any] = {"agent_id": "coder-1", "role": "Coder", "phase": "custom",
                              "project_dir": str(root), "seed": 11}
    values.update(overrides)
    settings = SimSettings(**values)
    return SimAgent(settings, Workspace(settings.project_dir), resume)


def kinds(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["type"] for e in events)


def test_hello_announces_the_capabilities(tmp_path: Path) -> None:
    """The first line names the agent, version sim-1 and the three capabilities."""
    hello = make_agent(tmp_path).hello()
    assert hello == {"type": "hello", "agent": "coder-1", "version": "sim-1",
                     "capabilities": ["quiesce", "switch_model", "compress"]}


def test_rates_per_agent_hour_follow_the_config(tmp_path: Path) -> None:
    """Over 4 agent-hours: tool calls and tokens per hour within 10% of the configured rates."""
    agent = make_agent(tmp_path, tokens_per_hour=28_000, tool_calls_per_hour=240)
    events = agent.advance(4 * HOUR)
    calls = sum(1 for e in events if e["type"] == "tool_call")
    prompt = sum(e["prompt"] for e in events if e["type"] == "tokens")
    completion = sum(e["completion"] for e in events if e["type"] == "tokens")
    assert calls / 4 == pytest.approx(240, rel=0.1)
    assert (prompt + completion) / 4 == pytest.approx(28_000, rel=0.1)
    assert prompt / completion == pytest.approx(3.0, rel=0.15)


def test_phase_factors_shape_the_activity(tmp_path: Path) -> None:
    """Development runs busier than the average, finalization quieter (the seed's token plan)."""
    def calls(phase: str) -> int:
        agent = make_agent(tmp_path / phase, phase=phase)
        return sum(1 for e in agent.advance(3 * HOUR) if e["type"] == "tool_call")

    dev, fin = calls("development"), calls("finalization")
    assert dev / 3 == pytest.approx(240 * PHASE_FACTORS["development"], rel=0.12)
    assert fin / 3 == pytest.approx(240 * PHASE_FACTORS["finalization"], rel=0.15)
    assert dev > 1.5 * fin


def test_event_mix_over_an_hour(tmp_path: Path) -> None:
    """Heartbeats each minute, state every 5 minutes, paired tasks, known tools, tests run."""
    events = make_agent(tmp_path).advance(HOUR)
    count = kinds(events)
    assert count["heartbeat"] == 60
    assert count["state"] == 12
    assert count["tokens"] == count["tool_call"]
    started = [e["id"] for e in events if e["type"] == "task" and e["status"] == "started"]
    completed = [e["id"] for e in events if e["type"] == "task" and e["status"] == "completed"]
    assert len(set(started)) == len(started) and set(completed) <= set(started)
    assert all(i.startswith("coder-1/custom/") for i in started)
    assert 2 <= count["tool_call"] / max(1, len(completed)) <= 12
    tools = {e["name"] for e in events if e["type"] == "tool_call"}
    assert tools <= set(TOOLS) and {"write_file", "run_tests", "read_file"} <= tools
    writes = [e for e in events if e["type"] == "tool_call" and e["name"] == "write_file"]
    assert writes and all("path" in e for e in writes)
    results = [e for e in events if e["type"] == "test_result"]
    assert results and results[-1]["passed"] > 0 and results[-1]["failed"] == 0
    assert 0 < results[-1]["coverage"] <= 1
    assert [r["coverage"] for r in results] == sorted(r["coverage"] for r in results)


def test_same_seed_same_events_and_files(tmp_path: Path) -> None:
    """Same seed, agent and phase: identical events and identical project files."""
    a, b = make_agent(tmp_path / "a"), make_agent(tmp_path / "b")
    assert a.advance(2 * HOUR) == b.advance(2 * HOUR)
    files_a, files_b = Workspace(str(tmp_path / "a")), Workspace(str(tmp_path / "b"))
    assert files_a.files() and files_a.files() == files_b.files()
    assert all(files_a.read(p) == files_b.read(p) for p in files_a.files())


def test_another_seed_gives_other_events(tmp_path: Path) -> None:
    """A different seed changes the event sequence."""
    a, b = make_agent(tmp_path / "a"), make_agent(tmp_path / "b", seed=12)
    assert a.advance(HOUR) != b.advance(HOUR)


def test_quiesce_holds_everything_until_resume(tmp_path: Path) -> None:
    """quiesce: at once 'quiesced', then silence (no heartbeat); resume: no backlog burst."""
    agent = make_agent(tmp_path)
    agent.advance(600)
    assert agent.command({"cmd": "quiesce"}, 600) == [{"type": "quiesced"}]
    assert agent.next_wakeup() is None
    assert agent.advance(5 * HOUR) == []
    assert agent.command({"cmd": "resume"}, 5 * HOUR) == []
    after = agent.advance(5 * HOUR + 600)
    assert 2 <= kinds(after)["heartbeat"] <= 11  # ten minutes' worth, not five hours'
    assert kinds(after)["tool_call"] < 100


def test_throttle_silences_for_session_seconds(tmp_path: Path) -> None:
    """throttle 900: nothing for 900 session seconds, then normal activity resumes."""
    agent = make_agent(tmp_path)
    agent.advance(300)
    agent.command({"cmd": "throttle", "seconds": 900}, 300)
    assert agent.next_wakeup() == 1200
    assert agent.advance(1199) == []
    resumed = agent.advance(1200 + 600)
    assert kinds(resumed)["heartbeat"] in (9, 10, 11)


def test_switch_model_applies_to_later_tokens_and_sends_state(tmp_path: Path) -> None:
    """switch_model: later tokens events name the new model; a state follows within a second."""
    agent = make_agent(tmp_path)
    agent.advance(100)
    assert agent.command({"cmd": "switch_model", "model": "fallback"}, 100) == []
    soon = agent.advance(101.5)
    assert any(e["type"] == "state" and e["data"]["model"] == "fallback" for e in soon)
    later = agent.advance(1000)
    assert {e["model"] for e in later if e["type"] == "tokens"} == {"fallback"}


def test_compress_context_drops_it_to_about_thirty_percent(tmp_path: Path) -> None:
    """compress_context: the next tokens event reports ~30% of the previous context."""
    agent = make_agent(tmp_path)
    agent.advance(2 * HOUR)
    before = agent.context
    agent.command({"cmd": "compress_context"}, 2 * HOUR)
    first = next(e for e in agent.advance(3 * HOUR) if e["type"] == "tokens")
    assert first["context"] < 0.4 * before


def test_stop_gives_a_final_state_and_exit_code_0(tmp_path: Path) -> None:
    """stop: one state event with the counters, then the agent is done (exit code 0)."""
    agent = make_agent(tmp_path)
    agent.advance(HOUR)
    (final,) = agent.command({"cmd": "stop"}, HOUR)
    assert final["type"] == "state" and agent.exit_code == 0
    assert final["data"]["step"] == agent.step > 0
    assert final["data"]["elapsed"] == pytest.approx(HOUR)
    assert agent.advance(2 * HOUR) == []


def test_unknown_commands_are_noted_on_stderr(tmp_path: Path) -> None:
    """An unknown or malformed command produces a stderr line and no event."""
    agent = make_agent(tmp_path)
    assert agent.command({"cmd": "dance"}, 0) == []
    assert agent.command(["not", "an", "object"], 0) == []
    assert agent.command({"cmd": "throttle", "seconds": "soon"}, 0) == []
    notes = agent.take_stderr()
    assert len(notes) == 3 and all(n.startswith("sim: ") for n in notes)


def test_resume_continues_numbering_and_never_rewrites_finished_units(tmp_path: Path) -> None:
    """A resumed agent continues step and task numbering and only writes unfinished work."""
    first = make_agent(tmp_path, phase_seconds=4 * HOUR)
    events = first.advance(HOUR)
    state = first.state_event()["data"]
    written_before = {e["path"] for e in events if e["type"] == "tool_call"
                      and e["name"] in ("write_file", "edit_file")}
    done_files = {p for u in first.work.units if u.key in state["units_done"] for p in u.paths}
    second = make_agent(tmp_path, resume=state, phase_seconds=3 * HOUR)
    assert second.step == state["step"] and second.timeline.start == pytest.approx(HOUR)
    later = second.advance(2 * HOUR)
    started = [int(e["id"].rsplit("/", 1)[1]) for e in later
               if e["type"] == "task" and e["status"] == "started"]
    assert started[0] in (state["task_seq"], state["task_seq"] + 1)
    rewritten = {e["path"] for e in later if e["type"] == "tool_call"
                 and e["name"] in ("write_file", "edit_file")}
    assert written_before and rewritten and not rewritten & done_files


def test_next_phase_keeps_the_progress_of_the_last(tmp_path: Path) -> None:
    """A state from the previous phase carries units and counters; numbering restarts by phase."""
    boot = make_agent(tmp_path, phase="bootstrap", phase_index=0, phase_count=2)
    boot.advance(HOUR)
    state = boot.state_event()["data"]
    dev = make_agent(tmp_path, resume=state, phase="development", phase_index=1, phase_count=2)
    assert dev.step == 0 and dev.work.units_done == state["units_done"]
    assert dev.tool_calls == state["tool_calls"]
    first_task = next(e for e in dev.advance(HOUR) if e["type"] == "task")
    assert first_task["id"] == "coder-1/dev/1"


def test_unusable_resume_state_starts_fresh_with_a_note(tmp_path: Path) -> None:
    """A state of another schema or agent is ignored, with a stderr note."""
    agent = make_agent(tmp_path, resume={"schema": 99, "step": 50})
    assert agent.step == 0
    assert any("resume state not usable" in n for n in agent.take_stderr())
    other = make_agent(tmp_path, resume={"schema": 1, "agent": "tester-9", "step": 50})
    assert other.step == 0


def test_a_failed_write_abandons_the_rest_of_the_unit(tmp_path: Path) -> None:
    """When a module cannot be written, its test module is not written either."""

    class FullDisk(Workspace):
        def write(self, rel: str, text: str) -> None:
            if not rel.startswith("tests/"):
                raise OSError(28, "No space left on device")
            super().write(rel, text)

    settings = SimSettings(agent_id="coder-1", project_dir=str(tmp_path), agent_index=1,
                           agent_count=2, phase="custom")
    agent = SimAgent(settings, FullDisk(settings.project_dir))
    events = agent.advance(HOUR)
    failed = [e for e in events if e["type"] == "tool_call" and not e["ok"]
              and e["name"] == "write_file"]
    assert failed
    assert not (tmp_path / "tests").exists()
    assert any("No space left" in n for n in agent.take_stderr())
