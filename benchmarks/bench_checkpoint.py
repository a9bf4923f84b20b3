"""Checkpoint storage against git and cp, side by side on one generated tree.

    .venv/bin/python benchmarks/bench_checkpoint.py                 # 10,000 files, ~200 MB
    .venv/bin/python benchmarks/bench_checkpoint.py --files 2000 --mb 20 --repeat 3

Measures (median of --repeat runs, seconds):
  first      our snapshot + checkpoint write into empty stores  vs  git add -A && git commit
  unchanged  the same on an unchanged tree (warm stat cache)    vs  git add -A && git commit --allow-empty
  1%         the same after 1% of the files changed             vs  git add -A && git commit
  restore    materialize a checkpoint into an empty dir         vs  cp -a
Targets: unchanged <= git, 1% changed <= 0.5 x git, restore <= cp -a.
Git gets a separate GIT_DIR, gc.auto=0 (no surprise repacks) and its default fsync
settings; ours fsyncs the checkpoint file (objects are not fsynced, as git's are not).
Every timed run starts after an (untimed) sync, and each pair alternates which goes
first, so neither side inherits the other's writeback.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supervisor.checkpoint.snapshot import SnapshotStore  # noqa: E402
from supervisor.checkpoint.store import CheckpointStore, encode_manifest  # noqa: E402

TARGETS = {"unchanged": 1.0, "1% changed": 0.5, "restore": 1.0}


def _sizes(rng: random.Random, files: int, total: int) -> list[int]:
    """Mixed sizes: mostly small sources, some medium, a few large blobs; sum ~= total."""
    raw = []
    for _ in range(files):
        r = rng.random()
        if r < 0.90:
            raw.append(int(10 ** rng.uniform(2, 4.2)))  # 100 B .. 16 KB
        elif r < 0.99:
            raw.append(int(10 ** rng.uniform(4.2, 5.4)))  # 16 KB .. 250 KB
        else:
            raw.append(int(10 ** rng.uniform(6, 7)))  # 1 MB .. 10 MB
    scale = total / max(1, sum(raw))
    return [max(0, int(s * scale)) for s in raw]


def _content(rng: random.Random, size: int, text: bytes) -> bytes:
    if rng.random() < 0.5:
        return rng.randbytes(size)
    out = bytearray()
    while len(out) < size:
        start = rng.randrange(len(text) - 4096)
        out += text[start : start + rng.randrange(512, 4096)]
    return bytes(out[:size])


def generate(tree: Path, files: int, mb: float, seed: int = 7) -> list[Path]:
    """A deterministic project-like tree; returns its files."""
    rng = random.Random(seed)
    words = [
        bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz_", k=rng.randrange(2, 10)))
        for _ in range(500)
    ]
    text = b" ".join(rng.choices(words, k=40_000)) + b"\n"
    paths = []
    for i, size in enumerate(_sizes(rng, files, int(mb * 1024 * 1024))):
        path = tree / f"pkg{i % 20:02d}" / f"mod{(i // 20) % 10}" / f"file_{i:05d}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_content(rng, size, text))
        if i % 25 == 0:
            path.chmod(0o755)
        paths.append(path)
    for i in range(20):
        (tree / f"pkg{i:02d}" / "empty").mkdir()
        (tree / f"pkg{i:02d}" / "link").symlink_to("mod0")
    return paths


def mutate(paths: list[Path], fraction: float, rng: random.Random) -> None:
    for path in rng.sample(paths, max(1, int(len(paths) * fraction))):
        data = bytearray(path.read_bytes() or b"x")
        data[rng.randrange(len(data))] ^= 0xFF
        path.write_bytes(bytes(data))


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes, starting from a flushed page cache (no writeback backlog)."""
    os.sync()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def pair(i: int, ours: Callable[[], object], other: Callable[[], object]) -> tuple[float, float]:
    """Time both, alternating which goes first so neither always pays the other's after-effects."""
    if i % 2:
        b = timed(other)
        return timed(ours), b
    a = timed(ours)
    return a, timed(other)


class Ours:
    def __init__(self, session: Path):
        self.session = session
        self.reset()

    def reset(self) -> None:
        shutil.rmtree(self.session, ignore_errors=True)
        self.snapshots = SnapshotStore(self.session / "snapshots")
        self.store = CheckpointStore(self.session / "checkpoints", self.snapshots)
        self.last: list = []

    def checkpoint(self, tree: Path) -> None:
        manifest, _ = self.snapshots.snapshot(tree)
        self.store.write(
            {
                "trigger": "time",
                "phase": "bench",
                "created_wall": time.time(),
                "manifest": encode_manifest(manifest),
            }
        )
        self.last = manifest

    def cold_checkpoint(self, tree: Path) -> None:
        """A freshly started supervisor: the stat cache comes from disk."""
        self.snapshots = SnapshotStore(self.session / "snapshots")
        self.store = CheckpointStore(self.session / "checkpoints", self.snapshots)
        self.checkpoint(tree)


