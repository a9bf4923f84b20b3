"""Signals of a session process: which command each one asks for, and the inbox that turns
a storm of them into a bounded number of commands.

| signal  | command    | notes                                                   |
| ------- | ---------- | ------------------------------------------------------- |
| SIGUSR1 | status     | rewrite status.json, log a status line (fast lane)      |
| SIGUSR2 | checkpoint | forced checkpoint                                       |
| SIGHUP  | reload     | re-read config.toml, apply the reloadable sections      |
| SIGTERM | stop       | graceful stop; the session exits 143 (128 + SIGTERM)    |
| SIGINT  | stop       | graceful stop (Ctrl+C); the session exits 130           |

Handlers run on the event loop (``loop.add_signal_handler``), never inside the interrupted
code, and they only build a ``Command``. A signal whose command is still waiting to be
carried out is folded into it (counted, not queued again), so hundreds of signals a second
leave at most one pending command per signal and never wedge the session.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supervisor.control.commands import Command, CommandKind, CommandSource

SIGNALS: dict[signal.Signals, CommandKind] = {
    signal.SIGUSR1: CommandKind.STATUS,
    signal.SIGUSR2: CommandKind.CHECKPOINT,
    signal.SIGHUP: CommandKind.RELOAD,
    signal.SIGTERM: CommandKind.STOP,
    signal.SIGINT: CommandKind.STOP,
}


def exit_code_for(sig: signal.Signals) -> int:
    """The exit code of a session stopped by ``sig``: 128 + its number, as shells report
    a process ended by that signal (SIGINT 130, SIGTERM 143)."""
    return 128 + int(sig)


def signal_args(sig: signal.Signals) -> dict[str, Any]:
    name = sig.name
    args: dict[str, Any] = {"signal": name, "reason": name}
    if SIGNALS[sig] == CommandKind.STOP:
        args["exit_code"] = exit_code_for(sig)
    return args


@dataclass
class SignalInbox:
    """Signals in, commands out; at most one pending command per signal."""

    pending: set[signal.Signals] = field(default_factory=set)
    received: dict[str, int] = field(default_factory=dict)
    folded: int = 0

    def command_for(self, sig: signal.Signals) -> Command | None:
        """The command to queue for ``sig``; None when one for it is already waiting."""
        self.received[sig.name] = self.received.get(sig.name, 0) + 1
        if sig in self.pending:
            self.folded += 1
            return None
        self.pending.add(sig)
        return Command(SIGNALS[sig], CommandSource.SIGNAL, signal_args(sig))

    def taken(self, cmd: Command) -> None:
        """The loop starts on ``cmd``: a signal from now on asks for a new command."""
        name = cmd.args.get("signal")
        if cmd.source == CommandSource.SIGNAL and isinstance(name, str):
            try:
                self.pending.discard(signal.Signals[name])
            except KeyError:
                pass

    def stats(self) -> dict[str, Any]:
        return {"received": dict(self.received), "folded": self.folded}


def install(loop: Any, on_signal: Callable[[signal.Signals], None]) -> list[signal.Signals]:
    """Route every signal of the table to ``on_signal(sig)`` on ``loop``."""
    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    return list(SIGNALS)


def uninstall(loop: Any) -> None:
    for sig in SIGNALS:
        try:
            loop.remove_signal_handler(sig)
        except (ValueError, RuntimeError):
            pass


QUIET_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)


def ignore_quiet_signals() -> None:
    """Make SIGUSR1/USR2/HUP harmless to this process outside the session loop.

    Their default action is to kill the process. A supervisor announces its pid (the
    pidfile) before its loop installs the handlers, and keeps it until the process ends,
    so ``supervisor status`` (SIGUSR1) at the wrong moment would kill the session. Called
    before the pidfile is written and after the handlers are removed. Main thread only
    (elsewhere it does nothing).
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for sig in QUIET_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
