"""Classification, pure: an error event, a stderr line, an exit or a monitor reading in,
a ``Failure`` (failure type, severity, where it came from) out. DESIGN.md section 7.

Sources, in the order they are asked:
- the ``error`` event's ``kind`` when it names a failure type or a known alias;
- the ``[[error_handling.rules]]`` regexes over the message (with
  ``classification = "manual"`` the rules come before the kind);
- keyword heuristics over the message (timed out, 429, ENOSPC, MemoryError, JSON ...);
- ``unknown``, which has its own row in the recovery table.
A failure with ``source="exit"`` means the agent process is gone: the runner relaunches it
before carrying out the action.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from supervisor.config.schema import (
    ACTION_ALIASES,
    ACTIONS,
    DEFAULT_RECOVERY,
    FAILURE_TYPES,
    ErrorHandlingSpec,
    ErrorRuleSpec,
    RecoverySpec,
)
from supervisor.errors import ConfigError, Problem

Source = Literal["event", "rule", "stderr", "exit", "monitor", "internal"]

DEFAULT_TABLE = DEFAULT_RECOVERY  # the DESIGN.md section 7 table, from the config schema

# error event kinds (normalised: lower case, '-' and ' ' as '_') -> failure type
KIND_ALIASES: dict[str, str] = {
    **{k: "network_timeout" for k in (
        "timeout", "timed_out", "network", "network_error", "connection_error",
        "connection_reset", "read_timeout", "connect_timeout")},
    **{k: "rate_limit" for k in (
        "rate_limited", "ratelimit", "rate_limit_exceeded", "429", "too_many_requests",
        "throttled")},
    **{k: "llm_error" for k in (
        "llm", "model_error", "api_error", "overloaded", "server_error", "provider_error")},
    **{k: "parse_failure" for k in (
        "parse", "parse_error", "json", "json_error", "invalid_json", "malformed_response")},
    **{k: "test_failure" for k in ("test", "tests_failed", "test_failed")},
    **{k: "memory_pressure" for k in (
        "oom", "memory", "out_of_memory", "memory_error", "memoryerror", "context_overflow",
        "context_length_exceeded")},
    **{k: "disk_full" for k in ("enospc", "disk", "no_space", "disk_quota_exceeded")},
    **{k: "consensus_deadlock" for k in ("deadlock", "consensus", "vote_timeout")},
    **{k: "agent_hang" for k in ("hang", "hung", "idle", "stuck")},
    **{k: "agent_crash" for k in ("crash", "crashed", "segfault", "panic")},
    **{k: "data_corruption" for k in ("corruption", "corrupt", "checksum", "checksum_mismatch")},
}

_I = re.IGNORECASE
_DISK = re.compile(r"no space left|\benospc\b|disk (is )?full|disk quota exceeded|\bedquot\b", _I)
_MEMORY = re.compile(
    r"\bmemoryerror\b|out of memory|\boom\b|cannot allocate memory|\benomem\b"
    r"|context (length|window|size)\b.*\b(exceed|too (long|large))",
    _I,
)
_CORRUPT = re.compile(r"\bcorrupt(ed|ion)?\b|checksum mismatch|disk image is malformed", _I)
_KILLED_LINE = re.compile(r"^\s*(killed|.*\boom[- ]?kill(ed|er)?\b.*)\s*$", _I)

# Keyword heuristics over a message, in order: the first match decides.
HEURISTICS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_DISK, "disk_full"),
    (_MEMORY, "memory_pressure"),
    (_CORRUPT, "data_corruption"),
    (re.compile(r"\b429\b|rate.?limit|too many requests", _I), "rate_limit"),
    (re.compile(r"timed? ?out|deadline exceeded|connection (reset|refused|aborted)", _I),
     "network_timeout"),
    (re.compile(r"overloaded|internal server error|bad gateway|service unavailable"
                r"|\b50[0234]\b|\bapi error\b", _I), "llm_error"),
    (re.compile(r"json|pars(e|ing|er)\b|unexpected token|malformed", _I), "parse_failure"),
    (re.compile(r"deadlock|no consensus", _I), "consensus_deadlock"),
    (re.compile(r"\btests? failed\b|\bfailing tests?\b", _I), "test_failure"),
)

# Strong stderr signatures: a line matching one is a failure by itself.
_MEMORY_STRONG = re.compile(
    r"\bmemoryerror\b|cannot allocate memory|\benomem\b|out of memory", _I
)
STDERR_SIGNATURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_DISK, "disk_full"),
    (_MEMORY_STRONG, "memory_pressure"),
    (_KILLED_LINE, "memory_pressure"),
    (re.compile(r"disk image is malformed|checksum mismatch", _I), "data_corruption"),
)

# Signs in a killed agent's stderr that the kernel's OOM killer did it.
_OOM_SIGNS = re.compile(
    r"^\s*killed\s*$|\boom\b|out of memory|\bmemoryerror\b|cannot allocate memory", _I | re.M
)
_SIGKILL = int(signal.SIGKILL)
_SIGNALS = frozenset(int(s) for s in signal.Signals)


def normalize_action(name: str) -> str | None:
    """The ACTIONS name for ``name`` (itself or an alias), or None when it is unknown."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in ACTIONS:
        return key
    return ACTION_ALIASES.get(key)


