"""The Anthropic Messages API <-> chat completions: request in, reply out.

Decisions (also in the handler docs):
- `tool_result` blocks become `tool` messages placed before the rest of that user turn,
  because chat needs tool answers right after the assistant's `tool_calls`;
  `is_error` is kept as an `Error: ` prefix (chat has no flag for it).
- Images (base64 or url) become `image_url` parts (base64 as a data URL); images inside a
  `tool_result`, `file` sources and server tools are refused with a 400.
- `thinking` / `redacted_thinking` blocks are dropped (chat upstreams cannot take them back).
- `top_k` is passed through as an extension (llama.cpp and vLLM honour it).
- Tool-call arguments that are not a JSON object become `{"_raw_arguments": "<text>"}` so
  nothing is lost, and turn back into the same text on the next request.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.errors import InvalidRequestError
from gateway.protocol.anthropic_messages import (
    AnthropicMessage,
    ContentBlock,
    CountTokensRequest,
    MessagesRequest,
)

Json = dict[str, Any]

RAW_ARGUMENTS = "_raw_arguments"
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def messages_to_chat(req: MessagesRequest) -> Json:
    chat = _chat_base(req)
    chat["max_tokens"] = req.max_tokens
    if isinstance(req.stop_sequences, list) and req.stop_sequences:
        chat["stop"] = list(req.stop_sequences)
    for key in ("temperature", "top_p", "top_k", "service_tier"):
        value = getattr(req, key)
        if not isinstance(value, msgspec.UnsetType):
            chat[key] = value
    metadata = req.metadata
    if not isinstance(metadata, msgspec.UnsetType) and isinstance(metadata.user_id, str):
        chat["user"] = metadata.user_id
    if req.is_stream:
        chat["stream"] = True
        # message_delta must carry output_tokens, which a chat stream sends only when asked.
        chat["stream_options"] = {"include_usage": True}
    return chat


def count_tokens_to_chat(req: CountTokensRequest) -> Json:
    """`/v1/messages/count_tokens`: the chat request (model, messages, tools) to count."""
    return _chat_base(req)


def _chat_base(req: CountTokensRequest) -> Json:
    messages: list[Json] = []
    system = req.system
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    elif isinstance(system, list) and system:
        messages.append({"role": "system", "content": _text_of(system, "system")})
    for i, message in enumerate(req.messages):
        messages.extend(_chat_messages(message, i))
    chat: Json = {"model": req.model, "messages": messages}
    if isinstance(req.tools, list) and req.tools:
        chat["tools"] = [_chat_tool(t) for t in req.tools]
    choice = req.tool_choice
    if not isinstance(choice, msgspec.UnsetType):
        if choice.type == "tool":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        else:
            chat["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
        if choice.disable_parallel_tool_use is True:
            chat["parallel_tool_calls"] = False
    return chat


def _chat_tool(tool: Any) -> Json:
    if not tool.is_client_tool:
        raise InvalidRequestError(
            f"server tool `{tool.type}` is not supported by this gateway", param="tools"
        )
    function: Json = {"name": tool.name}
    if isinstance(tool.description, str):
        function["description"] = tool.description
    if isinstance(tool.input_schema, dict):
        function["parameters"] = tool.input_schema
    return {"type": "function", "function": function}


def _chat_messages(message: AnthropicMessage, index: int) -> list[Json]:
    where = f"messages[{index}].content"
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    blocks = [b for b in message.content if b.type not in _DROPPED_BLOCKS]
    if message.role == "assistant":
        return [_assistant_message(blocks, where)]
    tools = [_tool_message(b, where) for b in blocks if b.type == "tool_result"]
    parts = [_user_part(b, where) for b in blocks if b.type != "tool_result"]
    if not parts:
        return tools
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*tools, {"role": "user", "content": parts[0]["text"]}]
    return [*tools, {"role": "user", "content": parts}]


def _assistant_message(blocks: list[ContentBlock], where: str) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for block in blocks:
        if block.type == "text" and isinstance(block.text, str):
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments_of(block.input)},
                }
            )
        else:
            raise InvalidRequestError(
                f"`{block.type}` blocks in assistant turns are not supported", param=where
            )
    message: Json = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def arguments_of(tool_input: Any) -> str:
    """A `tool_use` input as chat arguments (the inverse of `input_of`)."""
    if isinstance(tool_input, dict) and set(tool_input) == {RAW_ARGUMENTS}:
        return str(tool_input[RAW_ARGUMENTS])
    return msgspec.json.encode(tool_input).decode()


def input_of(arguments: str) -> Json:
    """Chat arguments as a `tool_use` input: empty -> `{}`, not an object -> kept raw."""
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {RAW_ARGUMENTS: arguments}
    return value if isinstance(value, dict) else {RAW_ARGUMENTS: arguments}


def _tool_message(block: ContentBlock, where: str) -> Json:
    content = block.content
    if isinstance(content, msgspec.UnsetType):
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = _text_of(content, where)
    if block.is_error is True:
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": text}


def _user_part(block: ContentBlock, where: str) -> Json:
    if block.type == "text" and isinstance(block.text, str):
        return {"type": "text", "text": block.text}
    source = block.source
    if block.type == "image" and not isinstance(source, msgspec.UnsetType):
        if source.type == "base64":
            url = f"data:{source.media_type};base64,{source.data}"
            return {"type": "image_url", "image_url": {"url": url}}
        if source.type == "url" and isinstance(source.url, str):
            return {"type": "image_url", "image_url": {"url": source.url}}
    if block.type == "document" and not isinstance(source, msgspec.UnsetType):
        if source.type == "base64":
            data = f"data:{source.media_type};base64,{source.data}"
            return {"type": "file", "file": {"file_data": data}}
        if source.type == "text" and isinstance(source.data, str):
            return {"type": "text", "text": source.data}
    raise InvalidRequestError(f"`{block.type}` content is not supported here", param=where)


def _text_of(blocks: list[ContentBlock], where: str) -> str:
    texts = []
    for block in blocks:
        if block.type != "text" or not isinstance(block.text, str):
            raise InvalidRequestError(
                f"only text blocks are supported here, not `{block.type}`", param=where
            )
        texts.append(block.text)
    return "\n".join(texts) if where == "system" else "".join(texts)


# --- the reply ----------------------------------------------------------------------------


def stop_reason(choice: Json, request: MessagesRequest) -> tuple[str, str | None]:
    """`(stop_reason, stop_sequence)`. Chat's `stop` does not say whether a stop sequence
    matched; vLLM's `stop_reason` does, and only then is `stop_sequence` reported (a guess
    would make clients that re-append the sequence corrupt the text)."""
    finish = choice.get("finish_reason")
    if finish == "length":
        return "max_tokens", None
    if finish in ("tool_calls", "function_call"):
        return "tool_use", None
    if finish == "content_filter":
        return "refusal", None
    matched = choice.get("stop_reason")
    stops = request.stop_sequences if isinstance(request.stop_sequences, list) else []
    if isinstance(matched, str) and matched in stops:
        return "stop_sequence", matched
    return "end_turn", None


def message_usage(usage: Json | None) -> Json:
    """Anthropic counts cache reads apart from `input_tokens`; OpenAI's prompt includes them."""
    usage = usage or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "input_tokens": max(0, usage.get("prompt_tokens", 0) - cached),
        "output_tokens": usage.get("completion_tokens", 0),
        "cache_read_input_tokens": cached,
    }


def chat_to_message(chat_reply: Json, *, message_id: str, request: MessagesRequest) -> Json:
    choice = (chat_reply.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[Json] = []
    text = message.get("content") or message.get("refusal")
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function.get("name", ""),
                "input": input_of(function.get("arguments") or ""),
            }
        )
    reason, sequence = stop_reason(choice, request)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": chat_reply.get("model") or request.model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": message_usage(chat_reply.get("usage")),
    }
