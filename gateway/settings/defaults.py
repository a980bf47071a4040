"""The embedded default used when `gateway serve` is given no policy file.

Until the local llama.cpp model lands, it proxies to the OpenAI-compatible upstream named by
`GATEWAY_UPSTREAM_URL` (key read from the variable named by `GATEWAY_UPSTREAM_KEY_ENV`,
default `GATEWAY_UPSTREAM_API_KEY`), serving every model that upstream lists; with no upstream
named it serves the scripted demo model `echo`, so a fresh machine still answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UPSTREAM_URL_ENV = "GATEWAY_UPSTREAM_URL"
UPSTREAM_KEY_ENV_ENV = "GATEWAY_UPSTREAM_KEY_ENV"
DEFAULT_UPSTREAM_KEY_ENV = "GATEWAY_UPSTREAM_API_KEY"


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
        "backends": {"demo": {"type": "fake"}},
        "models": [{"id": "echo", "backend": "demo", "owned_by": "gateway-demo"}],
    }
