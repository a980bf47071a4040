"""`POST /v1/chat/completions`: request, response and stream chunk."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

from gateway.protocol.common import (
    ChoiceCount,
    LogitBias,
    Opaque,
    Penalty,
    StopSequences,
    StreamOptions,
    Temperature,
    TokenLimit,
    TopP,
    Usage,
)

# --- content parts --------------------------------------------------------------------
# One tolerant Struct rather than a tagged union: part types this gateway does not know
# (vLLM's `video_url`, new OpenAI parts) pass through to the upstream untouched, while the
# known ones are checked for their required field.


class ImageURL(Struct, kw_only=True):
    url: str
    detail: str | UnsetType = UNSET


class InputAudio(Struct, kw_only=True):
    data: str
    format: str


class ContentPart(Struct, kw_only=True):
    type: str
    text: str | UnsetType = UNSET
    image_url: ImageURL | UnsetType = UNSET
    input_audio: InputAudio | UnsetType = UNSET
    file: dict[str, Any] | UnsetType = UNSET
    refusal: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        required = _PART_FIELDS.get(self.type)
        if required is not None and getattr(self, required) is UNSET:
            raise ValueError(f"a `{self.type}` content part needs `{required}`")


_PART_FIELDS = {
    "text": "text",
    "image_url": "image_url",
    "input_audio": "input_audio",
    "file": "file",
    "refusal": "refusal",
}
TextPart = ContentPart
UserContentPart = ContentPart
AssistantContentPart = ContentPart

# --- tools --------------------------------------------------------------------------------


class FunctionDefinition(Struct, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:]+$")]
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class Tool(Struct, kw_only=True):
    # `function`, or newer kinds (`custom`) that pass through to upstreams that know them.
    type: str
    function: FunctionDefinition | UnsetType = UNSET
    custom: dict[str, Any] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.type == "function" and self.function is UNSET:
            raise ValueError("a `function` tool needs `function`")


class FunctionName(Struct, kw_only=True):
    name: str


class NamedToolChoice(Struct, kw_only=True):
    """`{"type": "function", "function": {"name": ...}}`, or newer object forms
    (`allowed_tools`, `custom`) that pass through."""

    type: str
    function: FunctionName | UnsetType = UNSET
    allowed_tools: dict[str, Any] | UnsetType = UNSET
    custom: dict[str, Any] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.type == "function" and self.function is UNSET:
            raise ValueError("`tool_choice` of type `function` needs `function.name`")


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class FunctionCall(Struct, kw_only=True):
    name: str
    arguments: str


class ToolCall(Struct, kw_only=True):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


# --- messages, tagged by "role" -----------------------------------------------------------


class SystemMessage(Struct, tag_field="role", tag="system", kw_only=True):
    content: str | list[TextPart]
    name: str | UnsetType = UNSET


class DeveloperMessage(Struct, tag_field="role", tag="developer", kw_only=True):
    content: str | list[TextPart]
    name: str | UnsetType = UNSET


class UserMessage(Struct, tag_field="role", tag="user", kw_only=True):
    content: str | list[UserContentPart]
    name: str | UnsetType = UNSET


class AssistantMessage(Struct, tag_field="role", tag="assistant", kw_only=True):
    content: str | list[AssistantContentPart] | None = None
    name: str | UnsetType = UNSET
    refusal: str | UnsetType | None = UNSET
    tool_calls: list[ToolCall] | UnsetType | None = UNSET
    function_call: FunctionCall | UnsetType | None = UNSET
    audio: Opaque | UnsetType | None = UNSET
    # Reasoning models served by vLLM / DeepSeek echo this back in multi-turn conversations.
    reasoning_content: str | UnsetType | None = UNSET


class ToolMessage(Struct, tag_field="role", tag="tool", kw_only=True):
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(Struct, tag_field="role", tag="function", kw_only=True):
    content: str | None
    name: str


ChatMessage = (
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage
)

# --- response_format, tagged by "type" ----------------------------------------------------


class TextFormat(Struct, tag_field="type", tag="text", kw_only=True):
    pass


class JSONObjectFormat(Struct, tag_field="type", tag="json_object", kw_only=True):
    pass


class JSONSchemaSpec(Struct, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    description: str | UnsetType = UNSET
    schema: dict[str, Any] | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class JSONSchemaFormat(Struct, tag_field="type", tag="json_schema", kw_only=True):
    json_schema: JSONSchemaSpec


ResponseFormat = TextFormat | JSONObjectFormat | JSONSchemaFormat


class LegacyFunctionChoice(Struct, kw_only=True):
    name: str


# --- the request --------------------------------------------------------------------------


class ChatCompletionRequest(Struct, kw_only=True):
    """Every documented parameter, typed; anything else is ignored here and passed through."""

    model: Annotated[str, Meta(min_length=1, max_length=256)]
    messages: Annotated[list[ChatMessage], Meta(min_length=1)]
    stream: bool | UnsetType | None = UNSET
    stream_options: StreamOptions | UnsetType | None = UNSET
    temperature: Temperature | UnsetType | None = UNSET
    top_p: TopP | UnsetType | None = UNSET
    n: ChoiceCount | UnsetType | None = UNSET
    max_tokens: TokenLimit | UnsetType | None = UNSET
    max_completion_tokens: TokenLimit | UnsetType | None = UNSET
    stop: StopSequences | UnsetType | None = UNSET
    presence_penalty: Penalty | UnsetType | None = UNSET
    frequency_penalty: Penalty | UnsetType | None = UNSET
    logit_bias: LogitBias | UnsetType | None = UNSET
    logprobs: bool | UnsetType | None = UNSET
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | UnsetType | None = UNSET
    seed: int | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET
    tools: list[Tool] | UnsetType | None = UNSET
    tool_choice: ToolChoice | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    response_format: ResponseFormat | UnsetType | None = UNSET
    functions: list[FunctionDefinition] | UnsetType | None = UNSET
    function_call: Literal["none", "auto"] | LegacyFunctionChoice | UnsetType | None = UNSET
    metadata: dict[str, str] | UnsetType | None = UNSET
    store: bool | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
    reasoning_effort: str | UnsetType | None = UNSET
    verbosity: str | UnsetType | None = UNSET
    modalities: list[str] | UnsetType | None = UNSET
    audio: Opaque | UnsetType | None = UNSET
    prediction: Opaque | UnsetType | None = UNSET
    web_search_options: Opaque | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET
    safety_identifier: str | UnsetType | None = UNSET

    @property
    def is_stream(self) -> bool:
        return self.stream is True

    @property
    def wants_usage_chunk(self) -> bool:
        opts = self.stream_options
        return isinstance(opts, StreamOptions) and opts.include_usage is True

    @property
    def output_token_limit(self) -> int | None:
        """`max_tokens` and `max_completion_tokens` together: the smaller wins."""
        limits = [v for v in (self.max_tokens, self.max_completion_tokens) if isinstance(v, int)]
        return min(limits) if limits else None


# --- the response -------------------------------------------------------------------------


class ResponseMessage(Struct, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    refusal: str | UnsetType | None = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET


class Choice(Struct, kw_only=True):
    index: int
    message: ResponseMessage
    finish_reason: str | None = None
    logprobs: Opaque | None = None


class ChatCompletion(Struct, kw_only=True):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | UnsetType = UNSET
    system_fingerprint: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET


# --- the stream chunk ---------------------------------------------------------------------


class FunctionCallDelta(Struct, kw_only=True):
    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class ToolCallDelta(Struct, kw_only=True):
    index: int
    id: str | UnsetType = UNSET
    type: Literal["function"] | UnsetType = UNSET
    function: FunctionCallDelta | UnsetType = UNSET


class Delta(Struct, kw_only=True):
    role: Literal["assistant"] | UnsetType = UNSET
    content: str | UnsetType | None = UNSET
    refusal: str | UnsetType | None = UNSET
    tool_calls: list[ToolCallDelta] | UnsetType = UNSET


class ChunkChoice(Struct, kw_only=True):
    index: int
    delta: Delta = field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: Opaque | None = None


class ChatCompletionChunk(Struct, kw_only=True):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | UnsetType | None = UNSET
    system_fingerprint: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
