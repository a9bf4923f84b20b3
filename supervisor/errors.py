"""One exception tree for the whole package. Leaf module: imports nothing of ours.

Each error builds its own message from its fields, so the CLI can print ``str(err)``
and exit with the error's ``exit_code`` without knowing the details.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class SupervisorError(Exception):
    """Base of every error the supervisor raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input: where it is and what is wrong."""

    source: str  # file name (or "<command line>")
    key: str  # key path, e.g. "phases[2].duration_minutes"
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.message}"


class ConfigError(SupervisorError):
    """A config (file, preset or command-line override) has one or more problems."""

    exit_code = 2

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__(self._message())

    def _message(self) -> str:
        if len(self.problems) == 1:
            return f"invalid config: {self.problems[0]}"
        lines = [f"invalid config: {len(self.problems)} problems"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class UsageError(SupervisorError):
    """The command line asks for something that cannot be done (bad id, missing file...)."""

    exit_code = 2


class SessionError(SupervisorError):
    """A session directory is missing, already exists, or is in the wrong state."""

    exit_code = 2


class AgentError(SupervisorError):
    """An agent process could not be started or controlled."""

    def __init__(self, agent_id: str, message: str):
        self.agent_id = agent_id
        super().__init__(f"agent {agent_id}: {message}")


class CheckpointError(SupervisorError):
    """A checkpoint could not be written, read or applied."""

    exit_code = 3

    def __init__(self, path: str, message: str):
        self.path = path
        self.reason = message
        super().__init__(f"checkpoint {path}: {message}")


class CheckpointCorrupt(CheckpointError):
    """The file is truncated, fails its checksum, or its contents are malformed."""


class CheckpointVersionError(CheckpointError):
    """The file is of a format or schema version this supervisor cannot read."""


class CheckpointMismatch(CheckpointError):
    """A valid checkpoint that does not belong to this session or config (use --force)."""


class ControlError(SupervisorError):
    """A control command (signal, CLI verb, HTTP call) could not be carried out."""

    exit_code = 1
