"""One command type for signals, the CLI and the HTTP API.

Whoever receives a request (a signal handler, an HTTP handler, the CLI through HTTP or a
signal) only builds a ``Command`` and puts it on the session's queue; the session loop
does the work and, when the sender waits, answers through ``Command.reply``.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any


class CommandKind(enum.StrEnum):
    STATUS = "status"  # rewrite status.json, log a status line
    CHECKPOINT = "checkpoint"  # forced checkpoint
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"  # graceful stop: final checkpoint and report
    RELOAD = "reload"  # re-read the reloadable parts of the config


class CommandSource(enum.StrEnum):
    SIGNAL = "signal"
    CLI = "cli"
    HTTP = "http"
    SCHEDULER = "scheduler"
    INTERNAL = "internal"


@dataclass
class Command:
    kind: CommandKind
    source: CommandSource
    args: dict[str, Any] = field(default_factory=dict)
    # Set by senders that wait for the outcome (HTTP); the loop sets a JSON-able dict.
    reply: asyncio.Future[dict[str, Any]] | None = None

    def answer(self, result: dict[str, Any]) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(result)

    def fail(self, message: str) -> None:
        self.answer({"ok": False, "error": message})
