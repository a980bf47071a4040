"""The OpenAI wire contract as msgspec Structs, and nothing else.

Optional request fields are ``T | UnsetType = UNSET`` so that re-encoding a request never
invents a field the client did not send. Unknown request fields are ignored by the typed
decoders; the raw top-level fields (:mod:`gateway.protocol.raw`) carry them through untouched.
"""

from gateway.protocol.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    Delta,
    DeveloperMessage,
    FunctionCall,
    FunctionCallDelta,
    ResponseMessage,
    SystemMessage,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolMessage,
    UserMessage,
)
from gateway.protocol.common import StreamOptions, Usage
from gateway.protocol.completions import (
    Completion,
    CompletionChoice,
    CompletionRequest,
)
from gateway.protocol.errors import ErrorBody, ErrorResponse
from gateway.protocol.models import Model, ModelList
from gateway.protocol.raw import RawFields, decode_fields, encode_fields, from_struct

__all__ = [
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessage",
    "Choice",
    "ChunkChoice",
    "Completion",
    "CompletionChoice",
    "CompletionRequest",
    "Delta",
    "DeveloperMessage",
    "ErrorBody",
    "ErrorResponse",
    "FunctionCall",
    "FunctionCallDelta",
    "Model",
    "ModelList",
    "RawFields",
    "ResponseMessage",
    "StreamOptions",
    "SystemMessage",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolMessage",
    "Usage",
    "UserMessage",
    "decode_fields",
    "encode_fields",
    "from_struct",
]