def kind_to_failure(kind: str) -> str | None:
    """The failure type an ``error`` event's kind names, or None."""
    key = kind.strip().lower().replace("-", "_").replace(" ", "_")
    if key in FAILURE_TYPES and key != "unknown":
        return key
    return KIND_ALIASES.get(key)


def guess_failure(text: str) -> str | None:
    """The failure type keyword heuristics read in ``text``, or None."""
    for pattern, failure_type in HEURISTICS:
        if pattern.search(text):
            return failure_type
    return None


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass(frozen=True)
class Failure:
    type: str  # one of FAILURE_TYPES
    severity: str  # one of SEVERITIES
    source: Source
    message: str
    agent_id: str | None = None
    action: str | None = None  # set when a matching error_handling rule dictates it


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    spec: ErrorRuleSpec
    action: str


class Classifier:
    """Turns what the supervisor sees into ``Failure``s; rules are compiled once."""

    def __init__(self, error_handling: ErrorHandlingSpec, recovery: RecoverySpec,
                 source: str = "<config>"):
        self.manual = error_handling.classification == "manual"
        self._recovery = recovery
        self._rules = tuple(_compile_rules(error_handling.rules, source))

    # -- building blocks -------------------------------------------------------------

    def severity(self, failure_type: str) -> str:
        """The severity of a failure type: the recovery table's row, else the default."""
        rule = self._recovery.rule(failure_type)
        if rule is not None:
            return rule.severity
        return DEFAULT_TABLE.get(failure_type, DEFAULT_TABLE["unknown"])[0]

    def make(self, failure_type: str, source: Source, message: str,
             agent_id: str | None = None) -> Failure:
        """A failure of a known type, its severity taken from the table."""
        if failure_type not in FAILURE_TYPES:
            failure_type = "unknown"
        return Failure(failure_type, self.severity(failure_type), source, message, agent_id)

    def match_rules(self, agent_id: str | None, text: str,
                    hint: str | None = None) -> Failure | None:
        """The first ``[[error_handling.rules]]`` entry matching ``text``, as a Failure."""
        for rule in self._rules:
            if rule.pattern.search(text):
                failure_type = rule.spec.failure or hint or guess_failure(text) or "unknown"
                return Failure(failure_type, rule.spec.severity, "rule", text.strip(),
                               agent_id, rule.action)
        return None

    # -- sources ---------------------------------------------------------------------

    def from_error_event(self, agent_id: str | None, kind: str, message: str,
                         fatal: bool = False) -> Failure:
        """Classify an ``error`` event (kind, then rules, then heuristics; manual: rules first)."""
        text = f"{kind}: {message}" if message else kind
        by_kind = kind_to_failure(kind)
        failure: Failure | None = None
        if self.manual:
            failure = self.match_rules(agent_id, text, by_kind)
        if failure is None and by_kind is not None:
            failure = self.make(by_kind, "event", message or kind, agent_id)
        if failure is None and not self.manual:
            failure = self.match_rules(agent_id, text)
        if failure is None:
            guessed = guess_failure(text) or "unknown"
            if guessed == "unknown" and fatal:
                guessed = "agent_crash"
            failure = self.make(guessed, "event", message or kind, agent_id)
        if fatal and failure.source != "rule" and failure.severity != "fatal":
            failure = Failure(failure.type, "fatal", failure.source, failure.message,
                              agent_id, failure.action)
        return failure

    def from_stderr(self, agent_id: str | None, line: str) -> Failure | None:
        """A stderr line matching a rule or a strong signature (a Traceback alone is not)."""
        failure = self.match_rules(agent_id, line)
        if failure is not None:
            return failure
        for pattern, failure_type in STDERR_SIGNATURES:
            if pattern.search(line):
                return self.make(failure_type, "stderr", line.strip(), agent_id)
        return None

    def from_exit(self, agent_id: str | None, returncode: int, stderr_tail: Sequence[str],
                  expected: bool) -> Failure | None:
        """An agent exit: None when clean or asked for; OOM kills are memory pressure."""
        if expected or returncode == 0:
            return None
        tail = "\n".join(stderr_tail)
        last = next((s.strip() for s in reversed(stderr_tail) if s.strip()), "")
        signum = -returncode if returncode < 0 else 0
        if returncode > 128 and (returncode - 128) in _SIGNALS:
            signum = returncode - 128
        if signum:
            what = f"killed by {signal_name(signum)}"
            if returncode > 0:
                what += f" (exit {returncode})"
        else:
            what = f"exit {returncode}"
        message = f"{what}: {last}" if last else what
        if signum == _SIGKILL and _OOM_SIGNS.search(tail):
            return self.make("memory_pressure", "exit", message, agent_id)
        if _MEMORY_STRONG.search(tail):
            return self.make("memory_pressure", "exit", message, agent_id)
        if _DISK.search(tail):
            return self.make("disk_full", "exit", message, agent_id)
        return self.make("agent_crash", "exit", message, agent_id)

    # -- monitors --------------------------------------------------------------------

    def idle(self, agent_id: str, idle_seconds: float, limit: float) -> Failure | None:
        """An agent idle past the limit (strictly more) hangs."""
        if idle_seconds <= limit:
            return None
        return self.make("agent_hang", "monitor",
                         f"idle {idle_seconds:.0f}s > limit {limit:.0f}s", agent_id)

    def memory(self, agent_id: str, rss_bytes: int, limit_bytes: int) -> Failure | None:
        """An agent whose RSS is over the limit is under memory pressure."""
        if rss_bytes <= limit_bytes:
            return None
        return self.make("memory_pressure", "monitor",
                         f"rss {_mib(rss_bytes)} > limit {_mib(limit_bytes)}", agent_id)

    def disk(self, used_bytes: int, limit_bytes: int, free_bytes: int | None = None,
             min_free_bytes: int = 0) -> Failure | None:
        """The session directory over its limit, or the device out of space, is disk_full."""
        if used_bytes > limit_bytes:
            return self.make("disk_full", "monitor",
                             f"session dir {_mib(used_bytes)} > limit {_mib(limit_bytes)}")
        if free_bytes is not None and free_bytes <= min_free_bytes:
            return self.make("disk_full", "monitor",
                             f"ENOSPC: {_mib(max(free_bytes, 0))} free on the device")
        return None

    def consensus(self, open_votes: Mapping[str, float], now: float,
                  vote_timeout: float) -> Failure | None:
        """Votes open (topic -> opened at) without consensus past the timeout: a deadlock."""
        stale = sorted(t for t, opened in open_votes.items() if now - opened > vote_timeout)
        if not stale:
            return None
        oldest = max(now - open_votes[t] for t in stale)
        return self.make("consensus_deadlock", "monitor",
                         f"no consensus on {', '.join(stale)} for {oldest:.0f}s "
                         f"(vote_timeout {vote_timeout:.0f}s)")


def _compile_rules(rules: Iterable[ErrorRuleSpec], source: str) -> list[_Rule]:
    compiled: list[_Rule] = []
    problems: list[Problem] = []
    for i, spec in enumerate(rules):
        key = f"error_handling.rules[{i}]"
        try:
            pattern = re.compile(spec.pattern, re.IGNORECASE)
        except re.error as err:
            problems.append(Problem(source, f"{key}.pattern",
                                    f"bad regular expression {spec.pattern!r}: {err}"))
            continue
        action = normalize_action(spec.action)
        if action is None:
            problems.append(Problem(source, f"{key}.action",
                                    f"unknown action {spec.action!r}; expected one of "
                                    f"{', '.join(ACTIONS)}"))
            continue
        if spec.failure and spec.failure not in FAILURE_TYPES:
            problems.append(Problem(source, f"{key}.failure",
                                    f"unknown failure type {spec.failure!r}"))
            continue
        compiled.append(_Rule(pattern, spec, action))
    if problems:
        raise ConfigError(problems)
    return compiled


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
