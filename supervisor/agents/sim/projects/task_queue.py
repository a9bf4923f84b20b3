"""Project type ``task_queue``: RedQueue, a Redis-compatible task queue (package redqueue)."""

from __future__ import annotations

from . import family_codecs, family_hardening, family_resilience, family_widgets, redis_commands
from .builder import code_unit, suite_unit
from .roles import ProjectInfo, role_units, scaffold
from .task_queue_jobs import JOBQUEUE, STATS, WORKERS
from .task_queue_protocol import KEYSPACE, RESP
from .units import Unit

PKG = "redqueue"
INFO = ProjectInfo(
    pkg=PKG,
    name="RedQueue",
    description="a Redis-compatible task queue with priorities, retries and a worker pool.",
    components=(
        ("resp", "RESP2 encoder and incremental parser"),
        ("jobqueue", "priority job queue with ack, retry and dead letters"),
        ("workers", "thread pool running job handlers"),
        ("keyspace", "in-memory keyspace with expiry"),
        ("stats", "queue statistics and the text dashboard"),
        ("dispatcher", "routes requests to command handlers"),
        ("server", "RESP requests in, replies out"),
        ("delayed", "jobs scheduled for later"),
        ("commands", "one module per Redis command"),
        ("backoff", "retry backoff strategies"),
        ("ratelimit", "rate limiters"),
    ),
    decisions=(
        ("speak-resp2", "Speak RESP2 on the wire",
         "Clients talk RESP2 so any Redis client library works unchanged."),
        ("threads-for-workers", "Run handlers on threads",
         "Job handlers are blocking functions; a thread pool runs them without an event loop."),
    ),
)
VOTE_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("design.serialization", ("resp", "json")),
    ("design.concurrency", ("threads", "asyncio")),
    ("design.persistence", ("append-only-log", "snapshots")),
    ("release.version", ("0.1.0", "1.0.0")),
)

DISPATCHER = ('''
"""Routes requests (command name first) to command handlers; failures become error replies."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[dict, list[bytes]], Any]


@dataclass(frozen=True)
class ErrorReply:
    message: str


class Dispatcher:
    def __init__(self, db: dict | None = None):
        self.db: dict = {} if db is None else db
        self.handlers: dict[str, Handler] = {}

    def register(self, name: str, handler: Handler) -> None:
        self.handlers[name.upper()] = handler

    def discover(self, package: str = "__PKG__.commands") -> int:
        """Register every module of ``package`` that has NAME and handle; how many."""
        try:
            pkg = importlib.import_module(package)
        except ModuleNotFoundError:
            return 0
        found = 0
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{package}.{info.name}")
            if hasattr(module, "NAME") and callable(getattr(module, "handle", None)):
                self.register(module.NAME, module.handle)
                found += 1
        return found

    def dispatch(self, request: list[bytes]) -> Any:
        """The reply to one request, or an ErrorReply."""
        if not request:
            return ErrorReply("ERR empty request")
        name = request[0].decode("utf-8", "replace").upper()
        handler = self.handlers.get(name)
        if handler is None:
            return ErrorReply(f"ERR unknown command '{name}'")
        try:
            return handler(self.db, list(request[1:]))
        except ValueError as exc:
            return ErrorReply(str(exc))
''', '''
from __PKG__.dispatcher import Dispatcher, ErrorReply


def _echo(db, args):
    return args[0]


def test_dispatches_case_insensitively():
    d = Dispatcher()
    d.register("echo", _echo)
    assert d.dispatch([b"EcHo", b"hi"]) == b"hi"


def test_unknown_and_empty_requests():
    d = Dispatcher()
    assert d.dispatch([b"NOPE"]) == ErrorReply("ERR unknown command 'NOPE'")
    assert d.dispatch([]) == ErrorReply("ERR empty request")


def test_handler_errors_become_replies():
    def fail(db, args):
        raise ValueError("WRONGTYPE nope")

    d = Dispatcher()
    d.register("FAIL", fail)
    assert d.dispatch([b"FAIL"]) == ErrorReply("WRONGTYPE nope")


def test_handlers_share_the_keyspace():
    d = Dispatcher()
    d.register("PUT", lambda db, args: db.update({args[0]: args[1]}))
    d.dispatch([b"PUT", b"k", b"v"])
    assert d.db == {b"k": b"v"}


def test_discover_registers_command_modules():
    d = Dispatcher()
    found = d.discover()
    assert found == len(d.handlers)
    assert all(name.isupper() for name in d.handlers)
    assert Dispatcher().discover("__PKG__.no_such_package") == 0
''')

