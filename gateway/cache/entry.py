"""What the cache stores: a complete upstream answer in one neutral form, whether it came
as a JSON reply or as a stream, and how it is played back as either.

Only complete answers are stored: every choice finished with `stop` or `tool_calls` (never
`length`, `content_filter` or an error). Playback gives a fresh `id` and `created`; the
response stages (redaction, identity, usage) then run on it as on a live answer.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

import msgspec

from gateway.protocol.payload import Kind, is_null
from gateway.protocol.raw import RawFields, raw

COMPLETE = frozenset({"stop", "tool_calls"})
# Playback pieces: about a few words of text, a short run of tool-call arguments.
TEXT_PIECE = 24
ARGUMENTS_PIECE = 32

_decoder = msgspec.json.Decoder(list[dict[str, Any]])
_any = msgspec.json.Decoder()


class CachedAnswer(msgspec.Struct, frozen=True):
    kind: Literal["chat", "text"]
    # Choices in their JSON-reply form (`message` for chat, `text` for legacy completions).
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None
    model: str | None = None
    system_fingerprint: str | None = None
    # Where it was answered (the `x-gateway-target` of the original).
    backend: str | None = None
    upstream_model: str | None = None


def from_reply(fields: RawFields, kind: Kind) -> CachedAnswer | None:
    """The answer of a JSON reply, or None when it may not be stored."""
    if kind == "embeddings":
        return None
    try:
        choices = _decoder.decode(fields.get("choices") or b"[]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not choices or any(c.get("finish_reason") not in COMPLETE for c in choices):
        return None
    return CachedAnswer(
        kind=kind,
        choices=[_stored_choice(c, kind) for c in choices],
        usage=_optional(fields, "usage"),
        model=_optional(fields, "model"),
        system_fingerprint=_optional(fields, "system_fingerprint"),
    )


class StreamAssembler:
    """Builds the answer a stream carries, chunk by chunk (its raw upstream chunks)."""

    __slots__ = ("_choices", "_fields", "_kind", "_usage", "broken")

    def __init__(self, kind: Kind) -> None:
        self._kind = kind
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None
        self._fields: dict[str, Any] = {}
        self.broken = kind == "embeddings"

    def feed(self, fields: RawFields) -> None:
        if self.broken:
            return
        try:
            self._feed(fields)
        except (
            msgspec.DecodeError,
            msgspec.ValidationError,
            AttributeError,
            KeyError,
            TypeError,
            ValueError,
        ):
            self.broken = True  # an odd chunk: serve it, never store it

    def _feed(self, fields: RawFields) -> None:
        for name in ("model", "system_fingerprint"):
            if name not in self._fields and not is_null(fields.get(name)):
                self._fields[name] = _any.decode(fields[name])
        if not is_null(fields.get("usage")):
            self._usage = _any.decode(fields["usage"])
        value = fields.get("choices")
        if value is None:
            return
        for choice in _decoder.decode(value):
            index = choice.get("index", 0)
            if not isinstance(index, int):
                raise ValueError("choice index")
            into = self._choices.setdefault(index, {"index": index, "parts": [], "calls": {}})
            if self._kind == "text":
                text = choice.get("text")
                if isinstance(text, str):
                    into["parts"].append(text)
            else:
                _merge_delta(into, choice.get("delta") or {})
            if choice.get("finish_reason") is not None:
                into["finish_reason"] = choice["finish_reason"]

    def answer(self, *, complete_only: bool = True) -> CachedAnswer | None:
        """The complete answer, or None when it may not be stored; with `complete_only`
        off, also one cut short (`length`, or no finish at all: the stream stopped)."""
        choices = [self._choices[i] for i in sorted(self._choices)]
        if self.broken or not choices:
            return None
        if complete_only and any(c.get("finish_reason") not in COMPLETE for c in choices):
            return None
        kind: Literal["chat", "text"] = "text" if self._kind == "text" else "chat"
        return CachedAnswer(
            kind=kind,
            choices=[_assembled(c, kind) for c in choices],
            usage=self._usage if isinstance(self._usage, dict) else None,
            model=self._fields.get("model"),
            system_fingerprint=self._fields.get("system_fingerprint"),
        )


def reply_fields(answer: CachedAnswer, template: RawFields | None = None) -> RawFields:
    """The answer as a JSON reply's top-level fields (from its `reply_template`, when the
    caller kept one: encoding the choices is most of the work)."""
    fields = dict(template if template is not None else reply_template(answer))
    fields["id"] = raw(_new_id(answer.kind))
    fields["created"] = raw(int(time.time()))
    return fields


def reply_template(answer: CachedAnswer) -> RawFields:
    """The fields every JSON playback of `answer` shares (all but `id` and `created`)."""
    fields: RawFields = {
        "object": raw("chat.completion" if answer.kind == "chat" else "text_completion"),
        "model": raw(answer.model or ""),
        "choices": raw(answer.choices),
    }
    if answer.usage is not None:
        fields["usage"] = raw(answer.usage)
    if answer.system_fingerprint is not None:
        fields["system_fingerprint"] = raw(answer.system_fingerprint)
    return fields


def stream_chunks(answer: CachedAnswer) -> list[RawFields]:
    """The answer as a live stream's chunks: text and arguments in short pieces, then each
    choice's finish, then a usage-only chunk (the usage stage keeps it only when the client
    asked for it)."""
    head: RawFields = {
        "id": raw(_new_id(answer.kind)),
        "object": raw("chat.completion.chunk" if answer.kind == "chat" else "text_completion"),
        "created": raw(int(time.time())),
        "model": raw(answer.model or ""),
    }
    if answer.system_fingerprint is not None:
        head["system_fingerprint"] = raw(answer.system_fingerprint)
    out: list[RawFields] = []
    for choice in answer.choices:
        for piece in _choice_pieces(choice, answer.kind):
            out.append({**head, "choices": raw([piece])})
    if answer.usage is not None:
        out.append({**head, "choices": raw([]), "usage": raw(answer.usage)})
    return out


def _choice_pieces(choice: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    index = choice.get("index", 0)
    finish = choice.get("finish_reason")
    if kind == "text":
        texts = _pieces(choice.get("text") or "", TEXT_PIECE) or [""]
        pieces = [
            {"index": index, "text": t, "logprobs": None, "finish_reason": None} for t in texts
        ]
        pieces[-1]["finish_reason"] = finish
        return pieces
    message = choice.get("message") or {}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": t} for t in _pieces(message.get("content") or "", TEXT_PIECE)]
    if message.get("refusal"):
        deltas.append({"refusal": message["refusal"]})
    for i, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        opening = {"index": i, "id": call.get("id"), "type": call.get("type", "function")}
        opening["function"] = {"name": function.get("name"), "arguments": ""}
        deltas.append({"tool_calls": [opening]})
        for part in _pieces(function.get("arguments") or "", ARGUMENTS_PIECE, words=False):
            deltas.append({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
    out = [{"index": index, "delta": d, "finish_reason": None} for d in deltas]
    out.append({"index": index, "delta": {}, "finish_reason": finish})
    return out


def _pieces(text: str, size: int, *, words: bool = True) -> list[str]:
    """`text` in pieces of about `size` characters, cut after a space where there is one."""
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if words and end < len(text):
            space = text.rfind(" ", start + 1, end)
            if space > start:
                end = space + 1
        out.append(text[start:end])
        start = end
    return out


def _merge_delta(into: dict[str, Any], delta: dict[str, Any]) -> None:
    if isinstance(delta.get("content"), str):
        into["parts"].append(delta["content"])
    if isinstance(delta.get("refusal"), str):
        into["refusal"] = into.get("refusal", "") + delta["refusal"]
    for call in delta.get("tool_calls") or ():
        slot = into["calls"].setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
        if call.get("id"):
            slot["id"] = call["id"]
        function = call.get("function") or {}
        slot["name"] += function.get("name") or ""
        slot["arguments"] += function.get("arguments") or ""


def _assembled(choice: dict[str, Any], kind: str) -> dict[str, Any]:
    text = "".join(choice["parts"])
    if kind == "text":
        return {
            "index": choice["index"],
            "text": text,
            "finish_reason": choice.get("finish_reason"),
            "logprobs": None,
        }
    calls = [
        {
            "id": slot["id"],
            "type": "function",
            "function": {"name": slot["name"], "arguments": slot["arguments"]},
        }
        for _, slot in sorted(choice["calls"].items())
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if "refusal" in choice:
        message["refusal"] = choice["refusal"]
    if calls:
        message["tool_calls"] = calls
    return {
        "index": choice["index"],
        "message": message,
        "finish_reason": choice.get("finish_reason"),
        "logprobs": None,  # as `_stored_choice` writes it: a JSON reply's choice carries it
    }


def _stored_choice(choice: dict[str, Any], kind: str) -> dict[str, Any]:
    # Logprobs are not replayed piece by piece: requests asking for them are not cached.
    return {k: v for k, v in choice.items() if k != "logprobs"} | {"logprobs": None}


def _optional(fields: RawFields, name: str) -> Any:
    value = fields.get(name)
    return None if is_null(value) else _any.decode(value)  # type: ignore[arg-type]


def _new_id(kind: str) -> str:
    prefix = "chatcmpl" if kind == "chat" else "cmpl"
    return f"{prefix}-{os.urandom(12).hex()}"