class Git:
    def __init__(self, git_dir: Path, tree: Path):
        self.base = ["git", f"--git-dir={git_dir}", f"--work-tree={tree}"]
        self.git_dir = git_dir

    def run(self, *args: str) -> None:
        subprocess.run([*self.base, *args], check=True, stdout=subprocess.DEVNULL)

    def reset(self) -> None:
        shutil.rmtree(self.git_dir, ignore_errors=True)
        self.run("init", "-q")
        for key, value in (
            ("user.name", "bench"),
            ("user.email", "bench@localhost"),
            ("gc.auto", "0"),
            ("commit.gpgsign", "false"),
        ):
            self.run("config", key, value)

    def commit(self, allow_empty: bool = False) -> None:
        self.run("add", "-A")
        self.run("commit", "-q", "-m", "checkpoint", *(["--allow-empty"] if allow_empty else []))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--mb", type=float, default=200.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_ckpt_", dir=args.dir))
    try:
        return run(work, args.files, args.mb, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, files: int, mb: float, repeat: int) -> int:
    tree = work / "project"
    t = timed(lambda: generate(tree, files, mb))
    paths = sorted(p for p in tree.rglob("*.dat"))
    real_mb = sum(p.stat().st_size for p in paths) / 2**20
    print(
        f"tree: {len(paths)} files, {real_mb:.1f} MB, generated in {t:.1f} s; "
        f"median of {repeat} runs"
    )
    ours, git = Ours(work / "session"), Git(work / "git", tree)
    rng = random.Random(11)
    rows: dict[str, tuple[float, float, str]] = {}

    first_o, first_g = [], []
    for i in range(repeat):
        ours.reset()
        git.reset()
        o, g = pair(i, lambda: ours.checkpoint(tree), git.commit)
        first_o.append(o)
        first_g.append(g)
    rows["first"] = (statistics.median(first_o), statistics.median(first_g), "git")

    same_o, same_g, cold_o = [], [], []
    for i in range(repeat):
        o, g = pair(i, lambda: ours.checkpoint(tree), lambda: git.commit(allow_empty=True))
        same_o.append(o)
        same_g.append(g)
        cold_o.append(timed(lambda: ours.cold_checkpoint(tree)))
    rows["unchanged"] = (statistics.median(same_o), statistics.median(same_g), "git")
    rows["unchanged, cold process"] = (statistics.median(cold_o), statistics.median(same_g), "git")

    chg_o, chg_g = [], []
    for i in range(repeat):
        mutate(paths, 0.01, rng)
        o, g = pair(i, lambda: ours.checkpoint(tree), git.commit)
        chg_o.append(o)
        chg_g.append(g)
    rows["1% changed"] = (statistics.median(chg_o), statistics.median(chg_g), "git")

    rest_o, rest_c = [], []
    manifest = ours.last
    for i in range(repeat):
        dest_o, dest_c = work / f"restore_ours_{i}", work / f"restore_cp_{i}"
        o, c = pair(
            i,
            lambda: ours.snapshots.materialize(manifest, dest_o),  # noqa: B023
            lambda: subprocess.run(["cp", "-a", str(tree), str(dest_c)], check=True),  # noqa: B023
        )
        rest_o.append(o)
        rest_c.append(c)
        shutil.rmtree(dest_o)
        shutil.rmtree(dest_c)
    rows["restore"] = (statistics.median(rest_o), statistics.median(rest_c), "cp -a")

    print(f"\n{'measurement':<26}{'ours s':>9}{'other s':>9}  {'vs':<6}{'ratio':>7}  target")
    missed = 0
    for name, (o, other, vs) in rows.items():
        ratio = o / other if other else float("inf")
        goal = TARGETS.get(name)
        verdict = ""
        if goal is not None:
            ok = ratio <= goal
            missed += not ok
            verdict = f"<= {goal:g}x  {'ok' if ok else 'MISSED'}"
        print(f"{name:<26}{o:>9.3f}{other:>9.3f}  {vs:<6}{ratio:>7.2f}  {verdict}")
    print(
        f"\nobjects: {sum(1 for _ in (work / 'session/snapshots/objects').rglob('*') if _.is_file())}"
        f", checkpoint file {ours.store.paths()[-1][1].stat().st_size / 1024:.0f} KB"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
