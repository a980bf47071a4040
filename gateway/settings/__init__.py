"""The policy file: typed schema, loader with env overrides, the embedded default."""

from gateway.settings.backend_types import BackendSpec, FakeBackendSpec, OpenAIBackendSpec
from gateway.settings.loader import ConfigError, load_settings, parse_settings
from gateway.settings.schema import ModelRoute, Retries, Server, Settings
from gateway.settings.upstream_types import Timeouts

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
