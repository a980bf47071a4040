"""The request checks of the loopback Anthropic API (`anthropic_upstream`): what the real
Messages API refuses with a 400, each with a message in its style (`<path>: <problem>`)."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
_TOOL_CHOICES = ("auto", "any", "tool", "none")
_BLOCK_TYPES = ("text", "image", "document", "tool_use", "tool_result", "thinking")


class RequestProblem(Exception):
    """A request the real API would refuse (400 invalid_request_error)."""


def check_request(body: Any) -> None:
    if not isinstance(body, dict):
        raise RequestProblem("body: Input should be an object")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise RequestProblem(f"{key}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise RequestProblem("model: Input should be a non-empty string")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestProblem("max_tokens: Input should be an integer of at least 1")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise RequestProblem("temperature: Input should be less than or equal to 1")
    _check_system(body.get("system"))
    _check_stops(body.get("stop_sequences"))
    names = _check_tools(body.get("tools"))
    _check_tool_choice(body.get("tool_choice"), names)
    _check_messages(body["messages"])
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or set(metadata) - {"user_id"}):
        raise RequestProblem("metadata: Extra inputs are not permitted")


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list) or not all(
        isinstance(b, dict) and b.get("type") == "text" and b.get("text") for b in system
    ):
        raise RequestProblem("system: Input should be a string or a list of text blocks")


def _check_stops(stops: Any) -> None:
    if stops is None:
        return
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise RequestProblem("stop_sequences: Input should be a list of strings")
    if any(not s.strip() for s in stops):
        raise RequestProblem("stop_sequences: each stop sequence must contain non-whitespace")


def _check_tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise RequestProblem("tools: Input should be a valid list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise RequestProblem(f"tools.{i}.name: Field required")
        if not isinstance(tool.get("input_schema"), dict):
            raise RequestProblem(f"tools.{i}.input_schema: Field required")
        if tool["name"] in names:
            raise RequestProblem("tools: Tool names must be unique.")
        names.add(tool["name"])
    return names


def _check_tool_choice(choice: Any, names: set[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in _TOOL_CHOICES:
        raise RequestProblem("tool_choice: Input tag does not match any of the expected tags")
    if choice["type"] == "none" and "disable_parallel_tool_use" in choice:
        raise RequestProblem(
            "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted"
        )
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise RequestProblem("tool_choice: Tool names must match one of the provided tools")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise RequestProblem("messages: at least one message is required")
    pending: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise RequestProblem(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        blocks = _blocks(message.get("content"), i)
        answered = {b.get("tool_use_id") for b in blocks if b["type"] == "tool_result"}
        if pending and (message["role"] != "user" or not pending <= answered):
            raise RequestProblem(
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                "immediately after"
            )
        if pending:
            leading = [b["type"] for b in blocks[: len(answered)]]
            if any(kind != "tool_result" for kind in leading):
                raise RequestProblem(f"messages.{i}.content: tool_result blocks must come first")
        if answered - pending:
            raise RequestProblem(
                f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks"
            )
        pending = {str(b["id"]) for b in blocks if b["type"] == "tool_use"}
        if pending and message["role"] != "assistant":
            raise RequestProblem(f"messages.{i}: tool_use blocks are for assistant turns")
    if pending:
        raise RequestProblem("messages: the last `tool_use` blocks have no `tool_result`")


def _blocks(content: Any, i: int) -> list[Json]:
    if isinstance(content, str):
        if not content:
            raise RequestProblem(f"messages.{i}.content: text content blocks must be non-empty")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise RequestProblem(f"messages.{i}.content: Input should be a string or a list")
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            raise RequestProblem(f"{where}: Input tag does not match any of the expected tags")
        kind = block["type"]
        if kind == "text" and not (isinstance(block.get("text"), str) and block["text"]):
            raise RequestProblem(f"{where}: text content blocks must be non-empty")
        if kind == "tool_use" and not all(k in block for k in ("id", "name", "input")):
            raise RequestProblem(f"{where}: tool_use blocks need id, name and input")
        if kind == "tool_use" and not isinstance(block["input"], dict):
            raise RequestProblem(f"{where}.input: Input should be a valid dictionary")
        if kind == "tool_result" and not isinstance(block.get("tool_use_id"), str):
            raise RequestProblem(f"{where}.tool_use_id: Field required")
        if kind == "image":
            _check_image(block.get("source"), where)
    return content


def _check_image(source: Any, where: str) -> None:
    if not isinstance(source, dict):
        raise RequestProblem(f"{where}.source: Field required")
    if source.get("type") == "base64":
        if not source.get("media_type") or not isinstance(source.get("data"), str):
            raise RequestProblem(f"{where}.source: base64 sources need media_type and data")
    elif source.get("type") == "url":
        if not str(source.get("url", "")).startswith(("http://", "https://")):
            raise RequestProblem(f"{where}.source.url: must be an http(s) URL")
    else:
        raise RequestProblem(f"{where}.source: Input tag does not match any of the expected tags")


def last_user_text(body: Json, *, keep_directives: bool = True) -> str:
    """The text of the last user turn (`!token` script words dropped unless kept)."""
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        else:
            blocks = [b for b in content or [] if isinstance(b, dict)]
            # a tool answer reads as text, so a tool loop's next reply shows what it got
            parts = [b.get("text") or b.get("content", "") for b in blocks]
            text = " ".join(p for p in parts if isinstance(p, str) and p)
        if keep_directives:
            return text
        return " ".join(w for w in text.split(" ") if not w.startswith("!"))
    return ""
