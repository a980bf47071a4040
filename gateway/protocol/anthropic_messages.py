"""`POST /v1/messages` and `/v1/messages/count_tokens` (the Anthropic Messages API): requests.

Replies are built as plain dicts by `gateway.translate.messages`. Content blocks are one
tolerant Struct (not a tagged union) so block kinds this gateway does not translate
(`thinking`, `server_tool_use`, ...) decode, and the translator decides what to keep or refuse.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from gateway.protocol.common import TokenLimit, TopP


class BlockSource(Struct, kw_only=True):
    """An image's or a document's source: `base64` (media_type, data), `url`, `text`, `file`."""

    type: str
    media_type: str | UnsetType = UNSET
    data: str | UnsetType = UNSET
    url: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET


class ContentBlock(Struct, kw_only=True):
    type: str
    # text
    text: str | UnsetType = UNSET
    # image / document
    source: BlockSource | UnsetType = UNSET
    title: str | UnsetType | None = UNSET
    # tool_use
    id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    input: dict[str, Any] | UnsetType = UNSET
    # tool_result
    tool_use_id: str | UnsetType = UNSET
    content: str | list[ContentBlock] | UnsetType = UNSET
    is_error: bool | UnsetType = UNSET

    def __post_init__(self) -> None:
        required = _BLOCK_FIELDS.get(self.type, ())
        missing = [f for f in required if getattr(self, f) is UNSET]
        if missing:
            raise ValueError(f"a `{self.type}` content block needs `{'`, `'.join(missing)}`")


_BLOCK_FIELDS = {
    "text": ("text",),
    "image": ("source",),
    "document": ("source",),
    "tool_use": ("id", "name", "input"),
    "tool_result": ("tool_use_id",),
}


class AnthropicMessage(Struct, kw_only=True):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class AnthropicTool(Struct, kw_only=True):
    """A client tool (`type` absent or `custom`); any other `type` is a server tool
    (`web_search_20250305`, `bash_20250124`, ...), which the gateway does not run."""

    name: Annotated[str, Meta(min_length=1)]
    type: str | UnsetType | None = UNSET
    description: str | UnsetType = UNSET
    input_schema: dict[str, Any] | UnsetType = UNSET

    @property
    def is_client_tool(self) -> bool:
        return self.type in (UNSET, None, "custom")


class AnthropicToolChoice(Struct, kw_only=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | UnsetType = UNSET
    disable_parallel_tool_use: bool | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.type == "tool" and self.name is UNSET:
            raise ValueError("`tool_choice` of type `tool` needs `name`")


class AnthropicMetadata(Struct, kw_only=True):
    user_id: str | UnsetType | None = UNSET


class CountTokensRequest(Struct, kw_only=True):
    """`/v1/messages/count_tokens`: a Messages request without `max_tokens`."""

    model: Annotated[str, Meta(min_length=1, max_length=256)]
    messages: list[AnthropicMessage]
    system: str | list[ContentBlock] | UnsetType = UNSET
    tools: list[AnthropicTool] | UnsetType = UNSET
    tool_choice: AnthropicToolChoice | UnsetType = UNSET

    @property
    def server_tool_types(self) -> list[str]:
        """The server tools asked for (the handler refuses them with a 400)."""
        tools = self.tools if isinstance(self.tools, list) else []
        return [str(t.type) for t in tools if not t.is_client_tool]


class MessagesRequest(CountTokensRequest, kw_only=True):
    max_tokens: TokenLimit
    stop_sequences: list[str] | UnsetType = UNSET
    # Anthropic's range is 0..1, narrower than chat's 0..2: checked here, as Anthropic does.
    temperature: Annotated[float, Meta(ge=0.0, le=1.0)] | UnsetType = UNSET
    top_p: TopP | UnsetType = UNSET
    top_k: Annotated[int, Meta(ge=0)] | UnsetType = UNSET
    stream: bool | UnsetType = UNSET
    metadata: AnthropicMetadata | UnsetType = UNSET
    service_tier: str | UnsetType = UNSET
    thinking: dict[str, Any] | UnsetType = UNSET

    @property
    def is_stream(self) -> bool:
        return self.stream is True
