"""Response stages driven through the real pipeline (no HTTP): the same stage gives the same
text in a JSON reply and in a stream cut at random, and sees how each stream ended."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.backends.base import BackendCall, Capabilities
from gateway.context import RequestContext
from gateway.errors import BadGatewayError
from gateway.holdback import HeldText, first_match, partial_prefix_length
from gateway.pipeline.executor import Executor
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.pipeline import Pipeline
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from gateway.protocol.common import StreamOptions
from gateway.protocol.payload import Chunk, Reply
from gateway.protocol.raw import RawFields, decode_fields, from_struct
from gateway.resilience.target_policy import TargetPolicy
from gateway.settings.schema import Retries
from policies.base import AnyRequest, StreamOutcome
from routers import CatalogEntry, ModelCatalog, StaticRouter

USAGE = {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}


def fields(value: dict[str, Any]) -> RawFields:
    return decode_fields(msgspec.json.encode(value))


class TextBackend:
    """Answers with `text`: whole, or streamed in the pieces given by `cuts`."""

    name = "t"
    capabilities = Capabilities()

    def __init__(self, text: str, cuts: Sequence[int] = (), fail_after: int | None = None):
        self.text = text
        self.cuts = sorted(set(c for c in cuts if 0 < c < len(text)))
        self.fail_after = fail_after

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    async def complete(self, call: BackendCall) -> RawFields:
        message = {"role": "assistant", "content": self.text}
        return fields(
            {
                "id": "r1",
                "object": "chat.completion",
                "created": 7,
                "model": "up",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": USAGE,
            }
        )

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        bounds = [0, *self.cuts, len(self.text)]
        pieces = [self.text[a:b] for a, b in itertools.pairwise(bounds)]
        for i, piece in enumerate(pieces):
            if self.fail_after is not None and i == self.fail_after:
                raise BadGatewayError("scripted death mid-stream", code="upstream_died")
            yield self._chunk({"content": piece}, None)
        yield self._chunk({}, "stop")
        yield fields(
            {"id": "s1", "object": "chat.completion.chunk", "created": 7, "model": "up",
             "choices": [], "usage": USAGE}
        )  # fmt: skip

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> RawFields:
        return fields(
            {
                "id": "s1",
                "object": "chat.completion.chunk",
                "created": 7,
                "model": "up",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )


class _TextFilter:
    """Applies a text transform per choice, holding text back with `HeldText`; text held
    when a choice finishes goes out with its finishing chunk."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._held: dict[int, Any] = {}

    def _state(self, index: int) -> Any:
        return self._held.setdefault(index, self._make())

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]:
        for choice in chunk.choices():
            index = choice.get("index", 0)
            state = self._state(index)
            delta = choice.get("delta") or {}
            text = delta.get("content") if isinstance(delta, dict) else None
            out = state.push(text) if isinstance(text, str) else ""
            if choice.get("finish_reason") is not None:
                out += state.flush()
            if isinstance(text, str) or out:
                chunk.set_text(choice, out)
        return (chunk,)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        return ()

    async def reply(self, reply: Reply) -> Reply:
        for choice, text in reply.texts():
            state = self._make()
            reply.set_text(choice, state.push(text) + state.flush())
        return reply


class _Upper:
    def push(self, text: str) -> str:
        return text.upper()

    def flush(self) -> str:
        return ""


class _Redact:
    """Replaces a literal that may arrive split across chunks: the shared hold-back."""

    SECRET = "hunter2"

    def __init__(self) -> None:
        self._held = HeldText(lambda pending: partial_prefix_length(pending, [self.SECRET]))
        self._tail = ""

    def push(self, text: str) -> str:
        pending = self._held.flush() + text
        out = ""
        while (at := first_match(pending, [self.SECRET])) >= 0:
            out += pending[:at] + "[REDACTED]"
            pending = pending[at + len(self.SECRET) :]
        return out + self._held.push(pending)

    def flush(self) -> str:
        return self._held.flush()


class TextStage:
    name = "text"

    def __init__(self, make: Any) -> None:
        self._make = make

    def open(self, request: AnyRequest, ctx: RequestContext) -> _TextFilter:
        return _TextFilter(self._make)


class OutcomeStage:
    name = "outcome"

    def __init__(self) -> None:
        self.outcomes: list[StreamOutcome] = []

    def open(self, request: AnyRequest, ctx: RequestContext) -> _OutcomeFilter:
        return _OutcomeFilter(self.outcomes)


class _OutcomeFilter:
    def __init__(self, outcomes: list[StreamOutcome]) -> None:
        self._outcomes = outcomes

    async def chunk(self, chunk: Chunk) -> Sequence[Chunk]:
        return (chunk,)

    async def finish(self, outcome: StreamOutcome) -> Sequence[Chunk]:
        self._outcomes.append(outcome)
        return ()

    async def reply(self, reply: Reply) -> Reply:
        return reply


def pipeline(backend: TextBackend, *stages: Any) -> Pipeline:
    catalog = ModelCatalog([CatalogEntry("alias", "t", "up")])
    executor = Executor({"t": backend}, lambda target: TargetPolicy(Retries()))
    return Pipeline(StaticRouter(catalog), executor, response_stages=stages)


