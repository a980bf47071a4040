"""The policy file's `type: anthropic` backend: Anthropic's Messages API, spoken natively."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from gateway.settings.base_types import Config, EnvVarName
from gateway.settings.upstream_types import CapabilitiesSpec, TimeoutOverrides


class AnthropicBackendSpec(Config, frozen=True, tag_field="type", tag="anthropic"):
    """Anthropic's Messages API (`POST {base_url}/v1/messages`), translated to and from chat
    completions, so clients keep the OpenAI wire shape."""

    # Without `/v1`: the gateway appends `/v1/messages` and `/v1/models` itself.
    base_url: Annotated[str, Meta(pattern=r"^https?://")] = "https://api.anthropic.com"
    # The variable holding the key (sent as `x-api-key`), never the key itself.
    api_key_env: EnvVarName | None = None
    # Sent as `anthropic-version`: the API's wire format is pinned by this header.
    anthropic_version: Annotated[str, Meta(min_length=1)] = "2023-06-01"
    # Anthropic requires `max_tokens`; used when a chat request sets neither `max_tokens`
    # nor `max_completion_tokens`.
    default_max_tokens: Annotated[int, Meta(ge=1)] = 4096
    # Extra headers on every call (e.g. `anthropic-beta`).
    headers: dict[str, str] = field(default_factory=dict)
    # This backend's own timeouts (unset fields: `defaults.timeouts`).
    timeouts: TimeoutOverrides | None = None
    # Serve every model the upstream lists (GET /v1/models) under its own name.
    discover_models: bool = False
    # Larger replies (or stream events) are a 502: never buffer an unbounded upstream body.
    max_reply_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024
    # What the models can do (unset: assumed); Claude models take tools, images and, through
    # a forced tool, `response_format` json_schema.
    capabilities: CapabilitiesSpec | None = None
