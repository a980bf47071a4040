"""A reply or a stream chunk as data: raw top-level fields, `choices` decoded on demand.

Backends hand the pipeline raw top-level fields (`gateway.protocol.raw`); response stages
read and change them through these wrappers. `choices` is decoded at most once, and only
when a stage asks for it; encoding writes back only what a stage changed, so every field
nobody touched (known or not) leaves byte for byte as it arrived.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gateway.protocol.raw import RawFields, encode_fields, raw

# Which text field a choice carries: chat (`delta` / `message` content) or legacy `text`.
Kind = Literal["chat", "text", "embeddings"]

_choices_decoder = msgspec.json.Decoder(list[dict[str, Any]])
_NULL = b"null"


def is_null(value: msgspec.Raw | None) -> bool:
    return value is None or bytes(value) == _NULL


def is_empty_list(value: msgspec.Raw) -> bool:
    return len(value) <= 8 and bytes(value).replace(b" ", b"") == b"[]"


class _Payload:
    __slots__ = ("_changed", "_choices", "fields", "kind")
    # The key of a choice's message object: `delta` in a chunk, `message` in a reply.
    _message_key = ""

    def __init__(self, fields: RawFields, kind: Kind) -> None:
        self.fields = fields
        self.kind = kind
        self._choices: list[dict[str, Any]] | None = None
        self._changed = False

    @property
    def has_choices(self) -> bool:
        """Whether `choices` is a non-empty list (a usage-only chunk has `[]`)."""
        if self._choices is not None:
            return bool(self._choices)
        value = self.fields.get("choices")
        return value is not None and not is_empty_list(value)

    def choices(self) -> list[dict[str, Any]]:
        """The decoded choices, for reading and changing in place; after changing them, call
        `changed()` so that they are encoded again (untouched choices stay raw)."""
        if self._choices is None:
            value = self.fields.get("choices")
            try:
                decoded = _choices_decoder.decode(value) if value is not None else []
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                decoded = []  # not a list of objects: nothing a stage could act on
            self._choices = decoded
        return self._choices

    def texts(self) -> list[tuple[dict[str, Any], str]]:
        """Each choice that carries text, with that text."""
        found = []
        for choice in self.choices():
            text = self._text_of(choice)
            if text is not None:
                found.append((choice, text))
        return found

    def changed(self) -> None:
        self._changed = True

    def set_text(self, choice: dict[str, Any], text: str) -> None:
        self._changed = True
        if self.kind == "text":
            choice["text"] = text
            return
        message = choice.get(self._message_key)
        if not isinstance(message, dict):
            message = choice[self._message_key] = {}
        message["content"] = text

    def _text_of(self, choice: dict[str, Any]) -> str | None:
        if self.kind == "text":
            text = choice.get("text")
        else:
            message = choice.get(self._message_key)
            text = message.get("content") if isinstance(message, dict) else None
        return text if isinstance(text, str) else None

    def encode(self) -> bytes:
        if self._changed and self._choices is not None:
            self.fields["choices"] = raw(self._choices)
            self._changed = False
        return encode_fields(self.fields)


class Chunk(_Payload):
    """One stream chunk (`chat.completion.chunk` or a legacy `text_completion` chunk)."""

    __slots__ = ()
    _message_key = "delta"


class Reply(_Payload):
    """One whole JSON reply (chat, legacy completion or embeddings)."""

    __slots__ = ()
    _message_key = "message"
