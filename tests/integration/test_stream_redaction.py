"""Output redaction in the real pipeline (no HTTP) over the scripted fake backend: values
the model writes are redacted in the JSON reply and in the stream alike, whether the stream
comes in words (the fake's own chunks) or in pieces of a character or two, and the stream
keeps its role, tool calls, finish_reason and usage."""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import msgspec
import pytest

from gateway.backends.base import BackendCall
from gateway.backends.fake import FakeBackend
from gateway.context import RequestContext
from gateway.pipeline.executor import Executor
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.pipeline import Pipeline
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from gateway.protocol.common import StreamOptions
from gateway.protocol.raw import RawFields, decode_fields, encode_fields, from_struct
from gateway.resilience.target_policy import TargetPolicy
from gateway.settings.schema import Retries
from policies.audit import AuditLog
from policies.findings import SpanDetector
from policies.output_redaction import OutputRedactionStage
from policies.pii import PiiDetector
from policies.secrets.detector import SecretDetector
from routers import CatalogEntry, ModelCatalog, StaticRouter

pytestmark = pytest.mark.anyio
EMAIL = "alice.smith@example.com"
PHONE = "+1 415 555 0100"
KEY = "sk-proj-" + "Ab1Cd2Ef3Gh4" * 4  # not a real key
# Longer than the secrets detector's hold-back, so text goes out before the stream ends.
PADDING = "nothing to see here " * 40
TEXT = f"{PADDING}Write to {EMAIL} or call {PHONE}; the key is {KEY} and that is all. {PADDING}"
REDACTED = (
    f"{PADDING}Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>; the key is <OPENAI_API_KEY> "
    f"and that is all. {PADDING}"
)


class Lines:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        self.lines.append(line)


class Crumbling(FakeBackend):
    """The fake backend with every content delta cut again into pieces of 1-3 characters."""

    sent = 0

    async def stream(self, call: BackendCall) -> AsyncGenerator[RawFields, None]:
        rng = random.Random(7)
        async for fields in super().stream(call):
            chunk = msgspec.json.decode(encode_fields(fields))
            choices = chunk.get("choices") or []
            content = choices[0]["delta"].get("content") if choices else None
            if not content:
                yield fields
                continue
            for piece in _crumbs(content, rng):
                choices[0]["delta"]["content"] = piece
                self.sent += 1
                yield decode_fields(msgspec.json.encode(chunk))


def _crumbs(text: str, rng: random.Random) -> Iterator[str]:
    at = 0
    while at < len(text):
        step = rng.randint(1, 3)
        yield text[at : at + step]
        at += step


@pytest.fixture(scope="module")
def found() -> list[SpanDetector]:
    return [PiiDetector(["EMAIL_ADDRESS", "PHONE_NUMBER"]), SecretDetector()]


def pipeline(backend: FakeBackend, found: list[SpanDetector], audit: AuditLog) -> Pipeline:
    catalog = ModelCatalog([CatalogEntry("chat", backend.name, "echo")])
    executor = Executor({backend.name: backend}, lambda target: TargetPolicy(Retries()))
    stage = OutputRedactionStage(found, audit=audit)
    return Pipeline(StaticRouter(catalog), executor, response_stages=[stage])


def parsed(text: str, stream: bool, **extra: Any) -> ParsedRequest:
    request = ChatCompletionRequest(
        model="chat", messages=[UserMessage(content=text)], stream=stream, **extra
    )
    return ParsedRequest("chat/completions", request, from_struct(request))


async def streamed(p: Pipeline, text: str, **extra: Any) -> list[dict[str, Any]]:
    ctx = RequestContext(request_id="s", endpoint="chat/completions")
    stream = await p.stream(parsed(text, True, **extra), ctx)
    return [msgspec.json.decode(c.encode()) async for c in stream]


def content(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.mark.parametrize("backend", [FakeBackend("fake"), Crumbling("crumbling")])
async def test_values_split_across_chunks_are_redacted_like_the_json_reply(
    backend: FakeBackend, found: list[SpanDetector]
) -> None:
    lines = Lines()
    p = pipeline(backend, found, AuditLog(lines))
    ctx = RequestContext(request_id="j", endpoint="chat/completions")
    reply = msgspec.json.decode((await p.complete(parsed(TEXT, False), ctx)).encode())
    assert reply["choices"][0]["message"]["content"] == REDACTED

    chunks = await streamed(p, TEXT, stream_options=StreamOptions(include_usage=True))
    if isinstance(backend, Crumbling):
        assert backend.sent > len(TEXT) // 3  # the values really arrived in crumbs
    # Text went out while the stream was still running, not all at its end.
    assert len(content(chunks[:-3])) > len(PADDING)
    assert content(chunks) == REDACTED
    body = b"".join(msgspec.json.encode(c) for c in chunks)
    assert not any(value.encode() in body for value in (EMAIL, "555 0100", KEY[8:]))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishing = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finishing] == ["stop"]
    assert chunks.index(finishing[0]) == len(chunks) - 2  # after all its text, before usage
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    logged = [msgspec.json.decode(line) for line in lines.lines]
    entities = {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1, "OPENAI_API_KEY": 1}
    assert [e["entities"] for e in logged] == [entities, entities]  # JSON, then the stream
    assert not any(EMAIL.encode() in line for line in lines.lines)


async def test_tool_call_deltas_survive_the_stage(found: list[SpanDetector]) -> None:
    backend = FakeBackend("fake")
    catalog = ModelCatalog([CatalogEntry("chat", "fake", "tools-2")])
    executor = Executor({"fake": backend}, lambda target: TargetPolicy(Retries()))
    stage = OutputRedactionStage(found, audit=AuditLog(None))
    p = Pipeline(StaticRouter(catalog), executor, response_stages=[stage])
    chunks = await streamed(p, "weather?")
    calls = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    arguments: dict[int, str] = {}
    for c in calls:
        for call in c["choices"][0]["delta"]["tool_calls"]:
            index = call["index"]
            arguments[index] = arguments.get(index, "") + call["function"].get("arguments", "")
    assert {i: msgspec.json.decode(a) for i, a in arguments.items()} == {
        0: {"city": "City0", "days": 1},
        1: {"city": "City1", "days": 2},
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
