"""The Responses API <-> chat completions: request in, reply out (streaming: `responses_stream`).

Pure functions over plain dicts. Anything the chat model cannot express (built-in tools,
`item_reference`, file ids) raises `InvalidRequestError` naming the parameter, so the
handler answers 400 through the one error path.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.errors import InvalidRequestError
from gateway.protocol.responses import (
    InputItem,
    InputPart,
    ReasoningConfig,
    ResponsesRequest,
    ToolChoiceObject,
)

Json = dict[str, Any]

# Reasoning items carry encrypted state only the OpenAI model that made them can read; a
# chat upstream has no slot for them, so they are dropped rather than refused.
_DROPPED_ITEMS = frozenset({"reasoning"})


def responses_to_chat(req: ResponsesRequest, history: list[Json] | None = None) -> Json:
    """The chat request for `req`. `history` is the chat messages of the
    `previous_response_id` chain (without its instructions, which the API does not carry
    over); they go after this request's instructions and before its input."""
    messages: list[Json] = []
    if isinstance(req.instructions, str) and req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    messages.extend(history or [])
    if isinstance(req.input, str):
        messages.append({"role": "user", "content": req.input})
    elif isinstance(req.input, list):
        _append_items(messages, req.input)
    if not messages:
        raise InvalidRequestError("`input` must not be empty", param="input")

    chat: Json = {"model": req.model, "messages": messages}
    if isinstance(req.tools, list) and req.tools:
        chat["tools"] = [_chat_tool(t) for t in req.tools]
    if _given(req.tool_choice):
        chat["tool_choice"] = _chat_tool_choice(req.tool_choice)
    text = req.text
    if text is not None and not isinstance(text, msgspec.UnsetType):
        fmt = text.format
        if not isinstance(fmt, msgspec.UnsetType) and fmt.type != "text":
            chat["response_format"] = _response_format(fmt)
        if isinstance(text.verbosity, str):
            chat["verbosity"] = text.verbosity
    reasoning = req.reasoning
    if isinstance(reasoning, ReasoningConfig) and isinstance(reasoning.effort, str):
        chat["reasoning_effort"] = reasoning.effort
    for src, dst in _COPIED_FIELDS:
        value = getattr(req, src)
        if value is not None and not isinstance(value, msgspec.UnsetType):
            chat[dst] = value
    if req.is_stream:
        chat["stream"] = True
        # response.completed must carry usage, which a chat stream sends only when asked.
        chat["stream_options"] = {"include_usage": True}
    return chat


def _given(value: Any) -> bool:
    return value is not None and not isinstance(value, msgspec.UnsetType)


_COPIED_FIELDS = (
    ("max_output_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("parallel_tool_calls", "parallel_tool_calls"),
    ("user", "user"),
    ("top_logprobs", "top_logprobs"),
    ("safety_identifier", "safety_identifier"),
    ("prompt_cache_key", "prompt_cache_key"),
    ("service_tier", "service_tier"),
)


def _append_items(messages: list[Json], items: list[InputItem]) -> None:
    for i, item in enumerate(items):
        if item.type == "message":
            messages.append(_chat_message(item, i))
        elif item.type == "function_call":
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            last = messages[-1] if messages else None
            # Parallel calls (and the text before them) are one assistant turn in chat.
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item.type == "function_call_output":
            output = item.output
            content = output if isinstance(output, str) else _joined_text(output, i)
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": content})
        elif item.type not in _DROPPED_ITEMS:
            raise InvalidRequestError(
                f"input items of type `{item.type}` are not supported by this gateway",
                param=f"input[{i}]",
            )


def _chat_message(item: InputItem, index: int) -> Json:
    content = item.content
    if isinstance(content, str) or item.role != "user":
        text = content if isinstance(content, str) else _joined_text(content, index)
        return {"role": item.role, "content": text}
    assert isinstance(content, list)
    return {"role": "user", "content": [_chat_part(p, index) for p in content]}


def _chat_part(part: InputPart, index: int) -> Json:
    if part.type in ("input_text", "output_text") and isinstance(part.text, str):
        return {"type": "text", "text": part.text}
    if part.type == "input_image" and isinstance(part.image_url, str):
        image: Json = {"url": part.image_url}
        if isinstance(part.detail, str):
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.type == "input_file" and isinstance(part.file_data, str):
        file: Json = {"file_data": part.file_data}
        if isinstance(part.filename, str):
            file["filename"] = part.filename
        return {"type": "file", "file": file}
    raise InvalidRequestError(
        f"`{part.type}` content without inline data (file ids, URLs to files) is not "
        "supported by this gateway",
        param=f"input[{index}].content",
    )


def _joined_text(parts: Any, index: int) -> str:
    texts = []
    for part in parts or []:
        if isinstance(part.text, str):
            texts.append(part.text)
        elif isinstance(part.refusal, str):
            texts.append(part.refusal)
        else:
            raise InvalidRequestError(
                f"only text content is supported here, not `{part.type}`",
                param=f"input[{index}]",
            )
    return "".join(texts)


def _chat_tool(tool: Any) -> Json:
    if tool.type != "function":
        raise InvalidRequestError(
            f"built-in tool `{tool.type}` is not supported by this gateway", param="tools"
        )
    function = {"name": tool.name}
    for key in ("description", "parameters", "strict"):
        value = getattr(tool, key)
        if value is not None and not isinstance(value, msgspec.UnsetType):
            function[key] = value
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: str | ToolChoiceObject | Any) -> Any:
    if isinstance(choice, str):
        return choice
    if choice.type == "function" and isinstance(choice.name, str):
        return {"type": "function", "function": {"name": choice.name}}
    if choice.type == "allowed_tools" and isinstance(choice.tools, list):
        tools = [{"type": "function", "function": {"name": t.get("name")}} for t in choice.tools]
        mode = choice.mode if isinstance(choice.mode, str) else "auto"
        return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}
    raise InvalidRequestError(
        f"`tool_choice` of type `{choice.type}` is not supported by this gateway",
        param="tool_choice",
    )


