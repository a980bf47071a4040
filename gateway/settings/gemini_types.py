"""The policy file's `type: gemini` backend: Google's Gemini REST API (`generateContent`),
spoken natively and presented to the pipeline as chat completions."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.settings.base_types import Config, EnvVarName
from gateway.settings.upstream_types import CapabilitiesSpec, TimeoutOverrides

HarmCategory = Annotated[str, Meta(pattern=r"^HARM_CATEGORY_[A-Z_]+$")]
HarmBlockThreshold = Literal[
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
]


class GeminiSafetySetting(Config, frozen=True):
    """One `safetySettings` entry, sent as written with every request."""

    # e.g. HARM_CATEGORY_HARASSMENT, HARM_CATEGORY_HATE_SPEECH, HARM_CATEGORY_DANGEROUS_CONTENT
    category: HarmCategory
    # How much of the category Google blocks (e.g. `BLOCK_ONLY_HIGH`; `OFF` turns it off).
    threshold: HarmBlockThreshold


class GeminiBackendSpec(Config, frozen=True, tag_field="type", tag="gemini"):
    """Google's Gemini API (`generateContent` / `streamGenerateContent`), translated to and
    from chat completions: tools, images (data: URLs), JSON schema output, usage."""

    # The API's origin; a proxy or a test server may stand in for Google's.
    base_url: Annotated[str, Meta(pattern=r"^https?://")] = (
        "https://generativelanguage.googleapis.com"
    )
    # Sent as `x-goog-api-key`; the variable's name, never the key.
    api_key_env: EnvVarName | None = None
    # The path segment before `/models`: `v1beta` has every feature this backend uses
    # (`parametersJsonSchema`, `responseJsonSchema`, thinking usage).
    api_version: Annotated[str, Meta(pattern=r"^v[0-9]+[a-z0-9]*$")] = "v1beta"
    # Extra headers on every call, values as written (secrets belong in `headers_env`).
    headers: dict[str, str] = field(default_factory=dict)
    # Headers whose values are secrets (e.g. a proxy's own key): header -> env var name.
    headers_env: dict[str, EnvVarName] = field(default_factory=dict)
    # This backend's own timeouts (unset fields: `defaults.timeouts`).
    timeouts: TimeoutOverrides | None = None
    # Serve every model the API lists (`GET /models`) under its own name (`gemini-2.5-flash`).
    discover_models: bool = False
    # Larger replies (or stream events) are a 502: never buffer an unbounded upstream body.
    max_reply_bytes: Annotated[int, Meta(ge=1024)] = 64 * 1024 * 1024
    # What its models can do (unset: assumed); a request that needs more goes elsewhere.
    capabilities: CapabilitiesSpec | None = None
    # Google's content filters for every request on this backend (unset: Google's defaults);
    # what they block ends as `finish_reason: content_filter`.
    safety_settings: list[GeminiSafetySetting] = field(default_factory=list)
