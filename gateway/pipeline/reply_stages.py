"""The built-in response stages that hold the streaming contract, whatever the backend sent.

- `UsageStage`: meters the reply's usage into the context (once per model call) and, in a
  stream, takes usage off the chunks: with `stream_options.include_usage` the client gets
  exactly one final chunk with `choices: []` and the usage; without it, no usage at all
  (even when the gateway asked the upstream for usage, to meter it);
- `AssistantRoleStage`: the first chat delta of every choice carries `role`;
- `IdentityStage`: `id`, `created` stay those of the first chunk and `model` is the id the
  client asked for (in JSON replies too).

They run after the policy stages, so chunks a policy stage adds are stamped like the rest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import msgspec

from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.common import Usage
from gateway.protocol.payload import Chunk, Reply, is_null
from gateway.protocol.raw import raw
from policies.base import AnyRequest, StreamOutcome

_NULL = msgspec.Raw(b"null")


class _ReportedUsage(msgspec.Struct):
    """Usage as backends report it: embedding replies carry no `completion_tokens`."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


_usage_decoder = msgspec.json.Decoder(_ReportedUsage)
# Past this many choice indices, stop checking roles (n is at most 128).
_MAX_ROLE_CHOICES = 128


def decode_usage(value: msgspec.Raw | None) -> Usage | None:
    if is_null(value):
        return None
    assert value is not None
    try:
        got = _usage_decoder.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if min(got.prompt_tokens, got.completion_tokens, got.total_tokens) < 0:
        return None
    return Usage(
        prompt_tokens=got.prompt_tokens,
        completion_tokens=got.completion_tokens,
        total_tokens=got.total_tokens or got.prompt_tokens + got.completion_tokens,
    )


def new_chunk_id() -> str:
    return f"chatcmpl-{os.urandom(12).hex()}"  # as random as uuid4, a third of its cost


class _PassThrough:
    """Defaults for filters that act on only some of the calls. The built-in filters never
    wait, so they offer `chunk_inline` (the chain calls it without a coroutine)."""

    __slots__ = ()

    def chunk_inline(self, chunk: Chunk) -> Sequence[Chunk]:
        return (chunk,)

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]:
        return self.chunk_inline(chunk)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        return ()

    async def reply(self, reply: Reply) -> Reply:
        return reply


class UsageStage:
    name = "usage"

    def open(self, request: AnyRequest, ctx: RequestContext) -> _UsageFilter:
        return _UsageFilter(request.wants_usage_chunk, ctx)


class _UsageFilter(_PassThrough):
    __slots__ = ("_ctx", "_object", "_pending", "_wants")

    def __init__(self, wants: bool, ctx: RequestContext) -> None:
        self._wants = wants
        self._ctx = ctx
        # Upstreams may repeat (cumulative) usage on several chunks: the last one counts.
        self._pending: msgspec.Raw | None = None
        self._object: msgspec.Raw | None = None

    def chunk_inline(self, chunk: Chunk) -> Sequence[Chunk]:
        fields = chunk.fields
        if self._object is None:
            self._object = fields.get("object")
        usage = fields.pop("usage", None)
        if not is_null(usage):
            self._pending = usage
        if not chunk.has_choices:
            return ()  # a usage-only chunk: sent once, at the end, and only if asked for
        if self._wants:
            fields["usage"] = _NULL
        return (chunk,)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        usage = decode_usage(self._pending)
        if usage is not None:
            self._ctx.add_usage(usage)
        if outcome is not StreamOutcome.COMPLETED or not self._wants:
            return ()
        fields = {
            "object": self._object or raw("chat.completion.chunk"),
            "choices": raw([]),
            "usage": self._pending
            or raw(Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)),
        }
        return (Chunk(fields, "chat"),)

    async def reply(self, reply: Reply) -> Reply:
        usage = decode_usage(reply.fields.get("usage"))
        if usage is not None:
            self._ctx.add_usage(usage)
        return reply


class AssistantRoleStage:
    name = "assistant_role"

    def open(self, request: AnyRequest, ctx: RequestContext) -> _RoleFilter | None:
        if not isinstance(request, ChatCompletionRequest) or not request.is_stream:
            return None  # a JSON reply's message carries its own role
        n = request.n if isinstance(request.n, int) else 1
        return _RoleFilter(max(1, min(n, _MAX_ROLE_CHOICES)))


class _RoleFilter(_PassThrough):
    __slots__ = ("_choices", "_seen")

    def __init__(self, choices: int) -> None:
        self._choices = choices
        self._seen: set[int] = set()

    def chunk_inline(self, chunk: Chunk) -> Sequence[Chunk]:
        if len(self._seen) >= self._choices or not chunk.has_choices:
            return (chunk,)
        for choice in chunk.choices():
            index = choice.get("index", 0)
            if not isinstance(index, int) or index in self._seen:
                continue
            self._seen.add(index)
            delta = choice.get("delta")
            if isinstance(delta, dict) and "role" not in delta:
                delta["role"] = "assistant"
                chunk.changed()
        return (chunk,)


class IdentityStage:
    name = "identity"

    def open(self, request: AnyRequest, ctx: RequestContext) -> _IdentityFilter:
        return _IdentityFilter(raw(ctx.model))


class _IdentityFilter(_PassThrough):
    __slots__ = ("_created", "_id", "_model")

    def __init__(self, model: msgspec.Raw) -> None:
        self._model = model
        self._id: msgspec.Raw | None = None
        self._created: msgspec.Raw | None = None

    def chunk_inline(self, chunk: Chunk) -> Sequence[Chunk]:
        fields = chunk.fields
        if self._id is None:
            self._take_ids(fields)
            if self._id is None:  # none usable yet: ours, and constant from now on
                self._id = raw(new_chunk_id())
                self._created = raw(int(time.time()))
        fields["id"] = self._id
        fields["created"] = self._created or raw(int(time.time()))
        fields["model"] = self._model
        return (chunk,)

    async def reply(self, reply: Reply) -> Reply:
        reply.fields["model"] = self._model
        return reply

    def _take_ids(self, fields: dict[str, msgspec.Raw]) -> None:
        """`id`/`created` of the first chunk that has real ones (Azure opens with a chunk
        whose id is empty and `created` is 0)."""
        chunk_id = fields.get("id")
        if chunk_id is None or bytes(chunk_id) in (b'""', b"null"):
            return
        self._id = chunk_id
        created = fields.get("created")
        if created is not None and bytes(created) not in (b"0", b"null"):
            self._created = created
        else:
            self._created = raw(int(time.time()))
