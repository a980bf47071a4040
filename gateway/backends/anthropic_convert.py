"""Chat completions -> Anthropic Messages API request, and the Messages reply -> chat reply.

The opposite direction of `gateway.translate.messages` (which serves Anthropic clients from
chat backends); tool arguments cross with that module's `input_of` / `arguments_of`, so
arguments that are not a JSON object survive a round trip either way.

Decisions:
- `system` and `developer` messages, wherever they appear, become `system` (in order).
- Consecutive `tool` messages (and a user message right after them) form one user turn:
  Anthropic wants every `tool_result` of an assistant turn in the next user turn.
- Images: a data URL becomes a `base64` source, an http(s) URL a `url` source; audio,
  files and other part kinds are a 400 naming the message.
- `response_format` json_schema (and json_object, as the schema `{"type": "object"}`)
  becomes one forced tool whose input is the answer: Anthropic has no JSON mode, and a
  forced tool is the only way its output is guaranteed to parse. The reply's tool input
  comes back as the message text with `finish_reason: stop`. With client `tools` as well
  it is a 400 (forcing the schema tool would stop the model calling the client's tools).
- `n` > 1, `logprobs`, the legacy `functions` / `function_call` and `function` messages
  are a 400: Anthropic cannot honour them and a silent drop would change the answer's
  meaning. Sampling hints it lacks (`seed`, penalties, `logit_bias`) are dropped.
- `temperature` above 1 goes through as sent: Anthropic's own 400 names the range.
- `top_k`, an extension some clients send, is passed through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import UnsetType

from gateway.errors import InvalidRequestError
from gateway.protocol.anthropic_messages import ContentBlock
from gateway.protocol.chat import (
    AssistantMessage,
    ChatCompletionRequest,
    ContentPart,
    DeveloperMessage,
    JSONObjectFormat,
    JSONSchemaFormat,
    NamedToolChoice,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from gateway.protocol.raw import RawFields
from gateway.translate.messages import arguments_of, input_of

Json = dict[str, Any]

# The forced tool's name when `response_format` is json_object (json_schema uses its name).
JSON_OBJECT_TOOL = "json_object"
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TOOL_CHOICE = {"auto": "auto", "none": "none", "required": "any"}
_int_decoder = msgspec.json.Decoder(int)


@dataclass(frozen=True, slots=True)
class AnthropicCall:
    """The Messages request body, and the name of the forced tool that carries a
    `response_format` answer (None when there is none)."""

    body: Json
    json_tool: str | None = None


def chat_to_anthropic(
    request: ChatCompletionRequest,
    upstream_model: str,
    *,
    default_max_tokens: int,
    fields: RawFields | None = None,
) -> AnthropicCall:
    _refuse_unsupported(request)
    system, messages = _messages(request)
    body: Json = {
        "model": upstream_model,
        "max_tokens": request.output_token_limit or default_max_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = system[0]["text"] if len(system) == 1 else system
    stop = request.stop
    if isinstance(stop, str) and stop:
        body["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        body["stop_sequences"] = list(stop)
    for key in ("temperature", "top_p"):
        value = getattr(request, key)
        if isinstance(value, int | float):
            body[key] = value
    top_k = (fields or {}).get("top_k")
    if top_k is not None:
        try:
            body["top_k"] = _int_decoder.decode(top_k)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise InvalidRequestError("`top_k` must be an integer", param="top_k") from None
    user = request.user if isinstance(request.user, str) else request.safety_identifier
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    if request.is_stream:
        body["stream"] = True
    json_tool = _tools(request, body)
    return AnthropicCall(body, json_tool)


def _refuse_unsupported(request: ChatCompletionRequest) -> None:
    if isinstance(request.n, int) and request.n > 1:
        raise InvalidRequestError("Anthropic models return one choice: `n` must be 1", param="n")
    if request.logprobs is True:
        raise InvalidRequestError("Anthropic models do not return `logprobs`", param="logprobs")
    if isinstance(request.functions, list) or not _unset(request.function_call):
        raise InvalidRequestError(
            "the legacy `functions` / `function_call` are not supported here: use `tools`",
            param="functions",
        )


def _unset(value: Any) -> bool:
    return value is None or isinstance(value, UnsetType)


# --- messages -----------------------------------------------------------------------------


def _messages(request: ChatCompletionRequest) -> tuple[list[Json], list[Json]]:
    system: list[Json] = []
    turns: list[Json] = []
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if isinstance(message, SystemMessage | DeveloperMessage):
            text = _text(message.content, where)
            if text:
                system.append({"type": "text", "text": text})
        elif isinstance(message, UserMessage):
            _append(turns, "user", _user_blocks(message, where))
        elif isinstance(message, ToolMessage):
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": _text(message.content, where),
            }
            _append(turns, "user", [block])
        elif isinstance(message, AssistantMessage):
            _append(turns, "assistant", _assistant_blocks(message, where))
        else:
            raise InvalidRequestError(
                "`function` messages are not supported here: use `tool` messages",
                param=f"{where}.role",
            )
    return system, turns


def _append(turns: list[Json], role: str, blocks: list[Json]) -> None:
    """Consecutive turns of one role become one turn (Anthropic would merge them anyway;
    merging here keeps `tool_result` blocks with the user text that follows them)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text(content: str | list[ContentPart], where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if part.type != "text" or not isinstance(part.text, str):
            raise InvalidRequestError(
                f"only text parts are supported here, not `{part.type}`", param=f"{where}.content"
            )
        texts.append(part.text)
    return "".join(texts)


def _user_blocks(message: UserMessage, where: str) -> list[Json]:
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[Json] = []
    for j, part in enumerate(message.content):
        if part.type == "text" and isinstance(part.text, str):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif part.type == "image_url" and not isinstance(part.image_url, UnsetType):
            blocks.append({"type": "image", "source": image_source(part.image_url.url)})
        else:
            raise InvalidRequestError(
                f"`{part.type}` content is not supported by Anthropic models",
                param=f"{where}.content[{j}]",
            )
    return blocks


def image_source(url: str) -> Json:
    """An `image_url` as an Anthropic image source: data URL -> base64, http(s) -> url."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if sep and encoding == "base64" and media_type:
            return {"type": "base64", "media_type": media_type, "data": data}
        raise InvalidRequestError(
            "an image data URL must be `data:<media type>;base64,<data>`", param="messages"
        )
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise InvalidRequestError("an image URL must be a data URL or http(s)", param="messages")


def _assistant_blocks(message: AssistantMessage, where: str) -> list[Json]:
    blocks: list[Json] = []
    content = message.content
    text = content if isinstance(content, str) else None
    if isinstance(content, list):
        text = "".join(p.text for p in content if p.type == "text" and isinstance(p.text, str))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.tool_calls if isinstance(message.tool_calls, list) else []:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.function.name,
                "input": input_of(call.function.arguments),
            }
        )
    return blocks


# --- tools --------------------------------------------------------------------------------


def _tools(request: ChatCompletionRequest, body: Json) -> str | None:
    """Set `tools` and `tool_choice` on `body`; the forced response-format tool, if any."""
    tools = request.tools if isinstance(request.tools, list) else []
    converted = []
    for i, tool in enumerate(tools):
        function = tool.function
        if tool.type != "function" or isinstance(function, UnsetType):
            raise InvalidRequestError(
                f"`{tool.type}` tools are not supported by Anthropic models",
                param=f"tools[{i}].type",
            )
        entry: Json = {"name": function.name}
        if isinstance(function.description, str):
            entry["description"] = function.description
        parameters = function.parameters
        entry["input_schema"] = (
            parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
        )
        converted.append(entry)
    json_tool = _response_format_tool(request, converted)
    if converted:
        body["tools"] = converted
    if json_tool is not None:
        body["tool_choice"] = {"type": "tool", "name": json_tool}
        return json_tool
    choice = _tool_choice(request.tool_choice)
    if choice is not None and converted:
        if request.parallel_tool_calls is False and choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = choice
    elif request.parallel_tool_calls is False and converted:
        body["tool_choice"] = {"type": "auto", "disable_parallel_tool_use": True}
    return None


def _tool_choice(choice: Any) -> Json | None:
    if isinstance(choice, str):
        return {"type": _TOOL_CHOICE[choice]}
    if isinstance(choice, NamedToolChoice):
        if choice.type != "function" or isinstance(choice.function, UnsetType):
            raise InvalidRequestError(
                f"`tool_choice` of type `{choice.type}` is not supported by Anthropic models",
                param="tool_choice",
            )
        return {"type": "tool", "name": choice.function.name}
    return None


def _response_format_tool(request: ChatCompletionRequest, tools: list[Json]) -> str | None:
    rf = request.response_format
    if isinstance(rf, JSONSchemaFormat):
        spec = rf.json_schema
        schema = spec.schema if isinstance(spec.schema, dict) else {"type": "object"}
        tool: Json = {"name": spec.name, "input_schema": schema}
        description = spec.description if isinstance(spec.description, str) else None
    elif isinstance(rf, JSONObjectFormat):
        tool = {"name": JSON_OBJECT_TOOL, "input_schema": {"type": "object"}}
        description = None
    else:
        return None
    if tools:
        raise InvalidRequestError(
            "`response_format` together with `tools` is not supported for Anthropic models",
            param="response_format",
        )
    tool["description"] = description or "Give the answer as this tool's input."
    tools.append(tool)
    return str(tool["name"])


# --- the reply ----------------------------------------------------------------------------


class AnthropicUsage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int | None = 0
    cache_creation_input_tokens: int | None = 0


class AnthropicReply(msgspec.Struct):
    id: str
    content: list[ContentBlock]
    model: str = ""
    stop_reason: str | None = None
    usage: AnthropicUsage | None = None


def finish_reason(stop_reason: str | None, json_tool: str | None = None) -> str:
    """Anthropic's `stop_reason` as chat's `finish_reason` (a forced response-format tool
    is the answer itself, so its `tool_use` is a normal stop)."""
    if stop_reason == "tool_use" and json_tool is not None:
        return "stop"
    return _FINISH.get(stop_reason or "", "stop")


def chat_usage(usage: AnthropicUsage | None) -> Json:
    """Anthropic counts cache reads and writes apart from `input_tokens`; chat's prompt
    includes them."""
    usage = usage or AnthropicUsage()
    read = usage.cache_read_input_tokens or 0
    prompt = usage.input_tokens + read + (usage.cache_creation_input_tokens or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": read},
    }


def anthropic_to_chat(reply: AnthropicReply, json_tool: str | None = None) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for block in reply.content:
        if block.type == "text" and isinstance(block.text, str):
            texts.append(block.text)
        elif block.type == "tool_use" and json_tool is not None and block.name == json_tool:
            texts.append(msgspec.json.encode(block.input).decode())
        elif block.type == "tool_use":
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments_of(block.input)},
                }
            )
        # thinking, redacted_thinking and server-tool blocks have no chat equivalent
    message: Json = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": chat_id(reply.id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(reply.stop_reason, json_tool),
                "logprobs": None,
            }
        ],
        "usage": chat_usage(reply.usage),
    }


def chat_id(message_id: str) -> str:
    return f"chatcmpl-{message_id}"
