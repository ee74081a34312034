"""Where a node's settings come from, the same for every role: defaults < TOML file <
environment < the command line (DESIGN.md, "Configuration").

Each role (CCN, CRN) declares its own pydantic-settings model on `NodeSettings`, with its own
`ALEPHNET_<ROLE>_` prefix; how the sources are layered is decided here once.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, Self

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
)

_CONFIG_FILE: ContextVar[Path | None] = ContextVar("node_config_file", default=None)
"""The TOML file `NodeSettings.load` reads, for the duration of that call only: pydantic-settings
builds the sources from the class, so the file cannot be passed to them as an argument."""


class NodeSettings(BaseSettings):
    """The base of a role's settings: `load` layers the file, the environment and overrides."""

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        """Settings from `config_file` (TOML), then the environment, then `overrides` (the
        command line's options, where `None` means "not given")."""
        values = {key: value for key, value in overrides.items() if value is not None}
        token = _CONFIG_FILE.set(config_file)
        try:
            return cls(**values)
        finally:
            _CONFIG_FILE.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """No `.env` file and no secrets directory: a node's settings are explicit."""
        config_file = _CONFIG_FILE.get()
        if config_file is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file))
