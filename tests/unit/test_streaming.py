from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import msgspec
from msgspec import UNSET

from gateway.api.sse import DONE_FRAME, sse_frame, sse_frames
from gateway.context import RequestContext
from gateway.errors import BadGatewayError
from gateway.pipeline.executor import OpenedStream
from gateway.pipeline.reply_stages import AssistantRoleStage, IdentityStage, UsageStage
from gateway.pipeline.response_chain import ChunkStream, ResponseChain
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from gateway.protocol.common import StreamOptions
from gateway.protocol.payload import Chunk
from gateway.protocol.raw import RawFields, decode_fields
from policies.base import ResponseFilter, StreamOutcome
from routers.base import Target


def chunk(**fields: object) -> RawFields:
    base: dict[str, object] = {
        "id": "up-1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "upstream-name",
    }
    base.update(fields)
    return decode_fields(msgspec.json.encode(base))


def content(text: str) -> RawFields:
    return chunk(choices=[{"index": 0, "delta": {"content": text}, "finish_reason": None}])


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def decode_frame(frame: bytes | None) -> dict:
    assert frame is not None and frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    return msgspec.json.decode(frame[6:-2])


class Normalizer:
    """The built-in response stages, driven the way the pipeline drives them."""

    def __init__(self, wants_usage: bool) -> None:
        request = ChatCompletionRequest(
            model="alias",
            messages=[UserMessage(content="hi")],
            stream=True,
            stream_options=StreamOptions(include_usage=True) if wants_usage else UNSET,
        )
        self.ctx = RequestContext(request_id="r", endpoint="chat", model="alias")
        filters: list[ResponseFilter] = []
        for stage in (UsageStage(), AssistantRoleStage(), IdentityStage()):
            opened = stage.open(request, self.ctx)
            if opened is not None:
                filters.append(opened)
        self.chain = ResponseChain(filters)

    def frame(self, fields: RawFields) -> bytes | None:
        out = asyncio.run(self.chain.push(Chunk(fields, "chat")))
        assert len(out) <= 1
        return sse_frame(out[0].encode()) if out else None

    def finish(self) -> bytes:
        out = asyncio.run(self.chain.finish(StreamOutcome.COMPLETED))
        return b"".join(sse_frame(c.encode()) for c in out) + DONE_FRAME


def normalizer(wants_usage: bool) -> tuple[Normalizer, RequestContext]:
    norm = Normalizer(wants_usage)
    return norm, norm.ctx


def test_first_delta_gets_a_role_and_ids_stay_constant() -> None:
    norm, _ = normalizer(False)
    first = decode_frame(norm.frame(content("a")))
    later = decode_frame(
        norm.frame(
            chunk(
                id="other",
                created=9,
                choices=[{"index": 0, "delta": {"content": "b"}, "finish_reason": None}],
            )
        )
    )
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    assert (later["id"], later["created"], later["model"]) == ("up-1", 5, "alias")
    assert "usage" not in first


def test_usage_is_stripped_when_the_client_did_not_ask() -> None:
    norm, ctx = normalizer(False)
    assert norm.frame(content("a")) is not None
    assert norm.frame(chunk(choices=[], usage=USAGE)) is None
    assert norm.finish() == DONE_FRAME
    assert ctx.usage is not None and ctx.usage.total_tokens == 5  # still metered


def test_exactly_one_final_usage_chunk_when_asked_even_if_usage_rode_on_a_content_chunk() -> None:
    norm, _ = normalizer(True)
    body = decode_frame(
        norm.frame(
            chunk(
                choices=[{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}],
                usage=USAGE,
            )
        )
    )
    assert body["usage"] is None
    tail = norm.finish()
    frames = [f for f in tail.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    final = msgspec.json.decode(frames[0][6:])
    assert final["choices"] == [] and final["usage"] == USAGE and final["model"] == "alias"


async def _chunks(items: list[RawFields], fail: bool) -> AsyncGenerator[RawFields, None]:
    for item in items:
        yield item
    if fail:
        raise BadGatewayError("upstream died", code="upstream_died")


def test_failure_after_commit_is_one_error_event_and_no_done() -> None:
    async def run() -> list[bytes]:
        rest = _chunks([content("b")], fail=True)
        opened = OpenedStream(content("a"), rest, Target("b", "m", "m"))
        norm, _ = normalizer(False)
        return [frame async for frame in sse_frames(ChunkStream(opened, norm.chain, "chat"))]

    frames = asyncio.run(run())
    assert len(frames) == 3
    error = decode_frame(frames[-1])["error"]
    assert error["code"] == "upstream_died" and set(error) == {"message", "type", "param", "code"}
    assert DONE_FRAME not in frames


def test_a_stream_without_upstream_ids_gets_one_id_for_every_chunk() -> None:
    norm, _ = normalizer(True)
    bare = [
        decode_fields(
            msgspec.json.encode(
                {"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]}
            )
        )
        for t in ("a", "b")
    ]
    frames = [decode_frame(norm.frame(fields)) for fields in bare]
    closing = [f for f in norm.finish().split(b"\n\n") if f]
    assert closing[-1] == b"data: [DONE]"
    tail = [msgspec.json.decode(f[6:]) for f in closing[:-1]]
    ids = {(c["id"], c["created"]) for c in [*frames, *tail]}
    assert len(ids) == 1 and next(iter(ids))[0].startswith("chatcmpl-")


def test_embedding_usage_without_completion_tokens_is_metered() -> None:
    from gateway.pipeline.reply_stages import decode_usage

    usage = decode_usage(msgspec.Raw(b'{"prompt_tokens": 7, "total_tokens": 7}'))
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 0, 7)
