"""structlog set-up: JSON lines to ``session.log``; context (session, phase, agent) via
contextvars so every line carries them without passing loggers around."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import IO, Any, TextIO, cast

import structlog

LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

_log_file: IO[str] | None = None


def configure(log_path: Path | None, level: str = "info", stream: IO[str] | None = None) -> None:
    """Send structlog output as JSON lines to ``log_path`` (append), or to ``stream``."""
    global _log_file
    close()
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        _log_file = open(log_path, "a", encoding="utf-8", buffering=1)  # line-buffered
        out: IO[str] = _SafeWriter(_log_file)  # type: ignore[assignment]
    else:
        out = stream or sys.stderr
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, out)),
        cache_logger_on_first_use=False,
    )
    # Libraries (APScheduler, aiohttp) log through the standard library: into session.log
    # too, not onto the user's console. APScheduler warns for every skipped (coalesced) run
    # of a fast job; under load that is normal, not news.
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _ToStructlog):
            root.removeHandler(h)
    root.addHandler(_ToStructlog())
    root.setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


class _SafeWriter:
    """A log file that never raises: with the disk full (ENOSPC) or the file gone, a log
    line is lost, not the session. Counts what it lost."""

    def __init__(self, fh: IO[str]):
        self.fh = fh
        self.lost = 0

    def write(self, text: str) -> int:
        try:
            return self.fh.write(text)
        except (OSError, ValueError):
            self.lost += 1
            return 0

    def flush(self) -> None:
        try:
            self.fh.flush()
        except (OSError, ValueError):
            self.lost += 1


class _ToStructlog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            log = structlog.get_logger(record.name)
            msg = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                import traceback

                msg += "\n" + "".join(traceback.format_exception(*record.exc_info))
            log.log(record.levelno, "library", logger=record.name, message=msg)
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


def close() -> None:
    global _log_file
    if _log_file is not None:
        try:
            _log_file.close()
        finally:
            _log_file = None


def bind(**context: Any) -> None:
    """Add keys (session_id, phase, ...) to every following log line of this context."""
    structlog.contextvars.bind_contextvars(**context)


def clear() -> None:
    structlog.contextvars.clear_contextvars()


def get(name: str = "supervisor") -> Any:
    return structlog.get_logger(name)
