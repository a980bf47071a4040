"""The streaming contract, enforced whatever the backend sent.

- every event is `data: <json>\\n\\n`; a successful stream ends with `data: [DONE]\\n\\n`;
- `id`, `created` stay those of the first chunk and `model` is the id the client asked for;
- the first chat delta carries `role`;
- with `stream_options.include_usage` the client gets exactly one final chunk with
  `choices: []` and the usage; without it, no usage at all (even when the gateway asked the
  upstream for usage, to meter it);
- past the commit point a failure becomes one `data: {"error": ...}` event and the stream ends.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from gateway.context import RequestContext
from gateway.errors import GatewayError
from gateway.pipeline.executor import OpenedStream
from gateway.protocol.common import Usage
from gateway.protocol.raw import RawFields, encode_fields, raw

DONE_FRAME = b"data: [DONE]\n\n"
_NULL = b"null"
_usage_decoder = msgspec.json.Decoder(Usage)
_choices_decoder = msgspec.json.Decoder(list[dict[str, Any]])
# Past this many choice indices, stop checking roles (n is at most 128).
_MAX_ROLE_CHOICES = 128
log = logging.getLogger("gateway.stream")


def sse_frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def error_frame(exc: GatewayError) -> bytes:
    return sse_frame(exc.body())


def _is_empty_list(value: msgspec.Raw) -> bool:
    return len(value) <= 8 and bytes(value).replace(b" ", b"") == b"[]"


def decode_usage(value: msgspec.Raw | None) -> Usage | None:
    if value is None or bytes(value) == _NULL:
        return None
    try:
        return _usage_decoder.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class ChunkNormalizer:
    def __init__(
        self,
        model: str,
        *,
        wants_usage: bool,
        chat: bool,
        ctx: RequestContext,
        choices: int = 1,
    ) -> None:
        self._model = raw(model)
        self._wants_usage = wants_usage
        self._chat = chat
        self._ctx = ctx
        self._id: msgspec.Raw | None = None
        self._created: msgspec.Raw | None = None
        self._object: msgspec.Raw | None = None
        self._pending_usage: msgspec.Raw | None = None
        self._usage_sent = False
        self._roles_seen: set[int] = set()
        self._choices = max(1, min(choices, _MAX_ROLE_CHOICES))

    def frame(self, fields: RawFields) -> bytes | None:
        """The SSE frame for one chunk, or None when the chunk must not reach the client."""
        if self._id is None:
            self._take_ids(fields)
        fields["id"] = self._id or raw(_new_id())
        fields["created"] = self._created or raw(int(time.time()))
        fields["model"] = self._model
        usage = fields.pop("usage", None)
        if usage is not None and bytes(usage) != _NULL:
            self._pending_usage = usage
            self._ctx.usage = decode_usage(usage)
        choices = fields.get("choices")
        if choices is None or _is_empty_list(choices):
            # A usage-only chunk: sent once, at the end, and only if the client asked.
            return None
        if self._chat and len(self._roles_seen) < self._choices:
            self._ensure_roles(fields, choices)
        if self._wants_usage:
            fields["usage"] = msgspec.Raw(_NULL)
        return sse_frame(encode_fields(fields))

    def finish(self) -> bytes:
        """The closing frames: the usage chunk if asked for, then `[DONE]`."""
        if not self._wants_usage or self._usage_sent:
            return DONE_FRAME
        self._usage_sent = True
        usage = self._pending_usage or raw(
            Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        )
        chunk = {
            "id": self._id or raw(_new_id()),
            "object": self._object or raw("chat.completion.chunk"),
            "created": self._created or raw(int(time.time())),
            "model": self._model,
            "choices": raw([]),
            "usage": usage,
        }
        return sse_frame(encode_fields(chunk)) + DONE_FRAME

    def _take_ids(self, fields: RawFields) -> None:
        """`id`/`created` of the first chunk that has real ones (Azure opens with a chunk
        whose id is empty and `created` is 0)."""
        chunk_id = fields.get("id")
        if chunk_id is None or bytes(chunk_id) in (b'""', _NULL):
            return
        self._id = chunk_id
        created = fields.get("created")
        if created is not None and bytes(created) not in (b"0", _NULL):
            self._created = created
        else:
            self._created = raw(int(time.time()))
        self._object = fields.get("object")

    def _ensure_roles(self, fields: RawFields, choices: msgspec.Raw) -> None:
        """`role` on the first delta of every choice index, whichever chunk carries it."""
        try:
            decoded = _choices_decoder.decode(choices)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return
        changed = False
        for choice in decoded:
            index = choice.get("index", 0)
            if not isinstance(index, int) or index in self._roles_seen:
                continue
            self._roles_seen.add(index)
            delta = choice.get("delta")
            if isinstance(delta, dict) and "role" not in delta:
                delta["role"] = "assistant"
                changed = True
        if changed:
            fields["choices"] = raw(decoded)


async def sse_frames(opened: OpenedStream, normalizer: ChunkNormalizer) -> AsyncIterator[bytes]:
    """Frames for a committed stream; closing this iterator closes the upstream stream."""
    try:
        if opened.first is not None:
            frame = normalizer.frame(opened.first)
            if frame is not None:
                yield frame
        async for fields in opened.rest:
            frame = normalizer.frame(fields)
            if frame is not None:
                yield frame
        yield normalizer.finish()
    except GatewayError as exc:
        log.warning("stream failed after commit: %s", exc.message)
        yield error_frame(exc)
    except Exception:
        log.exception("stream failed after commit")
        yield error_frame(GatewayError("The gateway failed while streaming the reply."))
    finally:
        await opened.aclose()


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