def parsed(stream: bool, usage: bool = False) -> ParsedRequest:
    request = ChatCompletionRequest(
        model="alias",
        messages=[UserMessage(content="hi")],
        stream=stream,
        stream_options=StreamOptions(include_usage=True) if usage else msgspec.UNSET,
    )
    return ParsedRequest("chat/completions", request, from_struct(request))


async def json_text(p: Pipeline) -> str:
    ctx = RequestContext(request_id="j", endpoint="chat/completions")
    reply = msgspec.json.decode((await p.complete(parsed(False), ctx)).encode())
    assert reply["model"] == "alias"
    return str(reply["choices"][0]["message"]["content"])


async def stream_text(p: Pipeline, usage: bool = False) -> tuple[str, list[dict[str, Any]]]:
    ctx = RequestContext(request_id="s", endpoint="chat/completions")
    chunks = [
        msgspec.json.decode(c.encode()) async for c in await p.stream(parsed(True, usage), ctx)
    ]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    return text, chunks


@settings(max_examples=60, deadline=None)
@given(
    # Words, not characters: the secret (and its prefixes) must turn up, cut anywhere.
    text=st.lists(
        st.sampled_from(["a", "b", " ", "\n", "hunter2", "hun", "hunter", "\u00e9", "\U0001f600"]),
        max_size=12,
    ).map("".join),
    cuts=st.lists(st.integers(min_value=1, max_value=59), max_size=12),
)
def test_json_and_a_randomly_cut_stream_read_the_same_after_a_stage(
    text: str, cuts: list[int]
) -> None:
    for make, expected in (
        (_Upper, text.upper()),
        (_Redact, text.replace(_Redact.SECRET, "[REDACTED]")),
    ):
        backend = TextBackend(text, cuts)
        p = pipeline(backend, TextStage(make))
        assert asyncio.run(json_text(p)) == expected
        streamed, chunks = asyncio.run(stream_text(p, usage=True))
        assert streamed == expected
        # The contract still holds around the stage: role first, one usage chunk at the end.
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE
        assert {c["model"] for c in chunks} == {"alias"}


def test_a_stage_sees_a_completed_stream() -> None:
    seen = OutcomeStage()
    asyncio.run(stream_text(pipeline(TextBackend("one two", [3]), seen)))
    assert seen.outcomes == [StreamOutcome.COMPLETED]


def test_a_stage_sees_an_upstream_failure_after_the_commit_point() -> None:
    seen = OutcomeStage()
    with pytest.raises(BadGatewayError):
        asyncio.run(stream_text(pipeline(TextBackend("one two", [3], fail_after=1), seen)))
    assert seen.outcomes == [StreamOutcome.FAILED]


def test_a_stage_sees_a_client_disconnect() -> None:
    seen = OutcomeStage()
    p = pipeline(TextBackend("one two three", [3, 7]), seen)

    async def leave_after_the_first_chunk() -> None:
        ctx = RequestContext(request_id="d", endpoint="chat/completions")
        chunks = await p.stream(parsed(True), ctx)
        await anext(aiter(chunks))
        await chunks.aclose()  # what the HTTP edge does when the client goes away

    asyncio.run(leave_after_the_first_chunk())
    assert seen.outcomes == [StreamOutcome.CANCELLED]


def test_a_stream_closed_before_its_first_read_still_ends_everything() -> None:
    seen = OutcomeStage()
    closed: list[bool] = []

    class Tracked(TextBackend):
        async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
            try:
                async for chunk in super().stream(call):
                    yield chunk
            finally:
                closed.append(True)

    p = pipeline(Tracked("one two", [3]), seen)

    async def never_read() -> None:
        ctx = RequestContext(request_id="n", endpoint="chat/completions")
        chunks = await p.stream(parsed(True), ctx)  # committed: the first chunk is in hand
        await chunks.aclose()  # e.g. the response could not even start

    asyncio.run(never_read())
    assert seen.outcomes == [StreamOutcome.CANCELLED] and closed == [True]


def test_a_cancelled_request_task_is_a_cancelled_outcome() -> None:
    seen = OutcomeStage()

    class Stalling(TextBackend):
        async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
            yield self._chunk({"content": "a"}, None)
            await asyncio.sleep(30)
            yield self._chunk({}, "stop")

    p = pipeline(Stalling("a"), seen)

    async def consume() -> None:
        ctx = RequestContext(request_id="c", endpoint="chat/completions")
        async for _ in await p.stream(parsed(True), ctx):
            pass

    async def run() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert seen.outcomes == [StreamOutcome.CANCELLED]


def test_usage_from_every_call_is_summed() -> None:
    ctx = RequestContext(request_id="u", endpoint="chat/completions")
    p = pipeline(TextBackend("x"))

    async def two_calls() -> None:
        await p.complete(parsed(False), ctx)
        async for _ in await p.stream(parsed(True), ctx):
            pass

    asyncio.run(two_calls())
    assert ctx.usage is not None
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens, ctx.usage.total_tokens) == (
        8,
        12,
        20,
    )
