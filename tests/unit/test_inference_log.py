"""The inference log's stage and writer, called directly: one redacted line per answered
request (JSON replies and assembled streams, tool calls with bounded results), rotation at
`max_bytes`, drops counted when the queue is full, and nothing for what it does not log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from gateway.context import RequestContext
from gateway.observability.inference_log import InferenceLogService, InferenceLogStage
from gateway.observability.inference_writer import InferenceLogWriter
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.common import Usage
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.payload import Chunk, Reply
from gateway.protocol.raw import decode_fields
from gateway.settings.inference_log_types import InferenceLog
from gateway.settings.loader import ConfigError
from policies.base import StreamOutcome

pytestmark = pytest.mark.anyio
EMAIL = "jane.doe@example.com"
SECRET = "sk-proj-Zx8Qm2Lr7Tv4Wn9Kp3Hs6Jd1Fb5Gc0Ya"


def request(content: str = "hello", **extra: Any) -> ChatCompletionRequest:
    body = {"model": "echo", "messages": [{"role": "user", "content": content}], **extra}
    return msgspec.convert(body, ChatCompletionRequest)


def context(request_id: str = "req-1", endpoint: str = "/v1/chat/completions") -> RequestContext:
    ctx = RequestContext(request_id=request_id, endpoint=endpoint)
    ctx.principal, ctx.tenant, ctx.model, ctx.route_id = "team-a-ci", "team-a", "echo", "echo"
    ctx.backend_name, ctx.upstream_model = "fake", "echo"
    ctx.usage = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    return ctx


def reply(content: str) -> Reply:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "echo",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    return Reply(decode_fields(msgspec.json.encode(body)), "chat")


def chunk(delta: dict[str, Any], finish: str | None = None) -> Chunk:
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return Chunk(decode_fields(msgspec.json.encode(body)), "chat")


def settings(path: Path, **values: Any) -> InferenceLog:
    return InferenceLog(path=str(path), **values)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sizes(*paths: Path) -> list[int]:
    return [p.stat().st_size for p in paths]


def entries(directory: Path) -> list[Path]:
    return list(directory.iterdir())


async def answer(stage: InferenceLogStage, ctx: RequestContext, content: str = "hi") -> None:
    opened = stage.open(request(), ctx)
    assert opened is not None
    await opened.reply(reply(content))


async def test_each_json_reply_is_one_line_with_who_where_what_and_how_long(
    tmp_path: Path,
) -> None:
    path = tmp_path / "logs" / "inference.jsonl"  # the directory is created
    writer = InferenceLogWriter(settings(path, redact=[]), CollectorRegistry())
    stage = InferenceLogStage(settings(path), writer.submit)
    writer.start()
    for n in range(3):
        await answer(stage, context(f"req-{n}"), f"answer {n}")
    writer.close()
    records = lines(path)
    assert [r["request_id"] for r in records] == ["req-0", "req-1", "req-2"]
    first = records[0]
    assert first["endpoint"] == "chat" and first["key_id"] == "team-a-ci"
    assert first["tenant"] == "team-a" and first["route"] == "echo"
    assert first["target"] == {"backend": "fake", "model": "echo"}
    assert first["timestamp"].endswith("Z") and first["latency_ms"] >= 0
    assert first["request"]["messages"] == [{"role": "user", "content": "hello"}]
    assert first["response"]["choices"][0]["message"]["content"] == "answer 0"
    assert first["response"]["choices"][0]["finish_reason"] == "stop"
    assert first["response"]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
    }
    assert first["outcome"] == "completed" and first["tool_calls"] == []


async def test_a_stream_is_written_as_its_assembled_answer(tmp_path: Path) -> None:
    path = tmp_path / "inference.jsonl"
    writer = InferenceLogWriter(settings(path), CollectorRegistry())
    stage = InferenceLogStage(settings(path), writer.submit)
    opened = stage.open(request(stream=True), context())
    assert opened is not None
    for piece in ({"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}):
        assert await opened.chunk(chunk(piece)) != ()
    await opened.chunk(chunk({}, finish="length"))
    await opened.finish(StreamOutcome.COMPLETED)
    writer.close()
    (record,) = lines(path)
    (choice,) = record["response"]["choices"]
    assert choice["message"] == {"role": "assistant", "content": "Hello"}
    assert choice["finish_reason"] == "length"  # cut short answers are written too
    assert record["request"]["stream"] is True


async def test_emails_and_keys_are_redacted_before_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "inference.jsonl"
    writer = InferenceLogWriter(settings(path), CollectorRegistry())
    stage = InferenceLogStage(settings(path), writer.submit)
    ctx = context()
    ctx.tool_run("lookup", "ok", 0.01, f'{{"q": "{EMAIL}"}}', f"owner: {EMAIL}")
    opened = stage.open(request(f"mail {EMAIL} the key {SECRET} please"), ctx)
    assert opened is not None
    await opened.reply(reply(f"Sent to {EMAIL} with {SECRET}."))
    writer.close()
    text = path.read_text()
    assert EMAIL not in text and SECRET not in text
    (record,) = lines(path)
    asked = record["request"]["messages"][0]["content"]
    assert asked.startswith("mail <EMAIL_ADDRESS> the key <") and asked.endswith("> please")
    assert "<EMAIL_ADDRESS>" in record["response"]["choices"][0]["message"]["content"]
    (call,) = record["tool_calls"]
    assert call["result"] == "owner: <EMAIL_ADDRESS>" and "<EMAIL_ADDRESS>" in call["arguments"]
    assert record["key_id"] == "team-a-ci"  # the gateway's own names are left alone


async def test_tool_calls_are_traced_with_results_cut_to_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "inference.jsonl"
    config = settings(path, redact=[], max_tool_result_chars=10)
    writer = InferenceLogWriter(config, CollectorRegistry())
    stage = InferenceLogStage(config, writer.submit)
    ctx = context()
    ctx.tool_run("calculator", "ok", 0.0123, '{"expression": "2+3*4"}', "14" * 20)
    ctx.tool_run("calculator", "invalid", 0.001, "{}", "`expression` is required")
    await answer(stage, ctx)
    writer.close()
    (record,) = lines(path)
    ok, invalid = record["tool_calls"]
    assert ok == {
        "name": "calculator",
        "arguments": '{"expression": "2+3*4"}',
        "outcome": "ok",
        "duration_ms": 12.3,
        "result": "1414141414",
        "error": None,
        "truncated": True,
    }
    assert invalid["result"] is None and invalid["error"] == "`expressio"
    assert invalid["truncated"] is True


async def test_past_max_bytes_the_file_moves_to_dot_one(tmp_path: Path) -> None:
    path = tmp_path / "inference.jsonl"
    config = settings(path, redact=[], max_bytes=2048)
    writer = InferenceLogWriter(config, CollectorRegistry())
    stage = InferenceLogStage(config, writer.submit)
    writer.start()
    for n in range(8):
        await answer(stage, context(f"req-{n}"), "x" * 300)
    writer.close()
    rotated = Path(f"{path}.1")
    assert max(sizes(rotated, path)) <= 2048  # (a missing `.1` would raise here)
    ids = [r["request_id"] for p in (rotated, path) for r in lines(p)]
    assert ids[-1] == "req-7" and len(ids) == len(set(ids))  # only whole older files go


async def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    path = tmp_path / "inference.jsonl"
    registry = CollectorRegistry()
    config = settings(path, redact=[], queue_size=2)
    writer = InferenceLogWriter(config, registry)  # not started: nothing takes from the queue
    stage = InferenceLogStage(config, writer.submit)
    for n in range(5):
        await answer(stage, context(f"req-{n}"))
    dropped = registry.get_sample_value(
        "gateway_inference_log_dropped_total", {"reason": "queue_full"}
    )
    assert dropped == 3
    writer.close()  # what was queued is still written at shutdown
    assert [r["request_id"] for r in lines(path)] == ["req-0", "req-1"]
    assert registry.get_sample_value("gateway_inference_log_records_total") == 2


async def test_what_is_not_logged_gets_no_filter(tmp_path: Path) -> None:
    path = tmp_path / "inference.jsonl"
    chat_only = InferenceLogStage(settings(path, endpoints=["chat"]), lambda _r: None)
    assert chat_only.open(request(), context(endpoint="/v1/messages")) is None
    assert chat_only.open(request(), context(endpoint="/v1/chat/completions")) is not None
    embedding = msgspec.convert({"model": "e", "input": "x"}, EmbeddingRequest)
    assert chat_only.open(embedding, context(endpoint="/v1/chat/completions")) is None
    never = InferenceLogStage(settings(path, sample_rate=0.0), lambda _r: None)
    assert never.open(request(), context()) is None


async def test_off_is_no_stage_and_no_file(tmp_path: Path) -> None:
    service = InferenceLogService(None, CollectorRegistry())
    service.start()
    await service.aclose()
    assert service.stage is None and entries(tmp_path) == []


def test_a_path_that_cannot_be_opened_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"\$\.inference_log\.path"):
        InferenceLogWriter(settings(tmp_path / "file" / "x.jsonl"), CollectorRegistry())
