"""The session config: TOML files -> frozen dataclasses (``schema.py``), and back.

``load_config`` stacks built-in defaults < project preset < config file < environment
(``CHECKPOINT_INTERVAL``) < command line (``Overrides``) and raises one ``ConfigError``
naming every problem's file, line and key path.
"""

from __future__ import annotations

from supervisor.config.loader import (
    Overrides,
    config_from_dict,
    configs_dir,
    default_config_path,
    load_config,
)
from supervisor.config.schema import Config
from supervisor.config.serialize import config_hash, config_to_dict, config_to_toml

__all__ = [
    "Config",
    "Overrides",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "config_to_toml",
    "configs_dir",
    "default_config_path",
    "load_config",
]
