"""`POST /v1/responses` (the OpenAI Responses API): the request.

Only the request is typed: the gateway answers it by translating a chat completion
(`gateway.translate.responses`), so replies are built as plain dicts there. Unknown fields
are tolerated; items, parts and tools are one tolerant Struct each (not tagged unions)
because input messages may omit `type` and new item kinds appear often: the translator
decides which kinds it supports and refuses the rest with a 400 that names them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from gateway.protocol.common import Temperature, TokenLimit, TopP


class InputPart(Struct, kw_only=True):
    """`input_text`, `input_image`, `input_file`, or an echoed `output_text` / `refusal`."""

    type: str
    text: str | UnsetType = UNSET
    image_url: str | UnsetType | None = UNSET
    file_id: str | UnsetType | None = UNSET
    detail: str | UnsetType = UNSET
    file_data: str | UnsetType = UNSET
    file_url: str | UnsetType = UNSET
    filename: str | UnsetType = UNSET
    refusal: str | UnsetType = UNSET


class InputItem(Struct, kw_only=True):
    """One input item. A message may leave `type` out (the "easy input message")."""

    type: str = "message"
    id: str | UnsetType | None = UNSET
    status: str | UnsetType | None = UNSET
    # message
    role: Literal["user", "assistant", "system", "developer"] | UnsetType = UNSET
    content: str | list[InputPart] | UnsetType = UNSET
    # function_call / function_call_output
    call_id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET
    output: str | list[InputPart] | UnsetType = UNSET

    def __post_init__(self) -> None:
        required = _ITEM_FIELDS.get(self.type, ())
        missing = [f for f in required if getattr(self, f) is UNSET]
        if missing:
            raise ValueError(f"a `{self.type}` input item needs `{'`, `'.join(missing)}`")


_ITEM_FIELDS = {
    "message": ("role", "content"),
    "function_call": ("call_id", "name", "arguments"),
    "function_call_output": ("call_id", "output"),
}


class ResponsesTool(Struct, kw_only=True):
    """A `function` tool; any other `type` is a built-in (web_search, file_search, ...)."""

    type: str
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    parameters: dict[str, Any] | UnsetType | None = UNSET
    strict: bool | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if self.type == "function" and self.name is UNSET:
            raise ValueError("a `function` tool needs `name`")


class ToolChoiceObject(Struct, kw_only=True):
    """`{"type": "function", "name"}`, `{"type": "allowed_tools", "mode", "tools"}`, or a
    built-in tool type (`{"type": "file_search"}`)."""

    type: str
    name: str | UnsetType = UNSET
    mode: str | UnsetType = UNSET
    tools: list[dict[str, Any]] | UnsetType = UNSET


ResponsesToolChoice = Literal["none", "auto", "required"] | ToolChoiceObject


class TextFormat(Struct, kw_only=True):
    """`text`, `json_object`, or `json_schema` with its `name`, `schema` and `strict`."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    schema: dict[str, Any] | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if self.type == "json_schema" and (self.name is UNSET or self.schema is UNSET):
            raise ValueError("a `json_schema` text format needs `name` and `schema`")


class TextConfig(Struct, kw_only=True):
    format: TextFormat | UnsetType = UNSET
    verbosity: str | UnsetType | None = UNSET


class ReasoningConfig(Struct, kw_only=True):
    effort: str | UnsetType | None = UNSET
    summary: str | UnsetType | None = UNSET


class ResponsesRequest(Struct, kw_only=True):
    model: Annotated[str, Meta(min_length=1, max_length=256)]
    input: str | list[InputItem] | UnsetType = UNSET
    instructions: str | UnsetType | None = UNSET
    tools: list[ResponsesTool] | UnsetType | None = UNSET
    tool_choice: ResponsesToolChoice | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    text: TextConfig | UnsetType | None = UNSET
    reasoning: ReasoningConfig | UnsetType | None = UNSET
    max_output_tokens: TokenLimit | UnsetType | None = UNSET
    temperature: Temperature | UnsetType | None = UNSET
    top_p: TopP | UnsetType | None = UNSET
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    previous_response_id: str | UnsetType | None = UNSET
    store: bool | UnsetType | None = UNSET
    metadata: dict[str, str] | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET
    safety_identifier: str | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
    truncation: str | UnsetType | None = UNSET

    @property
    def is_stream(self) -> bool:
        return self.stream is True

    @property
    def builtin_tool_types(self) -> list[str]:
        """The built-in tools asked for (the gateway runs none of them: the handler 400s)."""
        tools = self.tools if isinstance(self.tools, list) else []
        return [t.type for t in tools if t.type != "function"]
