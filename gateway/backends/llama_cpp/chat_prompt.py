"""Chat messages -> one prompt string, through the GGUF's own chat template.

Templates are strict about shapes small models were trained on, so messages are normalised
first: `developer` becomes `system`, text parts are joined, `null` content becomes "" (some
templates raise on None), assistant tool-call arguments are passed as objects (some templates
`tojson` them again). When the template ignores `tools`, their schemas go into the system
prompt, so the model still sees them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.errors import InvalidRequestError
from gateway.protocol.chat import (
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    DeveloperMessage,
    FunctionDefinition,
    FunctionMessage,
    SystemMessage,
    Tool,
    ToolMessage,
    UserMessage,
)

TOOLS_PREAMBLE = (
    "You can call these tools. To call one, reply with only a JSON object "
    '{"name": <tool name>, "arguments": <arguments object>}.\nTools:\n'
)


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    text: str
    stop: tuple[str, ...]
    # Whether the template already put the BOS token in the text.
    has_bos: bool


class ChatPrompter:
    def __init__(self, template: str | None, bos_token: str, eos_token: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._template = template
        self._renders_tools = bool(template) and "tools" in (template or "")
        self._formatter = (
            Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token)
            if template
            else None
        )
        self._eos = eos_token

    @property
    def has_template(self) -> bool:
        return self._formatter is not None

    def render(self, request: ChatCompletionRequest) -> RenderedPrompt:
        if self._formatter is None:
            raise InvalidRequestError(
                f"model `{request.model}` has no chat template; use /v1/completions",
                param="model",
            )
        messages = [_message(m) for m in request.messages]
        tools = [msgspec.to_builtins(t) for t in function_tools(request)] or None
        if tools and not self._renders_tools:
            messages = _with_tools_in_system(messages, tools)
            tools = None
        try:
            rendered = self._formatter(messages=messages, tools=tools)  # type: ignore[arg-type]
        except Exception as exc:  # jinja2 raises its own tree, and templates raise_exception()
            raise InvalidRequestError(
                f"the model's chat template rejected these messages: {exc}", param="messages"
            ) from None
        stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
        return RenderedPrompt(
            text=rendered.prompt,
            stop=tuple(s for s in stop if isinstance(s, str) and s),
            has_bos=bool(getattr(rendered, "added_special", False)),
        )


def function_tools(request: ChatCompletionRequest) -> list[Tool]:
    """The request's tools; local models call functions only."""
    tools = request.tools if isinstance(request.tools, list) else []
    for tool in tools:
        if not isinstance(tool.function, FunctionDefinition):
            raise InvalidRequestError(
                f"local models support `function` tools only, not `{tool.type}`", param="tools"
            )
    return tools


def _text(content: object, role: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, ContentPart) and isinstance(part.text, str):
            parts.append(part.text)
        elif isinstance(part, ContentPart) and isinstance(part.refusal, str):
            parts.append(part.refusal)
        else:
            kind = part.type if isinstance(part, ContentPart) else type(part).__name__
            raise InvalidRequestError(
                f"this local model reads text only; a {role} message has a `{kind}` part",
                param="messages",
            )
    return "".join(parts)


def _message(message: ChatMessage) -> dict[str, Any]:
    if isinstance(message, SystemMessage | DeveloperMessage):
        return {"role": "system", "content": _text(message.content, "system")}
    if isinstance(message, UserMessage):
        return {"role": "user", "content": _text(message.content, "user")}
    if isinstance(message, AssistantMessage):
        out: dict[str, Any] = {"role": "assistant", "content": _text(message.content, "assistant")}
        if isinstance(message.tool_calls, list) and message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": _arguments(call.function.arguments),
                    },
                }
                for call in message.tool_calls
            ]
        return out
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "content": _text(message.content, "tool"),
            "tool_call_id": message.tool_call_id,
        }
    if isinstance(message, FunctionMessage):
        return {"role": "tool", "content": message.content or "", "name": message.name}
    raise InvalidRequestError("unsupported message", param="messages")


def _arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _with_tools_in_system(messages: list[dict[str, Any]], tools: list[Any]) -> list[dict[str, Any]]:
    listing = "\n".join(json.dumps(t.get("function", t)) for t in tools)
    preamble = TOOLS_PREAMBLE + listing
    if messages and messages[0]["role"] == "system":
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{preamble}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": preamble}, *messages]
