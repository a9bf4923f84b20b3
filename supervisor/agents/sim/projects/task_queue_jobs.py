"""RedQueue job modules: job queue, worker pool, statistics dashboard."""

from __future__ import annotations

JOBQUEUE = ('''
"""A job queue with priorities, acknowledgements, retries and dead letters.

Reserved jobs must be acknowledged within the visibility timeout, or they return to
the queue; a job that fails ``max_attempts`` times goes to the dead-letter list.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass


@dataclass
class Job:
    id: int
    payload: bytes
    priority: int = 0
    attempts: int = 0
    deadline: float | None = None


class JobQueue:
    def __init__(self, visibility_timeout: float = 30.0, max_attempts: int = 3):
        if visibility_timeout <= 0 or max_attempts < 1:
            raise ValueError("visibility_timeout must be > 0 and max_attempts >= 1")
        self.visibility_timeout = visibility_timeout
        self.max_attempts = max_attempts
        self.dead: list[Job] = []
        self._ready: list[tuple[int, int, int]] = []  # (-priority, arrival, job id)
        self._jobs: dict[int, Job] = {}
        self._reserved: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return len(self._ready)

    @property
    def in_flight(self) -> int:
        return len(self._reserved)

    def put(self, payload: bytes, priority: int = 0) -> int:
        """Queue a job; higher priorities are served first. Returns the job id."""
        job = Job(next(self._ids), payload, priority)
        self._jobs[job.id] = job
        self._push(job)
        return job.id

    def _push(self, job: Job) -> None:
        heapq.heappush(self._ready, (-job.priority, next(self._arrivals), job.id))

    def reserve(self, now: float) -> Job | None:
        """The next job (highest priority, oldest first), reserved until now + timeout."""
        self.requeue_expired(now)
        if not self._ready:
            return None
        _, _, job_id = heapq.heappop(self._ready)
        job = self._jobs[job_id]
        job.attempts += 1
        job.deadline = now + self.visibility_timeout
        self._reserved[job_id] = job
        return job

    def ack(self, job_id: int) -> None:
        """The job is done."""
        if job_id not in self._reserved:
            raise KeyError(f"job {job_id} is not reserved")
        del self._reserved[job_id]
        del self._jobs[job_id]

    def nack(self, job_id: int) -> bool:
        """The job failed: True if it will be retried, False if it went to dead letters."""
        job = self._reserved.pop(job_id, None)
        if job is None:
            raise KeyError(f"job {job_id} is not reserved")
        return self._retry(job)

    def _retry(self, job: Job) -> bool:
        job.deadline = None
        if job.attempts >= self.max_attempts:
            del self._jobs[job.id]
            self.dead.append(job)
            return False
        self._push(job)
        return True

    def requeue_expired(self, now: float) -> int:
        """Return reserved jobs whose deadline passed to the queue; how many."""
        expired = [
            j for j in self._reserved.values() if j.deadline is not None and j.deadline <= now
        ]
        for job in expired:
            del self._reserved[job.id]
            self._retry(job)
        return len(expired)
''', '''
import pytest

from __PKG__.jobqueue import JobQueue


def test_priority_then_arrival_order():
    q = JobQueue()
    q.put(b"low", priority=0)
    q.put(b"high", priority=5)
    q.put(b"low2", priority=0)
    assert [q.reserve(0).payload for _ in range(3)] == [b"high", b"low", b"low2"]
    assert q.reserve(0) is None


def test_ack_forgets_the_job():
    q = JobQueue()
    q.put(b"x")
    job = q.reserve(0)
    q.ack(job.id)
    assert q.in_flight == 0 and len(q) == 0
    with pytest.raises(KeyError):
        q.ack(job.id)


def test_nack_retries_then_dead_letters():
    q = JobQueue(max_attempts=2)
    q.put(b"x")
    assert q.nack(q.reserve(0).id) is True
    assert q.nack(q.reserve(0).id) is False
    assert [j.payload for j in q.dead] == [b"x"] and len(q) == 0


def test_visibility_timeout_returns_the_job():
    q = JobQueue(visibility_timeout=10)
    q.put(b"x")
    first = q.reserve(0)
    assert q.reserve(5) is None
    again = q.reserve(10)
    assert again.id == first.id and again.attempts == 2


def test_rejects_bad_settings():
    with pytest.raises(ValueError):
        JobQueue(max_attempts=0)
''')


