"""The backends of a policy file, built from their specs (with the secrets their specs name
read from the environment), keeping those a reload did not change.

Each `type:` is one `BackendType` (`gateway.backends.registry`): the built-in ones are
listed here; `type: plugin` entries (what the loader makes of a type an installed
package registers) are looked up among the `switchyard.backends` entry points.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from gateway.backends.anthropic_native import BACKEND_TYPE as ANTHROPIC
from gateway.backends.base import Backend
from gateway.backends.fake import FakeBackend
from gateway.backends.gemini_native import BACKEND_TYPE as GEMINI
from gateway.backends.http_pool import HTTPPool
from gateway.backends.llama_cpp import LlamaCppBackend
from gateway.backends.onnx_embedder import OnnxEmbedderBackend
from gateway.backends.openai_compat import OpenAICompatBackend
from gateway.backends.registry import BackendType, BuildContext
from gateway.model_files import ModelFileError
from gateway.settings.anthropic_types import AnthropicBackendSpec
from gateway.settings.backend_types import (
    FakeBackendSpec,
    LlamaCppSpec,
    OnnxEmbedderSpec,
    OpenAIBackendSpec,
    PluginBackendSpec,
)
from gateway.settings.gemini_types import GeminiBackendSpec
from gateway.settings.loader import ConfigError
from gateway.settings.plugins import PluginError, load_plugin
from gateway.settings.schema import Settings


def _openai(spec: OpenAIBackendSpec, ctx: BuildContext) -> Backend:
    key = ctx.secret(spec.api_key_env, "api_key_env")
    secret_headers = ctx.secret_headers(spec.headers_env)
    return OpenAICompatBackend(
        ctx.name,
        spec,
        ctx.timeouts(spec.timeouts),
        ctx.pool,
        api_key=key,
        secret_headers=secret_headers,
    )


def _llama_cpp(spec: LlamaCppSpec, ctx: BuildContext) -> Backend | None:
    try:
        return LlamaCppBackend(ctx.name, spec)
    except ModelFileError as exc:
        ctx.problems.append(f"$.backends.{ctx.name}: {exc}")
        return None


def _always(_spec: Any) -> bool:
    return True  # local models list themselves (and any `*.gguf` in a models_dir)


BUILT_IN: dict[type[Any], BackendType] = {
    OpenAIBackendSpec: BackendType(
        OpenAIBackendSpec, _openai, lambda spec: bool(spec.discover_models)
    ),
    FakeBackendSpec: BackendType(FakeBackendSpec, lambda spec, ctx: FakeBackend(ctx.name, spec)),
    AnthropicBackendSpec: ANTHROPIC,
    GeminiBackendSpec: GEMINI,
    LlamaCppSpec: BackendType(LlamaCppSpec, _llama_cpp, _always),
    OnnxEmbedderSpec: BackendType(
        OnnxEmbedderSpec, lambda spec, ctx: OnnxEmbedderBackend(ctx.name, spec), _always
    ),
}


def _resolve(spec: Any, where: str) -> tuple[BackendType, Any]:
    """The type that builds `spec` and the spec it builds from (a plugin's own Struct)."""
    if not isinstance(spec, PluginBackendSpec):
        return BUILT_IN[type(spec)], spec
    try:
        plugin = load_plugin(spec.plugin)
    except PluginError as exc:
        raise ConfigError("the installed plugins", [f"{where}.type: {exc}"]) from None
    if plugin is None:
        raise ConfigError(
            "the installed plugins",
            [f"{where}.type: no installed package provides backend type `{spec.plugin}`"],
        )
    try:
        own = msgspec.convert(spec.config, plugin.spec)
    except msgspec.ValidationError as exc:  # checked at load too; here for decoded JSON
        raise ConfigError("the installed plugins", [f"{where}: {exc}"]) from None
    return plugin, own


def discovers(settings: Settings, name: str) -> bool:
    spec = settings.backends.get(name)
    if spec is None:
        return False
    kind, own = _resolve(spec, f"$.backends.{name}")
    return kind.discovers(own)


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
            continue
        kind, own = _resolve(spec, f"$.backends.{name}")
        ctx = BuildContext(name, env, pool, settings.defaults.timeouts, problems)
        backend = kind.build(own, ctx)
        if backend is not None:
            backends[name] = backend
    if problems:
        raise ConfigError("the environment", problems)
    return backends
