"""The signal table and the inbox that folds a storm of signals into few commands."""

from __future__ import annotations

import signal

import pytest

from supervisor.control.commands import Command, CommandKind, CommandSource
from supervisor.control.signals import SIGNALS, SignalInbox, exit_code_for, signal_args


@pytest.mark.parametrize(
    ("sig", "kind"),
    [(signal.SIGUSR1, CommandKind.STATUS), (signal.SIGUSR2, CommandKind.CHECKPOINT),
     (signal.SIGHUP, CommandKind.RELOAD), (signal.SIGTERM, CommandKind.STOP),
     (signal.SIGINT, CommandKind.STOP)],
)
def test_each_signal_asks_for_its_command(sig: signal.Signals, kind: CommandKind) -> None:
    """USR1 status, USR2 checkpoint, HUP reload, TERM and INT stop (DESIGN.md section 8)."""
    cmd = SignalInbox().command_for(sig)
    assert cmd is not None and cmd.kind == kind and cmd.source == CommandSource.SIGNAL
    assert cmd.args["signal"] == sig.name
    assert SIGNALS[sig] == kind


def test_stop_signals_carry_the_shell_exit_code() -> None:
    """SIGINT stops with 130 and SIGTERM with 143 (128 + the signal number)."""
    assert exit_code_for(signal.SIGINT) == 130
    assert exit_code_for(signal.SIGTERM) == 143
    assert signal_args(signal.SIGTERM)["exit_code"] == 143
    assert "exit_code" not in signal_args(signal.SIGUSR2)


def test_storm_leaves_one_pending_command_per_signal() -> None:
    """600 mixed signals before the loop gets to them give one command per signal."""
    inbox = SignalInbox()
    sigs = [signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP] * 200
    cmds = [c for c in (inbox.command_for(s) for s in sigs) if c is not None]
    assert sorted(c.kind for c in cmds) == sorted(
        [CommandKind.STATUS, CommandKind.CHECKPOINT, CommandKind.RELOAD])
    assert inbox.folded == 597
    assert inbox.stats()["received"] == {"SIGUSR1": 200, "SIGUSR2": 200, "SIGHUP": 200}


def test_a_signal_after_the_loop_took_its_command_asks_again() -> None:
    """Once the loop starts on a checkpoint, a new SIGUSR2 asks for another one."""
    inbox = SignalInbox()
    first = inbox.command_for(signal.SIGUSR2)
    assert first is not None
    assert inbox.command_for(signal.SIGUSR2) is None
    inbox.taken(first)
    again = inbox.command_for(signal.SIGUSR2)
    assert again is not None and again is not first


def test_commands_from_elsewhere_do_not_clear_a_pending_signal() -> None:
    """An HTTP checkpoint being handled leaves a waiting SIGUSR2 folded."""
    inbox = SignalInbox()
    assert inbox.command_for(signal.SIGUSR2) is not None
    inbox.taken(Command(CommandKind.CHECKPOINT, CommandSource.HTTP, {}))
    assert inbox.command_for(signal.SIGUSR2) is None