def _response_format(fmt: Any) -> Json:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: Json = {"name": fmt.name, "schema": fmt.schema}
    for key in ("description", "strict"):
        value = getattr(fmt, key)
        if value is not None and not isinstance(value, msgspec.UnsetType):
            spec[key] = value
    return {"type": "json_schema", "json_schema": spec}


# --- the reply ----------------------------------------------------------------------------


def message_item_id(response_id: str, n: int = 0) -> str:
    """Item ids derive from the response id, so a stored response replays the same ids."""
    suffix = response_id.removeprefix("resp_")
    return f"msg_{suffix}" if n == 0 else f"msg_{suffix}_{n}"


def call_item_id(response_id: str, n: int) -> str:
    return f"fc_{response_id.removeprefix('resp_')}_{n}"


def response_status(finish_reason: str | None) -> tuple[str, Json | None]:
    """`(status, incomplete_details)`: a cut-off answer is `incomplete`, as the API reports."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_usage(usage: Json | None) -> Json | None:
    if not usage:
        return None
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": usage.get("prompt_tokens", 0),
        # `cache_write_tokens` is required by the SDK's model; chat never reports it.
        "input_tokens_details": {
            "cached_tokens": prompt.get("cached_tokens", 0),
            "cache_write_tokens": 0,
        },
        "output_tokens": usage.get("completion_tokens", 0),
        "output_tokens_details": {"reasoning_tokens": completion.get("reasoning_tokens", 0)},
        "total_tokens": usage.get("total_tokens", 0),
    }


def response_object(
    *,
    response_id: str,
    created: int,
    request: ResponsesRequest,
    model: str,
    status: str,
    output: list[Json],
    usage: Json | None = None,
    incomplete_details: Json | None = None,
    error: Json | None = None,
) -> Json:
    """The `response` object, echoing the request's settings as the API does."""

    def echo(value: Any, default: Any = None) -> Any:
        if value is None or isinstance(value, msgspec.UnsetType):
            return default
        return msgspec.to_builtins(value)

    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": echo(request.instructions),
        "max_output_tokens": echo(request.max_output_tokens),
        "model": model,
        "output": output,
        "parallel_tool_calls": echo(request.parallel_tool_calls, True),
        "previous_response_id": echo(request.previous_response_id),
        "reasoning": echo(request.reasoning),
        "store": echo(request.store, True),
        "temperature": echo(request.temperature),
        "text": echo(request.text, {"format": {"type": "text"}}),
        "tool_choice": echo(request.tool_choice, "auto"),
        "tools": echo(request.tools, []),
        "top_p": echo(request.top_p),
        "truncation": echo(request.truncation, "disabled"),
        "usage": usage,
        "user": echo(request.user),
        "metadata": echo(request.metadata, {}),
    }


def message_item(item_id: str, text: str, refusal: str | None, status: str) -> Json:
    content: list[Json] = []
    if text:
        content.append({"type": "output_text", "text": text, "annotations": []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Json:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def chat_to_response(
    chat_reply: Json, *, response_id: str, created: int, request: ResponsesRequest
) -> Json:
    """The `response` object for a (non-streamed) chat completion."""
    choice = (chat_reply.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    status, incomplete = response_status(choice.get("finish_reason"))
    item_status = "incomplete" if status == "incomplete" else "completed"
    output: list[Json] = []
    text, refusal = message.get("content") or "", message.get("refusal")
    if text or refusal:
        output.append(message_item(message_item_id(response_id), text, refusal, item_status))
    for n, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        output.append(
            call_item(
                call_item_id(response_id, n),
                call.get("id", ""),
                function.get("name", ""),
                function.get("arguments", ""),
                "completed",
            )
        )
    return response_object(
        response_id=response_id,
        created=created,
        request=request,
        model=chat_reply.get("model") or request.model,
        status=status,
        output=output,
        usage=response_usage(chat_reply.get("usage")),
        incomplete_details=incomplete,
    )


def output_messages(output: list[Json]) -> list[Json]:
    """A response's output items as the chat messages a later turn continues from (what
    `previous_response_id` chains): one assistant message with its text and calls."""
    texts: list[str] = []
    calls: list[Json] = []
    for item in output:
        if item.get("type") == "message":
            for part in item.get("content") or []:
                text = part.get("text") or part.get("refusal")
                if isinstance(text, str):
                    texts.append(text)
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "id": item.get("call_id", ""),
                    "type": "function",
                    "function": {
                        "name": item.get("name", ""),
                        "arguments": item.get("arguments", ""),
                    },
                }
            )
    if not texts and not calls:
        return []
    message: Json = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return [message]