SERVER = ('''
"""A client connection: RESP request bytes in, RESP reply bytes out."""

from __future__ import annotations

from __PKG__.dispatcher import Dispatcher, ErrorReply
from __PKG__.resp import Error, Parser, encode


class Connection:
    def __init__(self, dispatcher: Dispatcher):
        self.dispatcher = dispatcher
        self.parser = Parser()

    def receive(self, data: bytes) -> bytes:
        """Replies to every request completed by ``data`` (possibly none yet)."""
        out = []
        for request in self.parser.feed(data):
            if not isinstance(request, list) or not all(isinstance(a, bytes) for a in request):
                out.append(encode(Error("ERR protocol error: expected an array of bulk strings")))
                continue
            reply = self.dispatcher.dispatch(request)
            out.append(encode(Error(reply.message) if isinstance(reply, ErrorReply) else reply))
        return b"".join(out)
''', '''
from __PKG__.dispatcher import Dispatcher
from __PKG__.resp import encode
from __PKG__.server import Connection


def _connection():
    d = Dispatcher()
    d.register("ECHO", lambda db, args: args[0])
    return Connection(d)


def test_request_reply():
    assert _connection().receive(encode([b"ECHO", b"hi"])) == b"$2\\r\\nhi\\r\\n"


def test_requests_split_across_reads():
    conn = _connection()
    wire = encode([b"ECHO", b"a"]) + encode([b"ECHO", b"b"])
    assert conn.receive(wire[:5]) == b""
    assert conn.receive(wire[5:]) == b"$1\\r\\na\\r\\n$1\\r\\nb\\r\\n"


def test_errors_are_error_replies():
    conn = _connection()
    assert conn.receive(encode([b"NOPE"])) == b"-ERR unknown command 'NOPE'\\r\\n"
    assert conn.receive(encode(5)).startswith(b"-ERR protocol error")
''')

DELAYED = ('''
"""Jobs scheduled to run at a later time."""

from __future__ import annotations

import heapq
import itertools
from typing import Any


class DelayedJobs:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, payload: Any, run_at: float) -> None:
        heapq.heappush(self._heap, (run_at, next(self._order), payload))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[Any]:
        """Payloads due at or before ``now``, earliest first (ties in scheduling order)."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        return due
''', '''
from __PKG__.delayed import DelayedJobs


def test_due_jobs_come_out_in_time_order():
    jobs = DelayedJobs()
    jobs.schedule("c", 30)
    jobs.schedule("a", 10)
    jobs.schedule("b", 10)
    assert jobs.next_due() == 10
    assert jobs.pop_due(now=15) == ["a", "b"]
    assert jobs.pop_due(now=29) == []
    assert jobs.pop_due(now=30) == ["c"] and len(jobs) == 0
''')

INTERFACES = ('''
"""The contracts between RedQueue components, as structural types."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Queue(Protocol):
    def put(self, payload: bytes, priority: int = 0) -> int: ...

    def reserve(self, now: float) -> Any: ...

    def ack(self, job_id: int) -> None: ...

    def nack(self, job_id: int) -> bool: ...


@runtime_checkable
class RateLimiter(Protocol):
    def allow(self, now: float) -> bool: ...


@runtime_checkable
class Dashboard(Protocol):
    def render(self) -> str: ...
''', '''
from __PKG__.interfaces import Dashboard, Queue, RateLimiter


class _ListQueue:
    def __init__(self):
        self.items = []

    def put(self, payload, priority=0):
        self.items.append(payload)
        return len(self.items)

    def reserve(self, now):
        return self.items.pop(0) if self.items else None

    def ack(self, job_id):
        return None

    def nack(self, job_id):
        return False


def test_structural_queue():
    assert isinstance(_ListQueue(), Queue)
    assert not isinstance(object(), Queue)


def test_limiter_and_dashboard_shapes():
    class Always:
        def allow(self, now):
            return True

    assert isinstance(Always(), RateLimiter)
    assert not isinstance(Always(), Dashboard)
''')

