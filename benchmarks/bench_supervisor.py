"""Supervisor overhead: the supervisor process's own CPU and RSS while 8 simulated agents
run at the realistic rate (issue 2, "Benchmark"; targets: under 3% of a core, under 100 MB).

A real session (``run_mega_test task_queue HOURS 8``) runs in a child process. Every
``--interval`` seconds this script samples that process alone (psutil ``cpu_times`` user +
system of the supervisor pid, not its children; ``memory_info().rss``). The measured window
is the steady state of each phase, from the last ``agent_start`` of the phase to the first
``agent_exit`` at its end (all agents running; start-up, phase changes and the final test
run are outside it, and the CPU of a phase change is shown on its own), matched to the
samples by wall time.

The realistic rate is time scale 1, where an hour takes an hour. To finish in minutes the
session runs faster, and the figures are normalised:

- CPU seconds per session-hour per agent: the cost of the work itself (intake, journal,
  counters, checkpoints, metrics), whatever the scale;
- the implied share of a core at scale 1: the CPU rate is fitted as ``rate(s) = a*s + b``
  over two (or more) scales, where ``a*s`` is the part that grows with the session's pace
  and ``b`` the part paid per wall second whatever the pace (idle loop, timers); at scale 1
  that is ``a + b``. With one scale, the bounds are printed instead: the rate at that scale
  (an upper bound for scale 1) and the per-session-hour cost spread over an hour.

    python benchmarks/bench_supervisor.py                 # scales 60, 20 and 1, ~60 s each
    python benchmarks/bench_supervisor.py --quick         # ~20 s each
    python benchmarks/bench_supervisor.py --scales 60 --seconds 90
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

AGENTS = 8
TARGET_CORE_PERCENT = 3.0
TARGET_RSS_MB = 100.0
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    scale: float
    hours: float
    wall_s: float  # measured window, wall seconds
    session_s: float  # measured window, session seconds
    cpu_s: float  # supervisor CPU in the window (user + system, no children)
    transitions_cpu_s: float  # supervisor CPU per phase change (stop, measure, launch)
    cpu_total_s: float  # supervisor CPU over the whole process
    rss_peak_mb: float
    rss_mean_mb: float  # in the window
    events: int  # agent events journaled in the window
    tool_calls: int
    tokens: int
    checkpoints: int
    exit_code: int

    @property
    def core_percent(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_per_session_hour_per_agent(self) -> float:
        return self.cpu_s / (self.session_s / 3600.0) / AGENTS if self.session_s else 0.0


def _journal(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def _cpu_at(samples: list[tuple[float, float, int]], wall: float) -> float:
    """Supervisor CPU seconds at wall time ``wall`` (linear between samples)."""
    walls = [s[0] for s in samples]
    i = bisect.bisect_left(walls, wall)
    if i <= 0:
        return samples[0][1]
    if i >= len(samples):
        return samples[-1][1]
    (w0, c0, _), (w1, c1, _) = samples[i - 1], samples[i]
    return c0 + (c1 - c0) * (wall - w0) / (w1 - w0) if w1 > w0 else c1


def run_session(work: Path, scale: float, seconds: float, interval: float, seed: int) -> Run:
    hours = seconds * scale / 3600.0
    cfg = work / "bench.toml"
    cfg.write_text(f'[control]\nhttp_port = 0\n[project]\ntest_command = ["{sys.executable}", '
                   '"-c", "pass"]\n')
    sid = f"bench-{scale:g}"
    runs = work / "runs"
    code = "from supervisor.control.cli import run_mega_test_main; run_mega_test_main()"
    env = dict(os.environ)
    env.pop("CHECKPOINT_INTERVAL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "task_queue", f"{hours:.6f}", str(AGENTS),
         "--time-scale", f"{scale:g}", "--seed", str(seed), "--session-id", sid,
         "--test-runs-dir", str(runs), "--config", str(cfg), "-q"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    me = psutil.Process(proc.pid)
    samples: list[tuple[float, float, int]] = []  # wall, cpu seconds, rss bytes
    deadline = time.monotonic() + seconds * 3 + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with me.oneshot():
                t = me.cpu_times()
                samples.append((time.time(), t.user + t.system, me.memory_info().rss))
        except psutil.Error:
            break
        time.sleep(interval)
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    records = _journal(runs / sid / "events.wal")
    spans = steady_spans(records)
    if not samples or not spans:
        raise SystemExit(f"scale {scale}: the session did not run (rc {proc.returncode})")
    first, last = spans[0][0], spans[-1][1]
    cpu_all = _cpu_at(samples, last["w"]) - _cpu_at(samples, first["w"])
    cpu = sum(_cpu_at(samples, b["w"]) - _cpu_at(samples, a["w"]) for a, b in spans)
    window = [r for r in records if first["seq"] <= r["seq"] <= last["seq"]]
    in_window = [s for s in samples if first["w"] <= s[0] <= last["w"]] or samples
    evs = [r["e"] for r in window if r["k"] == "ev"]
    return Run(
        scale=scale, hours=hours,
        wall_s=sum(b["w"] - a["w"] for a, b in spans),
        session_s=sum(b["t"] - a["t"] for a, b in spans),
        cpu_s=cpu,
        transitions_cpu_s=(cpu_all - cpu) / max(1, len(spans) - 1),
        cpu_total_s=samples[-1][1],
        rss_peak_mb=max(s[2] for s in samples) / 2**20,
        rss_mean_mb=sum(s[2] for s in in_window) / len(in_window) / 2**20,
        events=len(evs),
        tool_calls=sum(1 for e in evs if e["type"] == "tool_call"),
        tokens=sum(int(e.get("prompt", 0)) + int(e.get("completion", 0))
                   for e in evs if e["type"] == "tokens"),
        checkpoints=sum(1 for r in window if r["k"] == "checkpoint"),
        exit_code=proc.returncode,
    )


def steady_spans(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Per phase, (record after which every agent of the phase runs, record where the
    first one is stopped): the steady state, phase changes left out."""
    spans = []
    begin: dict[str, Any] | None = None
    for r in records:
        if r["k"] == "phase_start":
            begin = None
        elif r["k"] == "agent_start":
            begin = r
        elif r["k"] in ("agent_exit", "phase_end") and begin is not None:
            spans.append((begin, r))
            begin = None
    return spans