WORKERS = ('''
"""A pool of worker threads running a handler over submitted items."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable
from typing import Any

_STOP = object()


class WorkerPool:
    """``submit(key, item)``; results and exceptions are collected by key."""

    def __init__(self, handler: Callable[[Any], Any], workers: int = 4):
        if workers < 1:
            raise ValueError("need at least one worker")
        self.handler = handler
        self.results: dict[Hashable, Any] = {}
        self.errors: dict[Hashable, Exception] = {}
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"worker-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: Hashable, item: Any) -> None:
        if self._closed:
            raise RuntimeError("the pool is closed")
        self._inbox.put((key, item))

    def _run(self) -> None:
        while True:
            task = self._inbox.get()
            try:
                if task is _STOP:
                    return
                key, item = task
                try:
                    value = self.handler(item)
                except Exception as exc:
                    with self._lock:
                        self.errors[key] = exc
                else:
                    with self._lock:
                        self.results[key] = value
            finally:
                self._inbox.task_done()

    def close(self, timeout: float = 5.0) -> None:
        """Finish the queued work, then stop every thread."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._inbox.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
''', '''
import threading

import pytest

from __PKG__.workers import WorkerPool


def test_results_by_key():
    with WorkerPool(lambda n: n * n, workers=3) as pool:
        for n in range(20):
            pool.submit(n, n)
    assert pool.results == {n: n * n for n in range(20)}


def test_errors_are_kept_per_key():
    def handler(n):
        if n == 3:
            raise ValueError("three")
        return n

    with WorkerPool(handler, workers=2) as pool:
        for n in range(5):
            pool.submit(n, n)
    assert set(pool.results) == {0, 1, 2, 4}
    assert str(pool.errors[3]) == "three"


def test_workers_run_concurrently():
    barrier = threading.Barrier(2, timeout=5)
    with WorkerPool(lambda _: barrier.wait(), workers=2) as pool:
        pool.submit("a", None)
        pool.submit("b", None)
    assert not pool.errors and len(pool.results) == 2


def test_closed_pool_refuses_work():
    pool = WorkerPool(str, workers=1)
    pool.close()
    with pytest.raises(RuntimeError):
        pool.submit(1, 1)
''')


STATS = ('''
"""Queue statistics and the text dashboard that shows them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class QueueStats:
    enqueued: int = 0
    processed: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)

    def record_enqueue(self, count: int = 1) -> None:
        self.enqueued += count

    def record_done(self, latency: float) -> None:
        self.processed += 1
        self.latencies.append(latency)

    def record_failure(self) -> None:
        self.failed += 1

    @property
    def backlog(self) -> int:
        return self.enqueued - self.processed - self.failed

    @property
    def failure_rate(self) -> float:
        finished = self.processed + self.failed
        return self.failed / finished if finished else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies (0 when there are none)."""
        if not 0 < p <= 100:
            raise ValueError("p must be in (0, 100]")
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[math.ceil(p / 100 * len(ordered)) - 1]

    def render(self) -> str:
        """A small text dashboard."""
        rows = [
            ("enqueued", str(self.enqueued)),
            ("processed", str(self.processed)),
            ("failed", f"{self.failed} ({self.failure_rate:.1%})"),
            ("backlog", str(self.backlog)),
            ("p50 latency", f"{self.percentile(50) * 1000:.1f} ms"),
            ("p99 latency", f"{self.percentile(99) * 1000:.1f} ms"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
''', '''
import pytest

from __PKG__.stats import QueueStats


def test_backlog_and_failure_rate():
    stats = QueueStats()
    stats.record_enqueue(10)
    for _ in range(6):
        stats.record_done(0.01)
    stats.record_failure()
    stats.record_failure()
    assert stats.backlog == 2
    assert stats.failure_rate == pytest.approx(0.25)


def test_nearest_rank_percentiles():
    stats = QueueStats()
    for ms in range(1, 101):
        stats.record_done(ms / 1000)
    assert stats.percentile(50) == 0.05
    assert stats.percentile(100) == 0.1


def test_dashboard_shows_every_figure():
    stats = QueueStats()
    stats.record_enqueue(3)
    stats.record_done(0.002)
    text = stats.render()
    assert "enqueued     3" in text
    assert "p50 latency  2.0 ms" in text
    assert len(text.splitlines()) == 6


def test_percentile_range_is_checked():
    with pytest.raises(ValueError):
        QueueStats().percentile(0)
''')