PROPERTIES_RESP = '''
import random

from __PKG__.resp import Parser, encode, parse


def _value(rng, depth=0):
    kind = rng.randrange(4 if depth < 3 else 3)
    if kind == 0:
        return rng.randint(-10**6, 10**6)
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
    if kind == 2:
        return None
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_encode_parse_round_trip():
    rng = random.Random(1)
    for _ in range(300):
        value = _value(rng)
        wire = encode(value)
        assert parse(wire) == (value, len(wire))


def test_any_split_of_the_stream_parses_the_same():
    rng = random.Random(2)
    values = [_value(rng) for _ in range(40)]
    wire = b"".join(encode(v) for v in values)
    parser, got, pos = Parser(), [], 0
    while pos < len(wire):
        step = rng.randint(1, 9)
        got += parser.feed(wire[pos : pos + step])
        pos += step
    assert got == values
'''

PROPERTIES_QUEUE = '''
import random

from __PKG__.jobqueue import JobQueue


def test_every_job_is_acked_or_dead_lettered():
    rng = random.Random(3)
    q = JobQueue(visibility_timeout=5, max_attempts=3)
    ids = {q.put(b"job", priority=rng.randint(0, 3)) for _ in range(200)}
    acked, now = set(), 0.0
    while len(acked) + len(q.dead) < len(ids):
        now += 1
        job = q.reserve(now)
        if job is None:
            continue
        roll = rng.random()
        if roll < 0.6:
            q.ack(job.id)
            acked.add(job.id)
        elif roll < 0.9:
            q.nack(job.id)
    assert acked | {j.id for j in q.dead} == ids
    assert all(j.attempts == 3 for j in q.dead)


def test_reserve_never_returns_lower_priority_first():
    rng = random.Random(4)
    q = JobQueue()
    for _ in range(100):
        q.put(b"x", priority=rng.randint(0, 9))
    priorities = [q.reserve(0).priority for _ in range(100)]
    assert priorities == sorted(priorities, reverse=True)
'''


def catalog() -> list[Unit]:
    units = [scaffold(INFO)]
    for name, (source, test) in (("resp", RESP), ("jobqueue", JOBQUEUE), ("workers", WORKERS),
                                 ("keyspace", KEYSPACE), ("stats", STATS)):
        units.append(code_unit(PKG, f"core.{name}", name, source, test, stage=0,
                               summary=f"redqueue.{name}: {dict(INFO.components)[name]}"))
    units.append(code_unit(PKG, "core.interfaces", "interfaces", *INTERFACES, stage=0,
                           owner="Architect", title="define the component interfaces",
                           summary="interfaces: Queue, RateLimiter, Dashboard protocols"))
    units.append(code_unit(PKG, "core.dispatcher", "dispatcher", *DISPATCHER, stage=1,
                           summary="dispatcher routes [name, *args] to handle(db, args)"))
    units.append(code_unit(PKG, "core.delayed", "delayed", *DELAYED, stage=1,
                           summary="delayed: jobs scheduled for later, popped when due"))
    units.append(code_unit(PKG, "core.server", "server", *SERVER, stage=2,
                           deps=("resp", "dispatcher"), summary="server.Connection: RESP in, out"))
    units += redis_commands.units(PKG)
    units += family_resilience.units(PKG)
    units += family_codecs.units(PKG)
    units += family_widgets.units(PKG)
    units += family_hardening.units(PKG)
    units.append(suite_unit(PKG, "test.properties.resp", "properties_resp", PROPERTIES_RESP,
                            stage=1, owner="Tester", deps=("resp",),
                            title="property-test the RESP codec"))
    units.append(suite_unit(PKG, "test.properties.jobqueue", "properties_jobqueue",
                            PROPERTIES_QUEUE, stage=2, owner="Tester", deps=("jobqueue",),
                            title="property-test the job queue"))
    units += role_units(INFO)
    return units
