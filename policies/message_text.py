"""The text of a request as content policies see it: segments labelled by channel, and a
rewrite that changes every text in place of the original.

Channels: `user` (user turns, legacy prompts), `tool` (tool and function results),
`document` (passages inside `<document>` wrappers, whichever message carries them: what
retrieval puts into the context), `system` and `assistant` (instructions and earlier model
turns: scanned for personal data and secrets, not for injection).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.protocol.chat import (
    AssistantMessage,
    DeveloperMessage,
    FunctionMessage,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from gateway.protocol.completions import CompletionRequest
from policies.base import StageRequest

# `<document>`, `<document id="3">`, `<documents>`, `<doc ...>`, `<context>`-style wrappers
# that retrieval (ours included) uses around passages.
_DOCUMENT = re.compile(
    r"<(document|documents|doc|passage|retrieved|search_result)(?:\s[^>]{0,200})?>(.*?)</\1>",
    re.DOTALL | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Segment:
    channel: str
    text: str
    # Index of the message it came from (-1 for a legacy prompt).
    message: int = -1


def channel_of(message: Any) -> str:
    if isinstance(message, UserMessage):
        return "user"
    if isinstance(message, ToolMessage | FunctionMessage):
        return "tool"
    if isinstance(message, AssistantMessage):
        return "assistant"
    if isinstance(message, SystemMessage | DeveloperMessage):
        return "system"
    return "user"


def segments(request: StageRequest) -> list[Segment]:
    """Every text of the request, with its channel; a wrapped document is its own
    `document` segment, and the text around it keeps the message's channel."""
    found: list[Segment] = []
    if isinstance(request, CompletionRequest):
        for text in _prompt_texts(request.prompt):
            found.extend(_split_documents(text, "user", -1))
        return found
    for i, message in enumerate(request.messages):
        channel = channel_of(message)
        for text in _message_texts(message):
            found.extend(_split_documents(text, channel, i))
    return found


def user_turns(request: StageRequest) -> list[str]:
    """The user turns in order (documents they wrap left out), for multi-turn scoring."""
    return [s.text for s in segments(request) if s.channel == "user"]


def rewrite(request: StageRequest, change: Callable[[str], str]) -> StageRequest | None:
    """A copy of `request` with `change` applied to every text, or None if nothing changed.
    Texts a client sent are never changed in place: the caller's object stays as it was."""
    if isinstance(request, CompletionRequest):
        prompt = request.prompt
        if isinstance(prompt, str):
            new_prompt: Any = change(prompt)
        elif isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
            new_prompt = [change(p) for p in prompt if isinstance(p, str)]
        else:
            return None  # token arrays: nothing readable to rewrite
        if new_prompt == prompt:
            return None
        return msgspec.structs.replace(request, prompt=new_prompt)
    changed = False
    messages = []
    for message in request.messages:
        new = _rewrite_message(message, change)
        changed = changed or new is not message
        messages.append(new)
    if not changed:
        return None
    return msgspec.structs.replace(request, messages=messages)


def _rewrite_message(message: Any, change: Callable[[str], str]) -> Any:
    content = getattr(message, "content", None)
    if isinstance(content, str):
        new = change(content)
        return message if new == content else msgspec.structs.replace(message, content=new)
    if isinstance(content, list):
        parts = []
        changed = False
        for part in content:
            text = getattr(part, "text", None)
            new_text = change(text) if isinstance(text, str) else text
            if new_text != text:
                changed = True
                parts.append(msgspec.structs.replace(part, text=new_text))
            else:
                parts.append(part)
        return msgspec.structs.replace(message, content=parts) if changed else message
    return message


def _message_texts(message: Any) -> Iterator[str]:
    content = getattr(message, "content", None)
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            text = getattr(part, "text", None)
            if isinstance(text, str):
                yield text


def _prompt_texts(prompt: Any) -> Iterator[str]:
    if isinstance(prompt, str):
        yield prompt
    elif isinstance(prompt, list):
        for item in prompt:
            if isinstance(item, str):
                yield item


def _split_documents(text: str, channel: str, index: int) -> list[Segment]:
    if "<" not in text or _DOCUMENT.search(text) is None:
        return [Segment(channel, text, index)]
    out: list[Segment] = []
    rest: list[str] = []
    at = 0
    for match in _DOCUMENT.finditer(text):
        rest.append(text[at : match.start()])
        out.append(Segment("document", match.group(2), index))
        at = match.end()
    rest.append(text[at:])
    outside = "\n".join(r for r in rest if r.strip())
    if outside:
        out.insert(0, Segment(channel, outside, index))
    return out
