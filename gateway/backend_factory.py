"""The backends of a policy file, built from their specs (with the secrets their specs name
read from the environment), keeping those a reload did not change."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.backends.base import Backend
from gateway.backends.fake import FakeBackend
from gateway.backends.http_pool import HTTPPool
from gateway.backends.llama_cpp import LlamaCppBackend
from gateway.backends.onnx_embedder import OnnxEmbedderBackend
from gateway.backends.openai_compat import OpenAICompatBackend
from gateway.model_files import ModelFileError
from gateway.settings.backend_types import (
    FakeBackendSpec,
    LlamaCppSpec,
    OnnxEmbedderSpec,
    OpenAIBackendSpec,
)
from gateway.settings.loader import ConfigError
from gateway.settings.schema import Settings


def discovers(settings: Settings, name: str) -> bool:
    spec = settings.backends.get(name)
    if isinstance(spec, LlamaCppSpec | OnnxEmbedderSpec):
        return True  # local models list themselves (and any `*.gguf` in a models_dir)
    return isinstance(spec, OpenAIBackendSpec) and spec.discover_models


def build_backends(
    settings: Settings,
    env: Mapping[str, str],
    pool: HTTPPool,
    keep: Mapping[str, Backend] | None = None,
) -> dict[str, Backend]:
    backends: dict[str, Backend] = {}
    problems: list[str] = []
    for name, spec in settings.backends.items():
        if keep and name in keep:
            backends[name] = keep[name]  # unchanged by a reload: keep it, state and all
        elif isinstance(spec, OpenAIBackendSpec):
            key = None
            if spec.api_key_env:
                key = env.get(spec.api_key_env)
                if not key:
                    problems.append(
                        f"$.backends.{name}.api_key_env: environment variable "
                        f"`{spec.api_key_env}` is not set"
                    )
            secret_headers: dict[str, str] = {}
            for header, variable in spec.headers_env.items():
                value = env.get(variable)
                if value:
                    secret_headers[header] = value
                else:
                    problems.append(
                        f"$.backends.{name}.headers_env.{header}: environment variable "
                        f"`{variable}` is not set"
                    )
            base = settings.defaults.timeouts
            timeouts = spec.timeouts.over(base) if spec.timeouts else base
            backends[name] = OpenAICompatBackend(
                name, spec, timeouts, pool, api_key=key, secret_headers=secret_headers
            )
        elif isinstance(spec, FakeBackendSpec):
            backends[name] = FakeBackend(name, spec)
        elif isinstance(spec, OnnxEmbedderSpec):
            backends[name] = OnnxEmbedderBackend(name, spec)
        elif isinstance(spec, LlamaCppSpec):
            try:
                backends[name] = LlamaCppBackend(name, spec)
            except ModelFileError as exc:
                problems.append(f"$.backends.{name}: {exc}")
    if problems:
        raise ConfigError("the environment", problems)
    return backends
