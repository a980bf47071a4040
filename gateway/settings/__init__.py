"""The policy file: typed schema, loader with env overrides, the embedded default."""

from gateway.settings.loader import ConfigError, load_settings, parse_settings
from gateway.settings.schema import (
    BackendSpec,
    FakeBackendSpec,
    ModelRoute,
    OpenAIBackendSpec,
    Retries,
    Server,
    Settings,
    Timeouts,
)

__all__ = [
    "BackendSpec",
    "ConfigError",
    "FakeBackendSpec",
    "ModelRoute",
    "OpenAIBackendSpec",
    "Retries",
    "Server",
    "Settings",
    "Timeouts",
    "load_settings",
    "parse_settings",
]
