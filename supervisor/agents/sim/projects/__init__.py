"""Templates of the projects the simulated agents build, one module per project type.

Each project module has ``catalog() -> list[Unit]`` and ``VOTE_TOPICS``; only the
module of the session's project type is imported.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {
    "task_queue": "task_queue",
    "database": "database",
    "microservices": "microservices",
}


def load_project(project_type: str) -> ModuleType:
    """The template module of ``project_type`` (KeyError for an unknown type)."""
    return importlib.import_module(f"{__name__}.{MODULES[project_type]}")