def fit(runs: list[Run]) -> tuple[float, float] | None:
    """Least squares ``core_percent(s) = a*s + b`` over the runs; None with one scale."""
    xs = [r.scale for r in runs]
    if len(set(xs)) < 2:
        return None
    ys = [r.core_percent for r in runs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2
                                                                            for x in xs)
    return a, my - a * mx


def report(runs: list[Run]) -> int:
    print(f"\n{'scale':>6} {'hours':>6} {'wall s':>7} {'sess h':>7} {'cpu s':>7} {'% core':>7} "
          f"{'cpu s/sess-h/agent':>19} {'RSS peak MB':>12} {'RSS mean':>9} {'events':>7} "
          f"{'tools/agent-h':>14} {'ckpts':>6} {'cpu s/phase change':>19} {'rc':>3}")
    for r in runs:
        per_agent_h = r.tool_calls / (r.session_s / 3600.0) / AGENTS if r.session_s else 0.0
        print(f"{r.scale:>6g} {r.hours:>6.2f} {r.wall_s:>7.1f} {r.session_s / 3600:>7.2f} "
              f"{r.cpu_s:>7.2f} {r.core_percent:>7.2f} {r.cpu_per_session_hour_per_agent:>19.3f} "
              f"{r.rss_peak_mb:>12.1f} {r.rss_mean_mb:>9.1f} {r.events:>7} {per_agent_h:>14.0f} "
              f"{r.checkpoints:>6} {r.transitions_cpu_s:>19.3f} {r.exit_code:>3}")
    fitted = fit(runs)
    fastest = max(runs, key=lambda r: r.scale)  # the per-wall part weighs least there
    per_hour = fastest.cpu_per_session_hour_per_agent * AGENTS
    direct = [r for r in runs if r.scale == 1.0]
    if fitted is not None:
        a, b = fitted
        implied = max(a + b, per_hour / 36.0)
        how = f"fit a*s+b: a={a:.4f} %/scale, b={b:.3f} % (per-wall part), a+b={a + b:.3f} %"
        if direct:
            implied = direct[0].core_percent
            how = f"measured at scale 1; {how}"
    else:
        implied = runs[0].core_percent  # upper bound
        how = (f"one scale: between {per_hour / 36.0:.3f} % (pace-bound cost only) and "
               f"{implied:.3f} % (the whole rate at scale {runs[0].scale:g})")
    rss = max(r.rss_peak_mb for r in runs)
    rows = [
        ("supervisor CPU at scale 1, 8 agents", f"{implied:.3f} % of a core",
         f"< {TARGET_CORE_PERCENT:g} %", implied < TARGET_CORE_PERCENT),
        (f"supervisor CPU s per session-hour, 8 agents (x{fastest.scale:g})", f"{per_hour:.2f} s",
         "", None),
        ("supervisor RSS peak", f"{rss:.1f} MB", f"< {TARGET_RSS_MB:g} MB", rss < TARGET_RSS_MB),
    ]
    print(f"\n{'measurement':<54}{'value':>18}  {'target':<10} verdict")
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:<54}{value:>18}  {target:<10} {verdict}")
    print(f"({how})")
    failed = any(ok is False for *_, ok in rows) or any(r.exit_code != 0 for r in runs)
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[60.0, 20.0, 1.0],
                    help="time scales to run (two or more give the scale-1 fit)")
    ap.add_argument("--seconds", type=float, default=60.0, help="wall seconds of phases per run")
    ap.add_argument("--interval", type=float, default=0.2, help="sampling interval, seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="20 s per run")
    ap.add_argument("--keep", action="store_true", help="keep the session directories")
    args = ap.parse_args()
    seconds = 20.0 if args.quick else args.seconds
    work = Path(tempfile.mkdtemp(prefix="bench_supervisor_"))
    try:
        runs = []
        for scale in args.scales:
            print(f"scale {scale:g}: {seconds:.0f} s of phases, {AGENTS} simulated agents ...",
                  flush=True)
            runs.append(run_session(work, scale, seconds, args.interval, args.seed))
        return report(runs)
    finally:
        if args.keep:
            print(f"sessions kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
